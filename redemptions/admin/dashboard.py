"""The campaign dashboard: charts and tables a marketer would rather look at than read."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.exports import csv_response
from promotions.admin.campaigns import CampaignAdmin
from promotions.models import Campaign
from redemptions import reports, rollups

admin.site.unregister(Campaign)


@admin.register(Campaign)
class CampaignDashboardAdmin(CampaignAdmin):
    """The campaign admin plus its dashboard: funnel, redemptions per day, placements, stores."""

    list_display = ["name", "dashboard_link", *CampaignAdmin.list_display[1:]]
    change_form_template = "admin/promotions/campaign/change_form_with_dashboard.html"

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
            group: reports.campaign_report(campaign, group) for group in reports.GROUPS
        }

    def dashboard_view(self, request, campaign_id):
        campaign, by_group = self._reports(request, campaign_id)
        names = dict(campaign.placements.values_list("id", "name"))
        stores = dict(campaign.brand.stores.values_list("id", "name"))
        placement_rows = [
            {**row, "label": names.get(row["placement"], "Organic (no ad)")}
            for row in by_group["placement"]["rows"]
        ]
        store_rows = [
            {**row, "label": stores.get(row["store"], row["store"])}
            for row in by_group["store"]["rows"]
        ]
        totals = by_group["placement"]["totals"]
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
                "labels": [r["day"] for r in by_group["day"]["rows"]],
                "values": [r["redemptions"] for r in by_group["day"]["rows"]],
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
            "day_rows": by_group["day"]["rows"],
            "chart_data": chart_data,
        }
        return TemplateResponse(request, "admin/redemptions/campaign_dashboard.html", context)

    def dashboard_csv(self, request, campaign_id):
        campaign, by_group = self._reports(request, campaign_id)
        group = request.GET.get("group_by", "placement")
        report = by_group.get(group, by_group["placement"])
        return csv_response(reports.report_csv_rows(report), f"campaign-{campaign.id}-{group}.csv")
