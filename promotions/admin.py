"""The marketer's admin: every list, form and picker scoped to the marketer's brands."""

import base64
import csv
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from promotions import barcodes, codes, services
from promotions.models import (
    Brand,
    Campaign,
    Code,
    CodeJob,
    Membership,
    Offer,
    Placement,
    Store,
    Touchpoint,
)
from promotions.problems import Problem
from promotions.selectors import brand_ids_for


class BrandScopedAdmin(admin.ModelAdmin):
    """Superusers see everything; a marketer sees their brands' rows, edits them if admin.

    ``brand_path`` is the lookup from the model to its brand. Foreign-key pickers are scoped
    too, so a marketer can never select (or learn of) another brand's campaign or store.
    """

    brand_path = "brand"

    def _brand_ids(self, request, editable=False):
        return brand_ids_for(request.user, editable=editable)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.brand_path}__in": self._brand_ids(request)})

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and bool(self._brand_ids(request))

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        editable = self._brand_ids(request, editable=True)
        if obj is None:
            return bool(editable)
        return self._brand_of(obj) in editable

    has_delete_permission = has_change_permission

    def has_add_permission(self, request):
        return request.user.is_superuser or bool(self._brand_ids(request, editable=True))

    def _brand_of(self, obj):
        for part in self.brand_path.split("__"):
            obj = getattr(obj, part)
        return obj.id

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return self._scope_field(field, db_field, request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        return self._scope_field(field, db_field, request)

    def _scope_field(self, field, db_field, request):
        if field is None or request.user.is_superuser:
            return field
        related = db_field.related_model
        path = RELATED_BRAND_PATHS.get(related)
        if path is not None:
            ids = self._brand_ids(request, editable=True)
            field.queryset = field.queryset.filter(
                **{f"{path}__in": ids} if path else {"id__in": ids}
            )
        return field


class MediaPartnerFilter(admin.SimpleListFilter):
    """Media partners of the marketer's own placements only (the stock filter lists everyone's)."""

    title = "media partner"
    parameter_name = "media_partner"

    def lookups(self, request, model_admin):
        partners = model_admin.get_queryset(request).values_list("media_partner", flat=True)
        return [(p, p) for p in sorted(set(partners))]

    def queryset(self, request, queryset):
        return queryset.filter(media_partner=self.value()) if self.value() else queryset


RELATED_BRAND_PATHS = {
    Brand: "",
    Store: "brand",
    Campaign: "brand",
    Placement: "campaign__brand",
    Offer: "campaign__brand",
}


@admin.register(Brand)
class BrandAdmin(BrandScopedAdmin):
    brand_path = "id"
    list_display = ["name", "slug", "currency", "timezone"]
    readonly_fields = ["app_key"]
    search_fields = ["name", "slug"]

    def get_queryset(self, request):
        qs = admin.ModelAdmin.get_queryset(self, request)
        return qs if request.user.is_superuser else qs.filter(id__in=self._brand_ids(request))

    def _brand_of(self, obj):
        return obj.id

    def has_add_permission(self, request):
        return request.user.is_superuser

    actions = ["issue_ingest_key"]

    @admin.action(description="Issue a new ingest key for ad servers (replaces the old one)")
    def issue_ingest_key(self, request, queryset):
        from promotions.tracking import ingest_key_issue

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
    list_display = ["user", "brand", "role"]
    list_filter = ["role"]


class StoreImportForm(forms.Form):
    brand = forms.ModelChoiceField(queryset=Brand.objects.none())
    file = forms.FileField(
        help_text="CSV with a header: name, external_id, address, latitude, longitude, timezone"
    )


STORE_COLUMNS = ("name", "external_id", "address", "latitude", "longitude", "timezone")


def stores_import(brand: Brand, text: str) -> tuple[int, list[str]]:
    """Create or update the brand's stores from CSV; good rows are kept, bad rows reported."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"name", "external_id"} - set(reader.fieldnames or [])
    if missing:
        return 0, [f"header: missing column(s) {', '.join(sorted(missing))}"]
    saved, errors = 0, []
    for line, row in enumerate(reader, start=2):
        values = {k: (row.get(k) or "").strip() for k in STORE_COLUMNS}
        store = Store.objects.filter(
            brand=brand, external_id=values["external_id"]
        ).first() or Store(brand=brand)
        try:
            for name in ("latitude", "longitude"):
                values[name] = float(values[name]) if values[name] else None
            for name, value in values.items():
                if value not in ("", None) or name in ("latitude", "longitude"):
                    setattr(store, name, value)
            store.full_clean(validate_unique=False)
            if not -90 <= (store.latitude or 0) <= 90 or not -180 <= (store.longitude or 0) <= 180:
                raise ValidationError("latitude/longitude out of range")
            with transaction.atomic():
                store.save()
            saved += 1
        except (ValueError, ValidationError) as error:
            detail = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            errors.append(f"line {line}: {detail}")
    return saved, errors


@admin.register(Store)
class StoreAdmin(BrandScopedAdmin):
    list_display = ["name", "external_id", "brand", "address", "timezone"]
    search_fields = ["name", "external_id", "address"]
    list_filter = [("brand", admin.RelatedOnlyFieldListFilter)]
    change_list_template = "admin/promotions/store/change_list.html"

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="promotions_store_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:promotions_store_changelist"))
        form = StoreImportForm(request.POST or None, request.FILES or None)
        brands = Brand.objects.all()
        if not request.user.is_superuser:
            brands = brands.filter(id__in=self._brand_ids(request, editable=True))
        form.fields["brand"].queryset = brands
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                text = form.cleaned_data["file"].read().decode("utf-8-sig")
            except UnicodeDecodeError:
                text, errors = "", ["the file is not UTF-8 text"]
            saved, row_errors = stores_import(form.cleaned_data["brand"], text) if text else (0, [])
            errors += row_errors
            messages.info(request, f"{saved} store(s) imported, {len(errors)} row(s) refused.")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "errors": errors,
            "title": "Import stores from CSV",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/promotions/store/import.html", context)


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
    brand_path = "campaign__brand"
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
    brand_path = "campaign__brand"
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
        offer = queryset.first()
        return HttpResponseRedirect(reverse("admin:promotions_offer_generate", args=[offer.pk]))

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
            except Problem as problem:
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
        return StreamingHttpResponse(
            codes_csv_rows(offer),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="offer-{offer.id}-codes.csv"'},
        )

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
    brand_path = "offer__campaign__brand"
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


class ReadOnlyAdmin(BrandScopedAdmin):
    """Records written only by the services (logs, touches): marketers look, nobody edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Touchpoint)
class TouchpointAdmin(ReadOnlyAdmin):
    """Impressions, clicks and claims as recorded: the attribution engine's input."""

    list_display = ["occurred_at", "kind", "placement", "customer_ref", "click_id"]
    list_filter = ["kind", ("placement", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=customer_ref", "=click_id"]
    list_select_related = ["placement"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


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


admin.site.site_header = "Trackable promotions"
admin.site.site_title = "Trackable promotions"
admin.site.index_title = "Your brands' campaigns, offers, stores and tills"
