"""The marketers' management API: brand-scoped CRUD, bulk codes, jobs, code export."""

from django.conf import settings
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.exports import csv_response
from core.problems import Problem
from core.throttling import ManageThrottle
from promotions import codes, services
from promotions.models import Campaign, Code, CodeJob, Offer, Placement, Store
from promotions.selectors import brand_filter, brand_ids_for, brand_of
from promotions.serializers import (
    CampaignSerializer,
    CodeJobSerializer,
    GenerateCodesSerializer,
    OfferSerializer,
    PlacementSerializer,
    StoreSerializer,
)


class IsBrandEditor(permissions.BasePermission):
    """Analysts read; only a brand's admins (or superusers) write."""

    message = "Your role on this brand is read-only."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(brand_ids_for(request.user, editable=True))

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        return view.brand_of(obj) in brand_ids_for(request.user, editable=True)


class BrandScopedViewSet(viewsets.ModelViewSet):
    """Every query filtered to the caller's brands: another brand's object is a plain 404."""

    permission_classes = [permissions.IsAuthenticated, IsBrandEditor]
    throttle_classes = [ManageThrottle]

    def get_queryset(self):
        ids = brand_ids_for(self.request.user)
        return self.queryset.filter(**brand_filter(self.queryset.model, ids))

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["brand_ids"] = brand_ids_for(self.request.user)
        context["editable_brand_ids"] = brand_ids_for(self.request.user, editable=True)
        return context

    def brand_of(self, obj) -> int:
        return brand_of(obj)

    def perform_create(self, serializer):
        with transaction.atomic():
            instance = serializer.save()
            if self.brand_of(instance) not in brand_ids_for(self.request.user, editable=True):
                raise Problem(403, "forbidden", "Your role on this brand is read-only.")


class StoreViewSet(BrandScopedViewSet):
    queryset = Store.objects.all()
    serializer_class = StoreSerializer


ATTRIBUTION_SETTINGS = ("attribution_model", "click_window_days", "view_window_hours")


def campaign_attribution_changed(campaign: Campaign, before: tuple) -> None:
    """A new model or window changes every credit of the campaign: recompute them, after commit."""
    from core.publish import publish_on_commit

    if tuple(getattr(campaign, f) for f in ATTRIBUTION_SETTINGS) != before:
        publish_on_commit("redemptions.tasks.campaign_reattribute", campaign.id)


class CampaignViewSet(BrandScopedViewSet):
    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer

    def perform_update(self, serializer):
        before = tuple(getattr(serializer.instance, f) for f in ATTRIBUTION_SETTINGS)
        with transaction.atomic():
            campaign = serializer.save()
            campaign_attribution_changed(campaign, before)


class PlacementViewSet(BrandScopedViewSet):
    queryset = Placement.objects.select_related("campaign")
    serializer_class = PlacementSerializer


class OfferViewSet(BrandScopedViewSet):
    queryset = Offer.objects.select_related("campaign").prefetch_related("stores")
    serializer_class = OfferSerializer

    @extend_schema(request=GenerateCodesSerializer, responses={202: CodeJobSerializer})
    @action(detail=True, methods=["post"], url_path="generate-codes")
    def generate_codes(self, request, pk=None):
        offer = self.get_object()
        payload = GenerateCodesSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        placement = None
        if payload.validated_data.get("placement") is not None:
            placement = Placement.objects.filter(
                id=payload.validated_data["placement"], campaign_id=offer.campaign_id
            ).first()
            if placement is None:
                raise Problem(
                    400, "validation_error", "placement: no such placement in this campaign."
                )
        job = services.code_job_create(
            offer=offer, count=payload.validated_data["count"], placement=placement
        )
        job.refresh_from_db()
        return Response(CodeJobSerializer(job).data, status=202)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], url_path="codes.csv")
    def codes_csv(self, request, pk=None):
        offer = self.get_object()
        return csv_response(codes_csv_rows(offer), f"offer-{offer.id}-codes.csv", stream=True)


def codes_csv_rows(offer: Offer):
    """The rows of the codes CSV of ``offer``, read through a server-side cursor in chunks."""
    yield [
        "code",
        "display_code",
        "kind",
        "status",
        "placement_id",
        "placement_name",
        "customer_ref",
        "issued_at",
        "expires_at",
        "redeemed_at",
    ]
    prefix_length = len(offer.code_prefix)
    rows = (
        Code.objects.filter(offer=offer)
        .order_by("id")
        .values_list(
            "code",
            "kind",
            "status",
            "placement_id",
            "placement__name",
            "customer_ref",
            "issued_at",
            "expires_at",
            "redeemed_at",
        )
        .iterator(chunk_size=settings.CODE_EXPORT_CHUNK)
    )
    for code, kind, status, placement_id, placement, ref, issued, expires, redeemed in rows:
        yield [
            code,
            codes.display(code, prefix_length),
            kind,
            status,
            placement_id or "",
            placement or "",
            ref,
            issued.isoformat(),
            expires.isoformat() if expires else "",
            redeemed.isoformat() if redeemed else "",
        ]


class CodeJobViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = CodeJobSerializer
    queryset = CodeJob.objects.all()
    throttle_classes = [ManageThrottle]

    def get_queryset(self):
        return self.queryset.filter(brand_id__in=brand_ids_for(self.request.user))
