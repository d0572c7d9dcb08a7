"""What every admin page of the project shares: rows scoped to the marketer's brands."""

from django.contrib import admin

from promotions.models import Brand
from promotions.selectors import brand_filter, brand_ids_for, brand_of


class BrandScopedAdmin(admin.ModelAdmin):
    """Superusers see everything; a marketer sees their brands' rows, edits them if admin.

    Each model says once how its rows reach their brand (``Model.brand_path``). Foreign-key
    pickers are scoped the same way, so a marketer can never select (or learn of) another
    brand's campaign or store.
    """

    def _brand_ids(self, request, editable=False):
        return brand_ids_for(request.user, editable=editable)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**brand_filter(self.model, self._brand_ids(request)))

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
        return brand_of(obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        field = self._scope_field(field, db_field, request)
        if field is not None and db_field.related_model is Brand:
            only = list(field.queryset.values_list("id", flat=True)[:2])
            if len(only) == 1:  # a marketer of one brand does not pick it on every form
                field.initial = only[0]
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        return self._scope_field(field, db_field, request)

    def _scope_field(self, field, db_field, request):
        if field is None or request.user.is_superuser:
            return field
        if hasattr(db_field.related_model, "brand_path"):
            ids = self._brand_ids(request, editable=True)
            field.queryset = field.queryset.filter(**brand_filter(db_field.related_model, ids))
        return field


class ReadOnlyAdmin(BrandScopedAdmin):
    """Records written only by the services (logs, touches): marketers look, nobody edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
