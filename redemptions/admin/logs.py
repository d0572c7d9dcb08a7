"""Redemptions and every attempt, accepted or declined: read-only logs."""

from django.contrib import admin

from promotions.admin.base import ReadOnlyAdmin
from redemptions.models import Attribution, Redemption, RedemptionAttempt


class AttributionInline(admin.TabularInline):
    model = Attribution
    extra = 0
    can_delete = False
    readonly_fields = ["placement", "credit", "model", "computed_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "redeemed_at",
        "status",
        "offer",
        "store",
        "placement",
        "basket_total",
        "discount",
        "transaction_id",
    ]
    list_filter = [
        "status",
        ("store", admin.RelatedOnlyFieldListFilter),
        ("placement", admin.RelatedOnlyFieldListFilter),
        ("integration", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["transaction_id", "=code__code"]
    list_select_related = ["offer", "store", "placement"]
    date_hierarchy = "redeemed_at"
    inlines = [AttributionInline]
    show_full_result_count = False


@admin.register(RedemptionAttempt)
class RedemptionAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "accepted",
        "decline_code",
        "code_last4",
        "store",
        "integration",
        "transaction_id",
    ]
    list_filter = [
        "action",
        "accepted",
        "decline_code",
        ("store", admin.RelatedOnlyFieldListFilter),
        ("integration", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["transaction_id", "code_last4"]
    list_select_related = ["store", "integration"]
    date_hierarchy = "created_at"
    show_full_result_count = False
