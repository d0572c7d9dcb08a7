"""The mobile app's API: live offers near the shopper, claims, barcode images, the wallet."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import DomainError
from core.observability import CLAIMS
from core.problems import Problem
from promotions import barcodes, codes, services
from promotions.auth import AppKeyAuthentication, IsApp
from promotions.models import Code
from promotions.selectors import customer_wallet, offers_near
from promotions.serializers import ClaimSerializer, code_public, offer_public


class AppView(APIView):
    authentication_classes = [AppKeyAuthentication]
    permission_classes = [IsApp]


def _float_param(request, name: str, low: float, high: float) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Problem(400, "validation_error", f"{name} must be a number.") from None
    if not low <= value <= high:
        raise Problem(400, "validation_error", f"{name} must be between {low} and {high}.")
    return value


class OfferListView(AppView):
    @extend_schema(
        operation_id="mobile_offers_list",
        parameters=[
            OpenApiParameter("lat", float),
            OpenApiParameter("lng", float),
            OpenApiParameter("radius_km", float),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        lat = _float_param(request, "lat", -90, 90)
        lng = _float_param(request, "lng", -180, 180)
        radius = _float_param(request, "radius_km", 0, 20_000)
        if (lat is None) != (lng is None):
            raise Problem(400, "validation_error", "Give both lat and lng, or neither.")
        if radius is not None and lat is None:
            raise Problem(400, "validation_error", "radius_km needs lat and lng.")
        nearby = offers_near(request.auth, lat, lng, radius)
        return Response(
            {"results": [offer_public(n.offer, n.store, n.distance_km) for n in nearby]}
        )


class ClaimView(AppView):
    @extend_schema(
        operation_id="mobile_offer_claim",
        request=ClaimSerializer,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT},
    )
    def post(self, request, offer_id: int):
        payload = ClaimSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = services.code_claim(
                brand_id=request.auth,
                offer_id=offer_id,
                customer_ref=payload.validated_data["customer_ref"],
                click_id=payload.validated_data["click_id"],
            )
        except DomainError as problem:
            CLAIMS.labels(problem.code).inc()
            raise
        CLAIMS.labels("issued" if result.created else "returned_active").inc()
        body = code_public(result.code, request, result.code.offer)
        body["offer"] = offer_public(result.code.offer, store_ids=result.store_ids)
        return Response(body, status=201 if result.created else 200)


class CodeImageView(AppView):
    @extend_schema(
        operation_id="mobile_code_image",
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/svg+xml"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, code: str, fmt: str):
        normalised = codes.normalise(code)
        if not codes.is_valid(normalised):
            raise Problem(404, "not_found", "No such code.")
        found = (
            Code.objects.filter(code=normalised, offer__campaign__brand_id=request.auth)
            .select_related("offer")
            .first()
        )
        if found is None:
            raise Problem(404, "not_found", "No such code.")
        body, content_type = barcodes.render(found.code, found.offer.barcode, fmt)
        response = HttpResponse(body, content_type=content_type)
        response["Cache-Control"] = "private, max-age=86400"
        return response


class WalletView(AppView):
    @extend_schema(
        operation_id="mobile_customer_codes",
        responses={200: inline_serializer("Wallet", {"results": serializers.ListField()})},
    )
    def get(self, request, customer_ref: str):
        wallet = customer_wallet(request.auth, customer_ref)[:500]
        return Response({"results": [code_public(code, request) for code in wallet]})
