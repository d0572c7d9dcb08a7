"""POS integrations: keys shown once, rotation."""

from django.contrib import admin, messages
from django.utils.html import format_html

from promotions.admin.base import BrandScopedAdmin
from redemptions import services
from redemptions.models import PosIntegration


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
