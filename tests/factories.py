from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token

from promotions import codes
from promotions.models import Brand, Campaign, Code, Membership, Offer, Placement, Store


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    brand = factory.SubFactory(BrandFactory)
    name = factory.Sequence(lambda n: f"Store {n}")
    external_id = factory.Sequence(lambda n: f"S-{n:04d}")
    latitude = 37.7946
    longitude = -122.3950


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    brand = factory.SubFactory(BrandFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


class PlacementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Placement

    campaign = factory.SubFactory(CampaignFactory)
    media_partner = "Instagram"
    name = factory.Sequence(lambda n: f"Placement {n}")
    spend = Decimal("100.00")
    destination_url = "https://shop.example/landing"


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    campaign = factory.SubFactory(CampaignFactory)
    title = factory.Sequence(lambda n: f"Offer {n}")
    reward_type = Offer.Reward.PERCENT_OFF
    reward_value = Decimal("20")
    valid_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    valid_until = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    status = Offer.Status.LIVE


class CodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Code

    offer = factory.SubFactory(OfferFactory)
    code = factory.LazyFunction(codes.generate)
    customer_ref = "shopper-1"


def marketer(brand, role=Membership.Role.ADMIN, username=None):
    """A staff user with a membership on ``brand`` and a DRF token; returns (user, token)."""
    user = get_user_model().objects.create_user(
        username=username or f"marketer-{brand.slug}-{role}", password="pw-123456789", is_staff=True
    )
    Membership.objects.create(user=user, brand=brand, role=role)
    token, _ = Token.objects.get_or_create(user=user)
    return user, token.key


def pos_integration(brand, adapter="generic", **fields):
    """An integration with one live credential; returns (integration, api_key, signing_secret)."""
    from redemptions import services
    from redemptions.models import PosIntegration

    integration = PosIntegration.objects.create(
        brand=brand, name=f"{adapter} till", adapter=adapter, **fields
    )
    issued = services.pos_credential_issue(integration)
    return integration, issued.api_key, issued.signing_secret
