from datetime import UTC, datetime

from rest_framework import serializers

from core import bounds
from promotions import codes
from promotions.models import MAX_CODE_TTL_HOURS, Campaign, CodeJob, Offer, Placement, Store
from promotions.selectors import brand_filter, code_effective_status


class StrictFieldsMixin:
    """Reject keys the resource does not have: a typo or a mass-assignment attempt is a 400."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class ObjectId(serializers.IntegerField):
    """An object's id as a related field reads it: a whole number its column can hold (a float
    such as 1e400, which JSON reads as infinity, is no id and no lookup)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not 1 <= value <= bounds.BIGINT_MAX:
            self.fail("invalid")
        return value


# Campaign and offer schedules lie between these: dates outside are typos or probes, and the
# arithmetic done on them (windows, roll-up days) would leave datetime's range.
SCHEDULE_BOUNDS = (bounds.EARLIEST_EVENT, datetime(2100, 1, 1, tzinfo=UTC))


def within_schedule_bounds(value):
    low, high = SCHEDULE_BOUNDS
    if not low <= value < high:
        raise serializers.ValidationError(f"Must be from {low:%Y-%m-%d} and before {high:%Y}.")


SCHEDULE = {"validators": [within_schedule_bounds]}


class BrandScopedRelated(serializers.PrimaryKeyRelatedField):
    """A related-object id limited to the caller's brands: another brand's id does not exist."""

    def __init__(self, **kwargs):
        kwargs.setdefault("pk_field", ObjectId())
        super().__init__(**kwargs)

    def get_queryset(self):
        model = self.queryset.model
        return model.objects.filter(**brand_filter(model, self.context["brand_ids"]))


class BrandField(serializers.PrimaryKeyRelatedField):
    """``brand`` on create: optional when the caller belongs to one brand; fixed afterwards."""

    def __init__(self, **kwargs):
        kwargs.setdefault("pk_field", ObjectId())
        super().__init__(**kwargs)

    def get_queryset(self):
        from promotions.models import Brand

        return Brand.objects.filter(id__in=self.context["editable_brand_ids"])


class BrandOwnedSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    brand = BrandField(required=False)

    def validate(self, attrs):
        if self.instance is not None:
            attrs.pop("brand", None)  # a row never changes tenant
            return attrs
        if "brand" not in attrs:
            editable = self.context["editable_brand_ids"]
            if len(editable) != 1:
                raise serializers.ValidationError({"brand": ["Required: you edit several brands."]})
            attrs["brand_id"] = editable[0]
        return attrs


class StoreSerializer(BrandOwnedSerializer):
    class Meta:
        model = Store
        fields = [
            "id",
            "brand",
            "name",
            "external_id",
            "address",
            "latitude",
            "longitude",
            "timezone",
        ]
        validators = []  # (brand, external_id) uniqueness is checked in the view with the brand

    def validate(self, attrs):
        attrs = super().validate(attrs)
        brand_id = attrs.get("brand_id") or getattr(attrs.get("brand"), "id", None)
        brand_id = brand_id or (self.instance and self.instance.brand_id)
        external_id = attrs.get("external_id", self.instance and self.instance.external_id)
        clash = Store.objects.filter(brand_id=brand_id, external_id=external_id)
        if self.instance is not None:
            clash = clash.exclude(id=self.instance.id)
        if clash.exists():
            raise serializers.ValidationError({"external_id": ["A store with this id exists."]})
        for name, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
            value = attrs.get(name)
            if value is not None and not low <= value <= high:
                raise serializers.ValidationError({name: [f"Must be between {low} and {high}."]})
        return attrs


class CampaignSerializer(BrandOwnedSerializer):
    class Meta:
        model = Campaign
        fields = [
            "id",
            "brand",
            "name",
            "starts_at",
            "ends_at",
            "attribution_model",
            "click_window_days",
            "view_window_hours",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        extra_kwargs = {
            "starts_at": SCHEDULE,
            "ends_at": SCHEDULE,
            "click_window_days": {"min_value": 0, "max_value": 90},
            "view_window_hours": {"min_value": 0, "max_value": 720},
        }

    def validate(self, attrs):
        attrs = super().validate(attrs)
        starts = attrs.get("starts_at", self.instance and self.instance.starts_at)
        ends = attrs.get("ends_at", self.instance and self.instance.ends_at)
        if starts and ends and ends <= starts:
            raise serializers.ValidationError({"ends_at": ["Must be after starts_at."]})
        return attrs


class PlacementSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    campaign = BrandScopedRelated(queryset=Campaign.objects.all())
    tracking_url = serializers.CharField(read_only=True)
    pixel_url = serializers.CharField(read_only=True)

    class Meta:
        model = Placement
        fields = [
            "id",
            "campaign",
            "media_partner",
            "name",
            "spend",
            "destination_url",
            "tracking_url",
            "pixel_url",
        ]
        extra_kwargs = {"spend": {"min_value": 0}}

    def validate_campaign(self, campaign):
        if self.instance is not None and campaign.id != self.instance.campaign_id:
            raise serializers.ValidationError("A placement cannot move to another campaign.")
        return campaign


class OfferSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    campaign = BrandScopedRelated(queryset=Campaign.objects.all())
    stores = BrandScopedRelated(queryset=Store.objects.all(), many=True, required=False)
    issued_count = serializers.IntegerField(read_only=True)
    remaining = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Offer
        fields = [
            "id",
            "campaign",
            "title",
            "description",
            "terms",
            "image_url",
            "reward_type",
            "reward_value",
            "pos_discount_ref",
            "min_basket",
            "valid_from",
            "valid_until",
            "code_ttl_hours",
            "total_cap",
            "per_customer_cap",
            "stores",
            "status",
            "code_prefix",
            "code_length",
            "barcode",
            "issued_count",
            "remaining",
        ]
        extra_kwargs = {
            "reward_value": {"min_value": 0},
            "min_basket": {"min_value": 0},
            "total_cap": {"min_value": 1},
            "per_customer_cap": {"min_value": 1},
            "valid_from": SCHEDULE,
            "valid_until": SCHEDULE,
            "code_ttl_hours": {"min_value": 1, "max_value": MAX_CODE_TTL_HOURS},
            "code_length": {"min_value": 8, "max_value": 24},
        }

    def validate_code_prefix(self, value):
        value = codes.normalise(value)
        if not codes.is_alphabet(value):
            raise serializers.ValidationError(
                "Use Crockford base32 symbols only (0-9, A-Z without I, L, O, U)."
            )
        return value

    def validate(self, attrs):
        def get(name):
            return attrs.get(name, getattr(self.instance, name, None))

        if self.instance is not None and "campaign" in attrs:
            if attrs["campaign"].id != self.instance.campaign_id:
                raise serializers.ValidationError({"campaign": ["An offer cannot move campaigns."]})
        if get("reward_type") == Offer.Reward.PERCENT_OFF and (get("reward_value") or 0) > 100:
            raise serializers.ValidationError({"reward_value": ["A percentage is at most 100."]})
        valid_from, valid_until = get("valid_from"), get("valid_until")
        if valid_from and valid_until and valid_until <= valid_from:
            raise serializers.ValidationError({"valid_until": ["Must be after valid_from."]})
        total_cap = get("total_cap")
        if self.instance is not None and total_cap is not None:
            if total_cap < self.instance.issued_count:
                raise serializers.ValidationError(
                    {"total_cap": [f"{self.instance.issued_count} codes are already issued."]}
                )
        campaign = get("campaign")
        for store in attrs.get("stores", []):
            if campaign and store.brand_id != campaign.brand_id:
                raise serializers.ValidationError({"stores": ["Store of another brand."]})
        return attrs


class CodeJobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = CodeJob
        fields = [
            "id",
            "offer",
            "placement",
            "requested",
            "generated",
            "collisions",
            "status",
            "progress",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, job) -> float:
        return round(job.generated / job.requested, 4) if job.requested else 1.0


class GenerateCodesSerializer(StrictFieldsMixin, serializers.Serializer):
    # Bounded by their columns (the service bounds the count further, BULK_CODE_MAX).
    count = serializers.IntegerField(min_value=1, max_value=bounds.INT_MAX)
    placement = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=bounds.BIGINT_MAX
    )


class ClaimSerializer(StrictFieldsMixin, serializers.Serializer):
    customer_ref = serializers.CharField(max_length=128, trim_whitespace=True)
    click_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


def offer_public(offer, store=None, distance_km=None, store_ids=None) -> dict:
    """An offer as the mobile app sees it (``store_ids`` when the caller already has them)."""
    data = {
        "id": offer.id,
        "campaign": offer.campaign_id,
        "title": offer.title,
        "description": offer.description,
        "terms": offer.terms,
        "image_url": offer.image_url,
        "reward": {
            "type": offer.reward_type,
            "value": str(offer.reward_value),
            "pos_discount_ref": offer.pos_discount_ref,
        },
        "min_basket": str(offer.min_basket),
        "valid_from": offer.valid_from.isoformat(),
        "valid_until": offer.valid_until.isoformat() if offer.valid_until else None,
        "remaining": offer.remaining,
        "per_customer_cap": offer.per_customer_cap,
        "barcode": offer.barcode,
        "store_ids": [s.id for s in offer.stores.all()] if store_ids is None else store_ids,
    }
    if store is not None:
        data["nearest_store"] = {
            "id": store.id,
            "name": store.name,
            "address": store.address,
            "latitude": store.latitude,
            "longitude": store.longitude,
            "distance_km": round(distance_km, 3),
        }
    return data


def code_public(code, request, offer=None) -> dict:
    """A code as the shopper's wallet shows it, with absolute image URLs."""
    offer = offer or code.offer
    png = request.build_absolute_uri(f"/api/v1/codes/{code.code}.png")
    return {
        "id": code.id,
        "code": code.code,
        "display_code": codes.display(code.code, len(offer.code_prefix)),
        "status": code_effective_status(code),
        "issued_at": code.issued_at.isoformat(),
        "expires_at": code.expires_at.isoformat() if code.expires_at else None,
        "redeemed_at": code.redeemed_at.isoformat() if code.redeemed_at else None,
        "qr_png_url": png,
        "qr_svg_url": png[: -len(".png")] + ".svg",
        "barcode": offer.barcode,
        "offer": {
            "id": offer.id,
            "title": offer.title,
            "reward": {"type": offer.reward_type, "value": str(offer.reward_value)},
        },
    }
