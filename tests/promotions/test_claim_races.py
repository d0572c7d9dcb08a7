"""Caps hold under real concurrency on PostgreSQL (threads, each with its own connection)."""

import pytest
from rest_framework.test import APIClient

from promotions.models import Code, Offer
from tests.concurrency import run_concurrently
from tests.factories import BrandFactory, CampaignFactory, OfferFactory

pytestmark = [pytest.mark.races, pytest.mark.django_db(transaction=True)]


def _claimer(brand, offer_id, customer_ref_for):
    def claim(i):
        client = APIClient()
        client.credentials(HTTP_X_APP_KEY=brand.app_key)
        response = client.post(
            f"/api/v1/offers/{offer_id}/claim", {"customer_ref": customer_ref_for(i)}, format="json"
        )
        return response.status_code, response.json()

    return claim


def test_24_simultaneous_claims_on_a_cap_of_5_issue_exactly_5_codes():
    brand = BrandFactory()
    offer = OfferFactory(campaign=CampaignFactory(brand=brand), total_cap=5)

    results = run_concurrently(_claimer(brand, offer.id, lambda i: f"shopper-{i}"), 24)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 5 + [422] * 19
    assert {body["code"] for status, body in results if status == 422} == {"cap_reached"}
    assert Code.objects.filter(offer=offer).count() == 5
    assert Offer.objects.get(id=offer.id).issued_count == 5


def test_8_simultaneous_claims_by_one_customer_with_cap_1_give_one_code():
    brand = BrandFactory()
    offer = OfferFactory(campaign=CampaignFactory(brand=brand), per_customer_cap=1)

    results = run_concurrently(_claimer(brand, offer.id, lambda i: "same-shopper"), 8)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 7 + [201]
    assert len({body["code"] for _, body in results}) == 1
    assert Code.objects.filter(offer=offer).count() == 1
    assert Offer.objects.get(id=offer.id).issued_count == 1


def test_simultaneous_claims_without_caps_still_give_one_active_code_per_customer():
    brand = BrandFactory()
    offer = OfferFactory(campaign=CampaignFactory(brand=brand))

    results = run_concurrently(_claimer(brand, offer.id, lambda i: f"shopper-{i % 3}"), 12)

    assert all(status in (200, 201) for status, _ in results)
    assert sorted(status for status, _ in results).count(201) == 3
    assert Code.objects.filter(offer=offer).count() == 3


def test_the_database_refuses_an_issued_count_past_the_cap_even_behind_the_service():
    from django.db import IntegrityError

    offer = OfferFactory(total_cap=2)

    with pytest.raises(IntegrityError):
        Offer.objects.filter(id=offer.id).update(issued_count=3)
