"""Touchpoints as recorded: the attribution engine's input."""

from django.contrib import admin

from promotions.admin.base import ReadOnlyAdmin
from promotions.models import (
    Touchpoint,
)


@admin.register(Touchpoint)
class TouchpointAdmin(ReadOnlyAdmin):
    """Impressions, clicks and claims as recorded: the attribution engine's input."""

    list_display = ["occurred_at", "kind", "placement", "customer_ref", "click_id"]
    list_filter = ["kind", ("placement", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=customer_ref", "=click_id"]
    list_select_related = ["placement"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
