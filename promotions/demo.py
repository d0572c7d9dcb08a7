"""The demo brand that ``seed_demo`` loads; idempotent, keyed on slugs and external ids."""

import hashlib
import hmac
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from promotions.models import Brand, Campaign, Membership, Offer, Placement, Store
from promotions.tracking.services import ingest_key_hash

DEMO_USERNAME = "marketer"

STORES = [
    ("SF-001", "Market Street", "1 Market St, San Francisco, CA", 37.7946, -122.3950),
    ("SF-002", "Mission", "2100 Mission St, San Francisco, CA", 37.7633, -122.4194),
    ("OAK-001", "Oakland Downtown", "1400 Broadway, Oakland, CA", 37.8044, -122.2712),
]
PLACEMENTS = [
    (
        "Instagram",
        "Stories - spring launch",
        Decimal("1500.00"),
        "https://demo.example/spring?src=ig",
    ),
    (
        "Spotify",
        "Audio spot - morning",
        Decimal("900.00"),
        "https://demo.example/spring?src=spotify",
    ),
    ("Google", "Display - bay area", Decimal("600.00"), "https://demo.example/spring?src=gdn"),
]


def demo_secret(purpose: str) -> str:
    """A stable demo credential derived from SECRET_KEY, so re-seeding prints the same keys."""
    digest = hmac.new(settings.SECRET_KEY.encode(), purpose.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


@transaction.atomic
def seed_demo() -> dict:
    now = timezone.now()
    brand, _ = Brand.objects.get_or_create(
        slug="demo-coffee",
        defaults={"name": "Demo Coffee Co.", "currency": "USD", "timezone": "America/Los_Angeles"},
    )
    app_key = "app_" + demo_secret("demo-app-key")
    if brand.app_key != app_key:
        brand.app_key = app_key
        brand.save(update_fields=["app_key"])
    stores = []
    for external_id, name, address, lat, lng in STORES:
        store, _ = Store.objects.update_or_create(
            brand=brand,
            external_id=external_id,
            defaults={
                "name": name,
                "address": address,
                "latitude": lat,
                "longitude": lng,
                "timezone": "America/Los_Angeles",
            },
        )
        stores.append(store)
    campaign, _ = Campaign.objects.get_or_create(
        brand=brand,
        name="Spring launch",
        defaults={"starts_at": now - timedelta(days=7), "ends_at": now + timedelta(days=90)},
    )
    placements = []
    for partner, name, spend, url in PLACEMENTS:
        placement, _ = Placement.objects.get_or_create(
            campaign=campaign,
            name=name,
            defaults={"media_partner": partner, "spend": spend, "destination_url": url},
        )
        placements.append(placement)
    drink, _ = Offer.objects.get_or_create(
        campaign=campaign,
        title="20% off any drink",
        defaults={
            "description": "Any size, any drink, hot or iced.",
            "terms": "One per customer. Not valid with other offers.",
            "reward_type": Offer.Reward.PERCENT_OFF,
            "reward_value": Decimal("20"),
            "pos_discount_ref": "DISC-20PCT",
            "valid_from": now - timedelta(days=7),
            "valid_until": now + timedelta(days=90),
            "code_ttl_hours": 72,
            "total_cap": 100_000,
            "per_customer_cap": 1,
            "status": Offer.Status.LIVE,
        },
    )
    pastry, _ = Offer.objects.get_or_create(
        campaign=campaign,
        title="Free pastry with a $5 order",
        defaults={
            "description": "Croissant, muffin or scone.",
            "reward_type": Offer.Reward.FREE_ITEM,
            "reward_value": Decimal("3.50"),
            "pos_discount_ref": "FREE-PASTRY",
            "min_basket": Decimal("5.00"),
            "valid_from": now - timedelta(days=7),
            "valid_until": now + timedelta(days=90),
            "per_customer_cap": 3,
            "status": Offer.Status.LIVE,
            "barcode": Offer.Barcode.CODE128,
        },
    )
    pastry.stores.set(stores[:2])
    User = get_user_model()
    password = demo_secret("demo-password")[:16]
    user, _ = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"is_staff": True})
    user.is_staff = True
    user.set_password(password)
    user.save()
    Membership.objects.update_or_create(
        user=user, brand=brand, defaults={"role": Membership.Role.ADMIN}
    )
    token, _ = Token.objects.get_or_create(user=user)
    ingest_key = "ing_" + demo_secret("demo-ingest-key")
    if brand.ingest_key_hash != ingest_key_hash(ingest_key):
        brand.ingest_key_hash = ingest_key_hash(ingest_key)
        brand.save(update_fields=["ingest_key_hash"])
    return {
        "admin": {"username": DEMO_USERNAME, "password": password},
        "api_token": token.key,
        "app_key": brand.app_key,
        "brand_id": brand.id,
        "store_ids": [s.id for s in stores],
        "store_external_ids": [s.external_id for s in stores],
        "campaign_id": campaign.id,
        "placement_ids": [p.id for p in placements],
        "offer_ids": [drink.id, pastry.id],
        "ingest_key": ingest_key,
        "tracking_url": placements[0].tracking_url,
    }
