"""Ad servers prove who they are with the brand's ingest key."""

from rest_framework import authentication, exceptions

from promotions.models import Brand
from promotions.tracking.services import ingest_key_hash


class IngestKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <brand ingest key>`` for ad servers posting touchpoints."""

    def authenticate(self, request):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return None
        brand = Brand.objects.filter(ingest_key_hash=ingest_key_hash(key.strip())).first()
        if brand is None:
            raise exceptions.AuthenticationFailed("Unknown ingest key.")
        return IngestClient(brand.id), brand.id

    def authenticate_header(self, request):
        return "Bearer"


class IngestClient:
    is_authenticated = True

    def __init__(self, brand_id):
        self.brand_id = brand_id
