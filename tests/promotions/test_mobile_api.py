from datetime import timedelta

import pytest
from django.utils import timezone

from promotions import codes
from promotions.models import Code, CustomerClaim, Offer
from tests.factories import OfferFactory, StoreFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def claim(client, offer_id, **body):
    return client.post(f"/api/v1/offers/{offer_id}/claim", body, format="json")


def test_list_shows_live_offers_with_remaining_capacity(app_client, campaign):
    live = OfferFactory(campaign=campaign, total_cap=10)
    OfferFactory(campaign=campaign, status=Offer.Status.DRAFT)
    OfferFactory(campaign=campaign, valid_from=timezone.now() + timedelta(days=1))
    OfferFactory(campaign=campaign, total_cap=1).__class__.objects.filter(total_cap=1).update(
        issued_count=1
    )

    response = app_client.get("/api/v1/offers")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [o["id"] for o in results] == [live.id]
    assert results[0]["remaining"] == 10
    assert results[0]["reward"] == {"type": "percent_off", "value": "20.00", "pos_discount_ref": ""}


def test_list_with_location_gives_nearest_eligible_store_sorted_and_within_radius(
    app_client, brand, campaign
):
    near = StoreFactory(brand=brand, latitude=37.7946, longitude=-122.3950)  # SF
    far = StoreFactory(brand=brand, latitude=34.0522, longitude=-118.2437)  # LA
    anywhere = OfferFactory(campaign=campaign)
    la_only = OfferFactory(campaign=campaign)
    la_only.stores.set([far])

    response = app_client.get("/api/v1/offers", {"lat": 37.79, "lng": -122.40})
    results = response.json()["results"]

    assert [o["id"] for o in results] == [anywhere.id, la_only.id]
    assert results[0]["nearest_store"]["id"] == near.id
    assert results[0]["nearest_store"]["distance_km"] < 1
    assert results[1]["nearest_store"]["id"] == far.id
    assert 500 < results[1]["nearest_store"]["distance_km"] < 600

    within = app_client.get("/api/v1/offers", {"lat": 37.79, "lng": -122.40, "radius_km": 50})
    assert [o["id"] for o in within.json()["results"]] == [anywhere.id]


@pytest.mark.parametrize(
    "params", [{"lat": "north"}, {"lat": 91, "lng": 0}, {"lat": 10}, {"radius_km": 5}]
)
def test_list_rejects_bad_coordinates(app_client, params):
    assert_problem(app_client.get("/api/v1/offers", params), 400, "validation_error")


def test_wrong_or_missing_app_key_is_401(client_api, offer):
    assert_problem(client_api.get("/api/v1/offers"), 401, "unauthenticated")
    client_api.credentials(HTTP_X_APP_KEY="app_nope")
    assert_problem(client_api.get("/api/v1/offers"), 401, "unauthenticated")
    assert_problem(claim(client_api, offer.id, customer_ref="c1"), 401, "unauthenticated")
    assert Code.objects.count() == 0


def test_claim_issues_a_code_and_reclaim_returns_the_active_one(app_client, offer):
    offer.code_ttl_hours = 48
    offer.save()

    first = claim(app_client, offer.id, customer_ref="shopper-1")
    again = claim(app_client, offer.id, customer_ref="shopper-1")

    assert first.status_code == 201
    body = first.json()
    assert again.status_code == 200 and again.json()["code"] == body["code"]
    code = Code.objects.get()
    assert body["code"] == code.code and code.customer_ref == "shopper-1"
    assert body["display_code"].replace("-", "") == code.code
    assert body["qr_png_url"].endswith(f"/api/v1/codes/{code.code}.png")
    assert body["qr_svg_url"].endswith(f"/api/v1/codes/{code.code}.svg")
    assert body["offer"]["id"] == offer.id
    expected_expiry = code.issued_at + timedelta(hours=48)
    assert abs(code.expires_at - expected_expiry) < timedelta(seconds=5)


def test_claim_names_the_stores_the_offer_is_valid_at(app_client, offer, brand):
    later, earlier = (
        StoreFactory(brand=brand, name="Mission"),
        StoreFactory(brand=brand, name="Castro"),
    )
    offer.stores.set([later, earlier])

    body = claim(app_client, offer.id, customer_ref="shopper-1").json()
    again = claim(app_client, offer.id, customer_ref="shopper-1").json()

    assert body["offer"]["store_ids"] == again["offer"]["store_ids"] == [earlier.id, later.id]


def test_claim_draws_again_when_a_code_collides(app_client, offer, monkeypatch):
    taken = claim(app_client, offer.id, customer_ref="shopper-1").json()["code"]
    draws = iter([taken, taken, "FRESHCODE01"])
    monkeypatch.setattr(codes, "generate", lambda prefix, length: next(draws))

    response = claim(app_client, offer.id, customer_ref="shopper-2")

    assert response.status_code == 201 and response.json()["code"] == "FRESHCODE01"
    offer.refresh_from_db()
    assert offer.issued_count == 2 and Code.objects.count() == 2


def test_claim_that_cannot_draw_a_fresh_code_writes_nothing(app_client, offer, monkeypatch):
    taken = claim(app_client, offer.id, customer_ref="shopper-1").json()["code"]
    monkeypatch.setattr(codes, "generate", lambda prefix, length: taken)

    assert_problem(
        claim(app_client, offer.id, customer_ref="shopper-2"), 503, "code_space_exhausted"
    )
    offer.refresh_from_db()
    assert offer.issued_count == 1 and Code.objects.count() == 1
    assert not CustomerClaim.objects.filter(customer_ref="shopper-2", claims__gt=0).exists()


def test_claim_code_lifetime_never_outlives_the_offer(app_client, offer):
    offer.code_ttl_hours = 24 * 365
    offer.save()

    claim(app_client, offer.id, customer_ref="c1")

    assert Code.objects.get().expires_at == offer.valid_until


def test_claim_after_using_the_cap_is_refused(app_client, offer):
    offer.per_customer_cap = 1
    offer.save()
    claim(app_client, offer.id, customer_ref="c1")
    Code.objects.update(status=Code.Status.REDEEMED)

    assert_problem(claim(app_client, offer.id, customer_ref="c1"), 422, "customer_cap_reached")
    assert Code.objects.count() == 1


def test_claim_within_a_larger_cap_issues_a_second_code_once_the_first_is_used(app_client, offer):
    offer.per_customer_cap = 2
    offer.save()
    claim(app_client, offer.id, customer_ref="c1")
    Code.objects.update(status=Code.Status.REDEEMED)

    assert claim(app_client, offer.id, customer_ref="c1").status_code == 201
    assert Code.objects.count() == 2


def test_claim_beyond_total_cap_is_refused(app_client, offer):
    offer.total_cap = 1
    offer.save()
    claim(app_client, offer.id, customer_ref="c1")

    assert_problem(claim(app_client, offer.id, customer_ref="c2"), 422, "cap_reached")
    offer.refresh_from_db()
    assert offer.issued_count == 1 and Code.objects.count() == 1


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "validation_error"),
        ({"customer_ref": ""}, "validation_error"),
        ({"customer_ref": "   "}, "validation_error"),
        ({"customer_ref": "x" * 200}, "validation_error"),
        ({"customer_ref": "c1", "status": "redeemed"}, "unknown_field"),
    ],
)
def test_claim_rejects_bad_bodies_and_writes_nothing(app_client, offer, body, code):
    assert_problem(claim(app_client, offer.id, **body), 400, code)
    assert Code.objects.count() == 0 and CustomerClaim.objects.count() == 0


def test_claim_rejects_malformed_json(app_client, offer):
    response = app_client.post(
        f"/api/v1/offers/{offer.id}/claim", "{not json", content_type="application/json"
    )
    assert_problem(response, 400, "malformed_json")
    assert Code.objects.count() == 0


@pytest.mark.parametrize(
    "change, code",
    [
        ({"status": Offer.Status.DRAFT}, "offer_inactive"),
        ({"status": Offer.Status.PAUSED}, "offer_inactive"),
        (
            {
                "valid_until": timezone.now() - timedelta(minutes=1),
                "valid_from": timezone.now() - timedelta(days=2),
            },
            "expired",
        ),
        ({"valid_from": timezone.now() + timedelta(days=1), "valid_until": None}, "not_started"),
    ],
)
def test_claim_refuses_offers_that_are_not_open(app_client, offer, change, code):
    Offer.objects.filter(id=offer.id).update(**change)

    assert_problem(claim(app_client, offer.id, customer_ref="c1"), 422, code)
    assert Code.objects.count() == 0


def test_claim_of_unknown_or_foreign_offer_is_404(app_client, other_brand):
    from tests.factories import CampaignFactory

    foreign = OfferFactory(campaign=CampaignFactory(brand=other_brand))

    assert_problem(claim(app_client, 999999, customer_ref="c1"), 404, "not_found")
    assert_problem(claim(app_client, foreign.id, customer_ref="c1"), 404, "not_found")
    assert Code.objects.count() == 0


def test_qr_images_render_for_own_codes_only(app_client, offer, other_brand):
    from tests.factories import CampaignFactory, CodeFactory

    code = claim(app_client, offer.id, customer_ref="c1").json()["code"]
    foreign = CodeFactory(offer=OfferFactory(campaign=CampaignFactory(brand=other_brand)))

    png = app_client.get(f"/api/v1/codes/{code}.png")
    svg = app_client.get(f"/api/v1/codes/{code.lower()}.svg")

    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert_problem(app_client.get(f"/api/v1/codes/{foreign.code}.png"), 404, "not_found")
    assert_problem(app_client.get("/api/v1/codes/NOTACODE.png"), 404, "not_found")


def test_code128_offers_render_a_linear_barcode(app_client, offer):
    offer.barcode = Offer.Barcode.CODE128
    offer.save()
    code = claim(app_client, offer.id, customer_ref="c1").json()["code"]

    svg = app_client.get(f"/api/v1/codes/{code}.svg")
    png = app_client.get(f"/api/v1/codes/{code}.png")

    assert b"<rect" in svg.content and b"<path" not in svg.content
    assert png.content.startswith(b"\x89PNG")


def test_wallet_lists_the_customers_codes_with_effective_status(app_client, offer, campaign):
    second = OfferFactory(campaign=campaign, code_ttl_hours=1)
    claim(app_client, offer.id, customer_ref="c1")
    claim(app_client, second.id, customer_ref="c1")
    claim(app_client, offer.id, customer_ref="someone-else")
    Code.objects.filter(offer=second).update(expires_at=timezone.now() - timedelta(minutes=1))

    response = app_client.get("/api/v1/customers/c1/codes")

    results = response.json()["results"]
    assert response.status_code == 200
    assert {r["offer"]["id"]: r["status"] for r in results} == {
        offer.id: "issued",
        second.id: "expired",
    }
