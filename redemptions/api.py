"""Marketers' API for the redemption side: POS integrations and campaign reports."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import DomainError
from core.exports import csv_response
from core.problems import Problem
from core.throttling import ManageThrottle
from promotions.api_manage import BrandScopedViewSet
from promotions.models import Campaign, Store
from promotions.selectors import brand_ids_for
from promotions.serializers import BrandOwnedSerializer, BrandScopedRelated
from redemptions import reports, rollups, services
from redemptions.models import PosIntegration


class PosIntegrationSerializer(BrandOwnedSerializer):
    stores = BrandScopedRelated(queryset=Store.objects.all(), many=True, required=False)
    key_prefixes = serializers.SerializerMethodField()

    class Meta:
        model = PosIntegration
        fields = [
            "id",
            "brand",
            "name",
            "adapter",
            "stores",
            "external_account_id",
            "require_signature",
            "is_active",
            "key_prefixes",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        validators = []  # the vendor account's uniqueness is a 409, checked in validate()

    def get_key_prefixes(self, integration) -> list[str]:
        return [c.key_prefix for c in integration.credentials.all() if c.revoked_at is None]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        brand_id = attrs.get("brand_id") or getattr(attrs.get("brand"), "id", None)
        brand_id = brand_id or (self.instance and self.instance.brand_id)
        if any(store.brand_id != brand_id for store in attrs.get("stores", [])):
            raise serializers.ValidationError({"stores": ["Store of another brand."]})
        account = attrs.get("external_account_id")
        adapter = attrs.get("adapter") or (self.instance and self.instance.adapter)
        if account:
            taken = PosIntegration.objects.filter(adapter=adapter, external_account_id=account)
            if self.instance is not None:
                taken = taken.exclude(id=self.instance.id)
            if taken.exists():
                raise vendor_account_taken()
        return attrs


def vendor_account_taken() -> DomainError:
    return DomainError(
        "vendor_account_taken",
        "Another POS integration already holds this vendor account id.",
        field="external_account_id",
    )


class PosIntegrationViewSet(BrandScopedViewSet):
    queryset = PosIntegration.objects.prefetch_related("stores", "credentials")
    serializer_class = PosIntegrationSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                self.perform_create(serializer)
                issued = services.pos_credential_issue(serializer.instance)
        except IntegrityError:  # the same account id, created at the same moment elsewhere
            raise vendor_account_taken() from None
        body = self.get_serializer(PosIntegration.objects.get(id=serializer.instance.id)).data
        return Response(
            {**body, "api_key": issued.api_key, "signing_secret": issued.signing_secret}, status=201
        )

    @extend_schema(request=None, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        """A new key and secret; the old ones keep working until ``revoke-old``."""
        integration = self.get_object()
        issued = services.pos_credential_issue(integration)
        return Response(
            {
                "id": integration.id,
                "api_key": issued.api_key,
                "signing_secret": issued.signing_secret,
            },
            status=201,
        )

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="revoke-old")
    def revoke_old(self, request, pk=None):
        integration = self.get_object()
        newest = (
            integration.credentials.filter(revoked_at__isnull=True).order_by("-created_at").first()
        )
        if newest is None:
            raise Problem(409, "no_active_key", "This integration has no active key.")
        revoked = services.pos_credentials_revoke_old(integration, newest)
        return Response({"id": integration.id, "revoked": revoked})


class CampaignReportView(APIView):
    throttle_classes = [ManageThrottle]

    @extend_schema(
        operation_id="campaign_report",
        parameters=[OpenApiParameter("group_by", str, enum=list(reports.GROUPS))],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, pk: int, fmt: str = "json"):
        campaign = get_object_or_404(
            Campaign.objects.select_related("brand"),
            id=pk,
            brand_id__in=brand_ids_for(request.user),
        )
        group_by = request.query_params.get("group_by", "placement")
        if group_by not in reports.GROUPS:
            raise Problem(
                400, "validation_error", f"group_by must be one of {sorted(reports.GROUPS)}."
            )
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # In-process mode (the zero-configuration demo) has no beat to refresh roll-ups.
            rollups.rollups_refresh()
        report = reports.campaign_report(campaign, group_by)
        if fmt != "csv":
            return Response(report)
        return csv_response(reports.report_csv_rows(report), f"campaign-{pk}-{group_by}.csv")


class CampaignReportCsvView(CampaignReportView):
    @extend_schema(
        operation_id="campaign_report_csv",
        parameters=[OpenApiParameter("group_by", str, enum=list(reports.GROUPS))],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request, pk: int, fmt: str = "csv"):
        return super().get(request, pk, fmt="csv")
