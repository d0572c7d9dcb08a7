import csv
import io

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from promotions.admin import RELATED_BRAND_PATHS, BrandScopedAdmin, CampaignAdmin, ReadOnlyAdmin
from promotions.models import Campaign
from redemptions import rollups, services
from redemptions.models import Attribution, PosIntegration, Redemption, RedemptionAttempt

RELATED_BRAND_PATHS[PosIntegration] = "brand"


@admin.register(PosIntegration)
class PosIntegrationAdmin(BrandScopedAdmin):
    list_display = ["name", "adapter", "brand", "is_active", "require_signature", "created_at"]
    list_filter = ["adapter", "is_active"]
    filter_horizontal = ["stores"]
    readonly_fields = ["live_keys"]
    actions = ["rotate_keys"]

    @admin.display(description="Live API keys")
    def live_keys(self, obj):
        if not obj.pk:
            return "Saved integrations get a key; it is shown once, right after saving."
        prefixes = [c.key_prefix + "…" for c in obj.credentials.filter(revoked_at__isnull=True)]
        return ", ".join(prefixes) or "none"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self._show_once(request, obj, services.pos_credential_issue(obj))

    @admin.action(
        description="Rotate API key and signing secret (old ones stay valid until revoked)"
    )
    def rotate_keys(self, request, queryset):
        for integration in queryset:
            if (
                self._brand_of(integration) in self._brand_ids(request, editable=True)
                or request.user.is_superuser
            ):
                self._show_once(request, integration, services.pos_credential_issue(integration))

    def _show_once(self, request, integration, issued):
        messages.warning(
            request,
            format_html(
                "{}: API key <code class='secret'>{}</code> and signing secret <code class='secret'>{}</code>"
                " are shown only now. Copy them into the POS.",
                integration.name,
                issued.api_key,
                issued.signing_secret,
            ),
        )


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


admin.site.unregister(Campaign)


@admin.register(Campaign)
class CampaignDashboardAdmin(CampaignAdmin):
    """The campaign admin plus its dashboard: funnel, redemptions per day, placements, stores."""

    list_display = [*CampaignAdmin.list_display, "dashboard_link"]

    def save_model(self, request, obj, form, change):
        from promotions.api_manage import ATTRIBUTION_SETTINGS, campaign_attribution_changed

        before = tuple(form.initial.get(f) for f in ATTRIBUTION_SETTINGS) if change else None
        super().save_model(request, obj, form, change)
        if change:
            campaign_attribution_changed(obj, before)

    def get_urls(self):
        return [
            path(
                "<int:campaign_id>/dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="promotions_campaign_dashboard",
            ),
            path(
                "<int:campaign_id>/dashboard.csv",
                self.admin_site.admin_view(self.dashboard_csv),
                name="promotions_campaign_dashboard_csv",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj):
        return format_html(
            '<a href="{}">Dashboard</a>',
            reverse("admin:promotions_campaign_dashboard", args=[obj.pk]),
        )

    def _reports(self, request, campaign_id):
        campaign = get_object_or_404(
            self.get_queryset(request).select_related("brand"), pk=campaign_id
        )
        if settings.CELERY_TASK_ALWAYS_EAGER:  # no beat in in-process mode
            rollups.rollups_refresh()
        return campaign, {
            group: rollups.campaign_report(campaign, group) for group in rollups.GROUPS
        }

    def dashboard_view(self, request, campaign_id):
        campaign, reports = self._reports(request, campaign_id)
        names = dict(campaign.placements.values_list("id", "name"))
        stores = dict(campaign.brand.stores.values_list("id", "name"))
        placement_rows = [
            {**row, "label": names.get(row["placement"], "Organic (no ad)")}
            for row in reports["placement"]["rows"]
        ]
        store_rows = [
            {**row, "label": stores.get(row["store"], row["store"])}
            for row in reports["store"]["rows"]
        ]
        totals = reports["placement"]["totals"]
        chart_data = {
            "funnel": {
                "labels": ["Impressions", "Clicks", "Claims", "Redemptions"],
                "values": [
                    totals["impressions"],
                    totals["clicks"],
                    totals["claims"],
                    totals["redemptions"],
                ],
            },
            "daily": {
                "labels": [r["day"] for r in reports["day"]["rows"]],
                "values": [r["redemptions"] for r in reports["day"]["rows"]],
            },
            "placements": {
                "labels": [r["label"] for r in placement_rows],
                "redemptions": [r["redemptions"] for r in placement_rows],
                "cost": [
                    float(r["cost_per_redemption"]) if r["cost_per_redemption"] else 0
                    for r in placement_rows
                ],
            },
        }
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dashboard: {campaign.name}",
            "campaign": campaign,
            "opts": self.model._meta,
            "original": campaign,
            "totals": totals,
            "currency": campaign.brand.currency,
            "placement_rows": placement_rows,
            "store_rows": store_rows,
            "day_rows": reports["day"]["rows"],
            "chart_data": chart_data,
        }
        return TemplateResponse(request, "admin/redemptions/campaign_dashboard.html", context)

    def dashboard_csv(self, request, campaign_id):
        campaign, reports = self._reports(request, campaign_id)
        group = request.GET.get("group_by", "placement")
        buffer = io.StringIO()
        csv.writer(buffer).writerows(
            rollups.report_csv_rows(reports.get(group, reports["placement"]))
        )
        return HttpResponse(
            buffer.getvalue(),
            content_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-{group}.csv"'
            },
        )
