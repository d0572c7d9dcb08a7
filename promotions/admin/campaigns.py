"""Campaigns and their placements (the ad buys, with their tracking link and pixel)."""

from django.contrib import admin
from django.utils.html import format_html

from promotions.admin.base import BrandScopedAdmin
from promotions.models import (
    Campaign,
    Placement,
)


class MediaPartnerFilter(admin.SimpleListFilter):
    """Media partners of the marketer's own placements only (the stock filter lists everyone's)."""

    title = "media partner"
    parameter_name = "media_partner"

    def lookups(self, request, model_admin):
        partners = model_admin.get_queryset(request).values_list("media_partner", flat=True)
        return [(p, p) for p in sorted(set(partners))]

    def queryset(self, request, queryset):
        return queryset.filter(media_partner=self.value()) if self.value() else queryset


class PlacementInline(admin.TabularInline):
    model = Placement
    extra = 0
    fields = ["media_partner", "name", "spend", "destination_url", "tracking_url"]
    readonly_fields = ["tracking_url"]


@admin.register(Campaign)
class CampaignAdmin(BrandScopedAdmin):
    list_display = ["name", "brand", "starts_at", "ends_at", "attribution_model"]
    list_filter = ["attribution_model", ("brand", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    date_hierarchy = "starts_at"
    inlines = [PlacementInline]


@admin.register(Placement)
class PlacementAdmin(BrandScopedAdmin):
    list_display = ["name", "media_partner", "campaign", "spend"]
    list_filter = [MediaPartnerFilter]
    search_fields = ["name", "media_partner"]
    readonly_fields = ["tracking_link", "impression_pixel"]

    @admin.display(description="Tracking link")
    def tracking_link(self, obj):
        return format_html("<code>{}</code>", obj.tracking_url) if obj.pk else "-"

    @admin.display(description="Impression pixel")
    def impression_pixel(self, obj):
        if not obj.pk:
            return "-"
        return format_html(
            '<code>&lt;img src="{}" width="1" height="1" alt=""&gt;</code>', obj.pixel_url
        )
