"""Offers, their codes, and bulk code jobs."""

import base64

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.errors import DomainError
from core.exports import csv_response
from promotions import barcodes, codes, services
from promotions.admin.base import BrandScopedAdmin
from promotions.models import (
    Code,
    CodeJob,
    Offer,
    Placement,
)


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=5_000_000, initial=1000)
    placement = forms.ModelChoiceField(
        queryset=Placement.objects.none(),
        required=False,
        help_text="Codes handed out through this placement are credited to it.",
    )

    def __init__(self, *args, offer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["placement"].queryset = Placement.objects.filter(campaign_id=offer.campaign_id)


@admin.register(Offer)
class OfferAdmin(BrandScopedAdmin):
    list_display = [
        "title",
        "campaign",
        "status",
        "reward_type",
        "reward_value",
        "issued_count",
        "total_cap",
        "valid_from",
        "valid_until",
    ]
    list_filter = ["status", "reward_type", "barcode"]
    search_fields = ["title"]
    filter_horizontal = ["stores"]
    readonly_fields = ["preview", "issued_count", "codes_tools"]
    actions = ["generate_codes"]

    def get_urls(self):
        return [
            path(
                "<int:offer_id>/generate/",
                self.admin_site.admin_view(self.generate_view),
                name="promotions_offer_generate",
            ),
            path(
                "<int:offer_id>/codes.csv",
                self.admin_site.admin_view(self.codes_csv_view),
                name="promotions_offer_codes_csv",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Codes")
    def codes_tools(self, obj):
        if not obj.pk:
            return "-"
        return format_html(
            '<a class="button" href="{}">Generate codes…</a> <a class="button" href="{}">'
            "Download codes (CSV)</a> {} issued",
            reverse("admin:promotions_offer_generate", args=[obj.pk]),
            reverse("admin:promotions_offer_codes_csv", args=[obj.pk]),
            obj.issued_count,
        )

    @admin.action(description="Generate codes for the selected offer")
    def generate_codes(self, request, queryset):
        offers = list(queryset[:2])
        if len(offers) != 1:
            messages.error(request, "Select exactly one offer to generate codes for.")
            return None
        return HttpResponseRedirect(reverse("admin:promotions_offer_generate", args=[offers[0].pk]))

    def generate_view(self, request, offer_id):
        offer = get_object_or_404(self.get_queryset(request), pk=offer_id)
        if not self.has_change_permission(request, offer):
            return HttpResponseRedirect(reverse("admin:promotions_offer_change", args=[offer_id]))
        form = GenerateCodesForm(request.POST or None, offer=offer)
        if request.method == "POST" and form.is_valid():
            try:
                job = services.code_job_create(
                    offer=offer,
                    count=form.cleaned_data["count"],
                    placement=form.cleaned_data["placement"],
                )
            except DomainError as problem:
                form.add_error("count", problem.detail)
            else:
                messages.success(request, f"Generating {job.requested:,} codes.")
                return HttpResponseRedirect(
                    reverse("admin:promotions_codejob_change", args=[job.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "offer": offer,
            "title": f"Generate codes: {offer}",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/promotions/offer/generate_codes.html", context)

    def codes_csv_view(self, request, offer_id):
        from promotions.api_manage import codes_csv_rows

        offer = get_object_or_404(self.get_queryset(request), pk=offer_id)
        return csv_response(codes_csv_rows(offer), f"offer-{offer.id}-codes.csv", stream=True)

    @admin.display(description="Preview")
    def preview(self, obj):
        sample = codes.generate(obj.code_prefix or "", obj.code_length or 12)
        png = barcodes.render(sample, obj.barcode or "qr", "png")[0]
        return format_html(
            '<div class="offer-preview"><strong>{}</strong><br>{} {}<br>'
            '<img alt="sample code" src="data:image/png;base64,{}" style="max-width:180px"><br>'
            "<code>{}</code> <small>(sample, not issued)</small></div>",
            obj.title or "(untitled)",
            obj.get_reward_type_display() if obj.reward_type else "",
            obj.reward_value if obj.reward_value is not None else "",
            base64.b64encode(png).decode(),
            codes.display(sample, len(obj.code_prefix or "")),
        )


@admin.register(Code)
class CodeAdmin(BrandScopedAdmin):
    list_display = [
        "display_code",
        "offer",
        "kind",
        "status",
        "placement",
        "issued_at",
        "redeemed_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["=code", "customer_ref"]
    list_select_related = ["offer", "placement"]
    readonly_fields = ["code", "issued_at", "redeemed_at", "use_count"]
    raw_id_fields = ["offer", "placement"]
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, codes.normalise(search_term))


@admin.register(CodeJob)
class CodeJobAdmin(BrandScopedAdmin):
    list_display = [
        "id",
        "offer",
        "placement",
        "requested",
        "generated",
        "progress",
        "status",
        "created_at",
    ]
    list_filter = ["status"]
    readonly_fields = ["progress", *[f.name for f in CodeJob._meta.fields]]
    change_form_template = "admin/promotions/codejob/change_form.html"

    @admin.display(description="Progress")
    def progress(self, obj):
        share = obj.generated / obj.requested if obj.requested else 1
        return format_html(
            '<progress class="job-progress" max="100" value="{}"></progress> {}% ({} of {})',
            round(share * 100),
            round(share * 100),
            f"{obj.generated:,}",
            f"{obj.requested:,}",
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by the job alone: the page reads, it offers no Save

    def has_delete_permission(self, request, obj=None):
        return False
