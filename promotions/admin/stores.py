"""Stores, and their import from CSV."""

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from promotions.admin.base import BrandScopedAdmin
from promotions.models import (
    Brand,
    Store,
)


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
