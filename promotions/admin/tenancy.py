"""Brands and who works for them."""

from django.contrib import admin, messages
from django.utils.html import format_html

from promotions.admin.base import BrandScopedAdmin
from promotions.models import (
    Brand,
    Membership,
)


@admin.register(Brand)
class BrandAdmin(BrandScopedAdmin):
    list_display = ["name", "slug", "currency", "timezone", "require_two_factor"]
    readonly_fields = ["app_key"]
    search_fields = ["name", "slug"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    actions = ["issue_ingest_key"]

    @admin.action(description="Issue a new ingest key for ad servers (replaces the old one)")
    def issue_ingest_key(self, request, queryset):
        from promotions.tracking.services import ingest_key_issue

        for brand in queryset.filter(id__in=self._brand_ids(request, editable=True)):
            key = ingest_key_issue(brand)
            messages.warning(
                request,
                format_html(
                    "{}: ingest key <code class='secret'>{}</code> is shown only now "
                    "(POST /api/v1/touchpoints with Authorization: Bearer …).",
                    brand.name,
                    key,
                ),
            )


@admin.register(Membership)
class MembershipAdmin(BrandScopedAdmin):
    """A brand admin gives roles to people already in one of their brands; adding someone new
    to the platform is a superuser's job, so no marketer ever sees the platform's user list."""

    list_display = ["user", "brand", "role"]
    list_filter = ["role"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and not request.user.is_superuser:
            colleagues = Membership.objects.filter(brand_id__in=self._brand_ids(request))
            field.queryset = field.queryset.filter(id__in=colleagues.values("user_id"))
        return field
