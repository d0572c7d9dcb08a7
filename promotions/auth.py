"""Who is calling: a brand's mobile app (X-App-Key) or a marketer (DRF token)."""

from rest_framework import authentication, exceptions, permissions

from promotions.models import Brand


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
        brand_id = Brand.objects.filter(app_key=key).values_list("id", flat=True).first()
        if brand_id is None:
            raise exceptions.AuthenticationFailed("Unknown app key.")
        return AppClient(brand_id), brand_id

    def authenticate_header(self, request):
        return "X-App-Key"


class IsApp(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, AppClient)
