"""Who is calling: a brand's mobile app (X-App-Key) or a marketer (DRF token)."""

from rest_framework import authentication, exceptions, permissions

from core.sql import prepared_cursor
from promotions.models import Brand

_BRAND_FOR_APP_KEY_SQL = f"SELECT id FROM {Brand._meta.db_table} WHERE app_key = %s"


class AppClient:
    """The authenticated principal of a mobile-app request: the brand whose key it sent."""

    is_authenticated = True

    def __init__(self, brand_id: int):
        self.brand_id = brand_id


class AppKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        key = request.headers.get("X-App-Key")
        if not key:
            return None
        with prepared_cursor() as cursor:  # every app call starts here: planned once
            cursor.execute(_BRAND_FOR_APP_KEY_SQL, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Unknown app key.")
        return AppClient(row[0]), row[0]

    def authenticate_header(self, request):
        return "X-App-Key"


class IsApp(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, AppClient)
