import pytest
from rest_framework.test import APIClient

from promotions.models import Campaign, Membership, Offer, Placement, Store
from tests.factories import CampaignFactory, OfferFactory, PlacementFactory, StoreFactory, marketer
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db

CAMPAIGN = {
    "name": "Summer",
    "starts_at": "2026-06-01T00:00:00Z",
    "ends_at": "2026-09-01T00:00:00Z",
    "attribution_model": "linear",
    "click_window_days": 7,
    "view_window_hours": 24,
}


def offer_body(campaign_id, **extra):
    body = {
        "campaign": campaign_id,
        "title": "2 for 1",
        "description": "",
        "terms": "",
        "reward_type": "bogo",
        "reward_value": "0",
        "pos_discount_ref": "BOGO",
        "min_basket": "0",
        "valid_from": "2026-06-01T00:00:00Z",
        "valid_until": None,
        "code_ttl_hours": 24,
        "total_cap": 1000,
        "per_customer_cap": 1,
        "stores": [],
        "status": "live",
        "code_prefix": "bogo",
        "barcode": "qr",
    }
    body.update(extra)
    return body


def test_marketer_builds_a_campaign_end_to_end(marketer_client, brand):
    store = marketer_client.post(
        "/api/v1/manage/stores",
        {
            "name": "Main St",
            "external_id": "42",
            "address": "1 Main St",
            "latitude": 40.0,
            "longitude": -70.0,
            "timezone": "America/New_York",
        },
        format="json",
    )
    campaign = marketer_client.post("/api/v1/manage/campaigns", CAMPAIGN, format="json")
    placement = marketer_client.post(
        "/api/v1/manage/placements",
        {
            "campaign": campaign.json()["id"],
            "media_partner": "Meta",
            "name": "Reels",
            "spend": "250.00",
            "destination_url": "https://shop.example/summer",
        },
        format="json",
    )
    offer = marketer_client.post(
        "/api/v1/manage/offers",
        offer_body(campaign.json()["id"], stores=[store.json()["id"]]),
        format="json",
    )

    assert [r.status_code for r in (store, campaign, placement, offer)] == [201] * 4
    assert store.json()["brand"] == brand.id and campaign.json()["brand"] == brand.id
    token = Placement.objects.get().tracking_token
    assert placement.json()["tracking_url"].endswith(f"/t/{token}")
    assert placement.json()["pixel_url"].endswith(f"/i/{token}.gif")
    assert offer.json()["code_prefix"] == "B0G0"  # normalised: O reads as zero
    assert offer.json()["stores"] == [store.json()["id"]]
    listed = marketer_client.get("/api/v1/manage/offers").json()
    assert [o["id"] for o in listed["results"]] == [offer.json()["id"]]


def test_patch_and_delete(marketer_client, brand):
    campaign = CampaignFactory(brand=brand)

    patched = marketer_client.patch(
        f"/api/v1/manage/campaigns/{campaign.id}", {"name": "Renamed"}, format="json"
    )
    deleted = marketer_client.delete(f"/api/v1/manage/campaigns/{campaign.id}")

    assert patched.status_code == 200 and patched.json()["name"] == "Renamed"
    assert deleted.status_code == 204 and not Campaign.objects.exists()


def test_other_brands_objects_are_404_for_every_verb(marketer_client, other_brand):
    campaign = CampaignFactory(brand=other_brand)
    objects = {
        "stores": StoreFactory(brand=other_brand),
        "campaigns": campaign,
        "placements": PlacementFactory(campaign=campaign),
        "offers": OfferFactory(campaign=campaign),
    }
    for resource, obj in objects.items():
        url = f"/api/v1/manage/{resource}/{obj.id}"
        assert_problem(marketer_client.get(url), 404, "not_found")
        assert_problem(marketer_client.patch(url, {"name": "x"}, format="json"), 404, "not_found")
        assert_problem(marketer_client.delete(url), 404, "not_found")
        assert marketer_client.get(f"/api/v1/manage/{resource}").json()["results"] == []
    assert Campaign.objects.filter(id=campaign.id, name=campaign.name).exists()
    assert_problem(
        marketer_client.post(
            f"/api/v1/manage/offers/{objects['offers'].id}/generate-codes",
            {"count": 5},
            format="json",
        ),
        404,
        "not_found",
    )
    assert_problem(
        marketer_client.get(f"/api/v1/manage/offers/{objects['offers'].id}/codes.csv"),
        404,
        "not_found",
    )


def test_referencing_another_brands_campaign_or_store_is_refused(
    marketer_client, brand, other_brand
):
    foreign_campaign = CampaignFactory(brand=other_brand)
    foreign_store = StoreFactory(brand=other_brand)
    own_campaign = CampaignFactory(brand=brand)

    placement = marketer_client.post(
        "/api/v1/manage/placements",
        {
            "campaign": foreign_campaign.id,
            "media_partner": "X",
            "name": "Y",
            "spend": "1",
            "destination_url": "https://x.example",
        },
        format="json",
    )
    offer = marketer_client.post(
        "/api/v1/manage/offers",
        offer_body(own_campaign.id, stores=[foreign_store.id]),
        format="json",
    )

    assert_problem(placement, 400, "validation_error")
    assert_problem(offer, 400, "validation_error")
    assert not Placement.objects.exists() and not Offer.objects.exists()


@pytest.mark.parametrize("field, value", [("brand", 999), ("tracking_token", "x"), ("nonsense", 1)])
def test_unknown_and_internal_fields_in_writes_are_rejected(marketer_client, brand, field, value):
    campaign = CampaignFactory(brand=brand)
    offer = OfferFactory(campaign=campaign, total_cap=10)
    Offer.objects.filter(id=offer.id).update(issued_count=3)

    response = marketer_client.patch(
        f"/api/v1/manage/offers/{offer.id}", {field: value}, format="json"
    )

    assert_problem(response, 400, "unknown_field")
    assert Offer.objects.get(id=offer.id).issued_count == 3


def test_read_only_counters_in_a_body_are_ignored(marketer_client, brand):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand), total_cap=10)
    Offer.objects.filter(id=offer.id).update(issued_count=3)

    response = marketer_client.patch(
        f"/api/v1/manage/offers/{offer.id}", {"issued_count": 0, "remaining": 10}, format="json"
    )

    assert response.status_code == 200 and response.json()["issued_count"] == 3
    assert Offer.objects.get(id=offer.id).issued_count == 3


def test_brand_in_an_update_is_ignored_and_the_row_keeps_its_tenant(
    marketer_client, brand, other_brand
):
    store = StoreFactory(brand=brand)

    marketer_client.patch(
        f"/api/v1/manage/stores/{store.id}", {"brand": other_brand.id, "name": "N"}, format="json"
    )

    store.refresh_from_db()
    assert store.brand_id == brand.id


@pytest.mark.parametrize(
    "body",
    [
        {**CAMPAIGN, "ends_at": "2026-05-01T00:00:00Z"},
        {**CAMPAIGN, "attribution_model": "magic"},
        {**CAMPAIGN, "click_window_days": -1},
        {**CAMPAIGN, "starts_at": "yesterday"},
        {**CAMPAIGN, "name": ""},
    ],
)
def test_invalid_campaigns_are_400_and_not_written(marketer_client, body):
    assert_problem(
        marketer_client.post("/api/v1/manage/campaigns", body, format="json"),
        400,
        "validation_error",
    )
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"reward_type": "percent_off", "reward_value": "150"},
        {"total_cap": 0},
        {"per_customer_cap": -1},
        {"valid_until": "2026-01-01T00:00:00Z"},
        {"code_prefix": "SUMMER!"},
        {"status": "deleted"},
        {"barcode": "pdf417"},
    ],
)
def test_invalid_offers_are_400_and_not_written(marketer_client, brand, extra):
    campaign = CampaignFactory(brand=brand)
    response = marketer_client.post(
        "/api/v1/manage/offers", offer_body(campaign.id, **extra), format="json"
    )

    assert_problem(response, 400, "validation_error")
    assert not Offer.objects.exists()


def test_duplicate_store_external_id_is_a_validation_error(marketer_client, brand):
    StoreFactory(brand=brand, external_id="7")

    response = marketer_client.post(
        "/api/v1/manage/stores", {"name": "B", "external_id": "7"}, format="json"
    )

    assert_problem(response, 400, "validation_error")
    assert Store.objects.count() == 1


def test_analyst_reads_but_cannot_write(brand):
    CampaignFactory(brand=brand)
    _, token = marketer(brand, role=Membership.Role.ANALYST)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.get("/api/v1/manage/campaigns").status_code == 200
    assert_problem(
        client.post("/api/v1/manage/campaigns", CAMPAIGN, format="json"), 403, "forbidden"
    )
    assert Campaign.objects.count() == 1


def test_without_token_the_management_api_is_401(client_api):
    assert_problem(client_api.get("/api/v1/manage/campaigns"), 401, "unauthenticated")
    client_api.credentials(HTTP_AUTHORIZATION="Token nope")
    assert_problem(client_api.get("/api/v1/manage/campaigns"), 401, "unauthenticated")


def test_schema_and_docs_are_served_without_a_cdn(client_api):
    schema = client_api.get("/api/schema/", HTTP_ACCEPT="application/json")
    docs = client_api.get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/v1/offers/{offer_id}/claim" in schema.json()["paths"]
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content and b"unpkg" not in docs.content
