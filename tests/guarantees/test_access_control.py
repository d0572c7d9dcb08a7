"""OWASP API1 (BOLA): every endpoint, walked from the URL conf, hides brand B from brand A.

A new route with a path parameter fails ``test_every_parameterised_route_is_covered`` until it
is added to ``FOREIGN`` (how to call it with brand B's object) or ``PUBLIC`` (with the reason).
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from promotions.models import Code, Offer, Placement, Store
from redemptions.models import PosIntegration, Redemption
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    CodeFactory,
    OfferFactory,
    PlacementFactory,
    StoreFactory,
    marketer,
    pos_integration,
)

PUBLIC = {
    "track-click": "ad tracking link: the placement token is the unguessable credential",
    "track-impression": "impression pixel: same token as the tracking link",
}


def routes():
    """(name, pattern) of every named route with path parameters, outside the admin and docs."""
    found = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.app_name == "admin":
                    continue
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and entry.name:
                pattern = prefix + str(entry.pattern)
                if "<" in pattern or "(?P" in pattern:
                    found.append((entry.name, pattern))

    walk(get_resolver().url_patterns)
    return found


@pytest.fixture
def world(db):
    a, b = BrandFactory(), BrandFactory()
    b_campaign = CampaignFactory(brand=b)
    b_store = StoreFactory(brand=b)
    b_offer = OfferFactory(campaign=b_campaign)
    b_code = CodeFactory(offer=b_offer, customer_ref="b-shopper")
    b_placement = PlacementFactory(campaign=b_campaign)
    b_integration, b_key, _ = pos_integration(b)
    b_till = APIClient()
    b_till.credentials(HTTP_AUTHORIZATION=f"Bearer {b_key}")
    b_redemption = b_till.post(
        "/api/v1/pos/generic/redemptions",
        {
            "code": b_code.code,
            "store_id": b_store.external_id,
            "transaction_id": "B-1",
            "basket_total": "5",
        },
        format="json",
    ).json()["redemption_id"]
    StoreFactory(brand=a)
    _, token = marketer(a)
    _, a_key, _ = pos_integration(a)
    clients = {"marketer": APIClient(), "app": APIClient(), "till": APIClient()}
    clients["marketer"].credentials(HTTP_AUTHORIZATION=f"Token {token}")
    clients["app"].credentials(HTTP_X_APP_KEY=a.app_key)
    clients["till"].credentials(HTTP_AUTHORIZATION=f"Bearer {a_key}")
    from promotions.models import CodeJob

    b_job = CodeJob.objects.create(brand=b, offer=b_offer, requested=1)
    return {
        "b": b,
        "campaign": b_campaign,
        "store": b_store,
        "offer": b_offer,
        "code": b_code,
        "placement": b_placement,
        "integration": b_integration,
        "redemption": b_redemption,
        "job": b_job,
        "clients": clients,
    }


# route name -> (client, method, url builder)
FOREIGN = {
    "store-detail": ("marketer", "get", lambda w: f"/api/v1/manage/stores/{w['store'].id}"),
    "campaign-detail": (
        "marketer",
        "get",
        lambda w: f"/api/v1/manage/campaigns/{w['campaign'].id}",
    ),
    "placement-detail": (
        "marketer",
        "get",
        lambda w: f"/api/v1/manage/placements/{w['placement'].id}",
    ),
    "offer-detail": ("marketer", "get", lambda w: f"/api/v1/manage/offers/{w['offer'].id}"),
    "offer-codes-csv": (
        "marketer",
        "get",
        lambda w: f"/api/v1/manage/offers/{w['offer'].id}/codes.csv",
    ),
    "offer-generate-codes": (
        "marketer",
        "post",
        lambda w: f"/api/v1/manage/offers/{w['offer'].id}/generate-codes",
    ),
    "job-detail": ("marketer", "get", lambda w: f"/api/v1/manage/jobs/{w['job'].id}"),
    "pos-integration-detail": (
        "marketer",
        "get",
        lambda w: f"/api/v1/manage/pos-integrations/{w['integration'].id}",
    ),
    "pos-integration-rotate": (
        "marketer",
        "post",
        lambda w: f"/api/v1/manage/pos-integrations/{w['integration'].id}/rotate",
    ),
    "pos-integration-revoke-old": (
        "marketer",
        "post",
        lambda w: f"/api/v1/manage/pos-integrations/{w['integration'].id}/revoke-old",
    ),
    "campaign-report": (
        "marketer",
        "get",
        lambda w: f"/api/v1/manage/campaigns/{w['campaign'].id}/report",
    ),
    "campaign-report-csv": (
        "marketer",
        "get",
        lambda w: f"/api/v1/manage/campaigns/{w['campaign'].id}/report.csv",
    ),
    "mobile-claim": ("app", "post", lambda w: f"/api/v1/offers/{w['offer'].id}/claim"),
    "mobile-code-image": ("app", "get", lambda w: f"/api/v1/codes/{w['code'].code}.png"),
    "mobile-wallet": ("app", "get", lambda w: "/api/v1/customers/b-shopper/codes"),
    "pos-generic-void": (
        "till",
        "post",
        lambda w: f"/api/v1/pos/generic/redemptions/{w['redemption']}/void",
    ),
}


def test_every_parameterised_route_is_covered():
    names = {name for name, _ in routes()}
    missing = names - set(FOREIGN) - set(PUBLIC)
    assert not missing, f"routes with parameters and no cross-brand test: {sorted(missing)}"
    assert set(FOREIGN) | set(PUBLIC) <= names, "a covered route no longer exists"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_brand_a_gets_404_for_brand_b_objects(world, name):
    client_kind, method, url = FOREIGN[name]
    client = world["clients"][client_kind]
    before = (
        Code.objects.count(),
        Redemption.objects.filter(status="redeemed").count(),
        PosIntegration.objects.get(id=world["integration"].id).credentials.count(),
    )

    body = (
        {"customer_ref": "a-shopper"}
        if name == "mobile-claim"
        else {"count": 1}
        if "generate" in name
        else {}
    )
    response = getattr(client, method)(url(world), body, format="json")

    if name == "mobile-wallet":  # customer refs are per brand: brand B's shopper has nothing here
        assert response.status_code == 200 and response.json()["results"] == []
    else:
        assert response.status_code == 404, (name, response.status_code, response.content[:200])
        assert response.json()["code"] in ("not_found", "redemption_not_found")
    after = (
        Code.objects.count(),
        Redemption.objects.filter(status="redeemed").count(),
        PosIntegration.objects.get(id=world["integration"].id).credentials.count(),
    )
    assert after == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "resource", ["stores", "campaigns", "placements", "offers", "jobs", "pos-integrations"]
)
def test_lists_never_show_brand_b(world, resource):
    response = world["clients"]["marketer"].get(f"/api/v1/manage/{resource}")

    foreign_ids = {
        "stores": {world["store"].id},
        "campaigns": {world["campaign"].id},
        "placements": {world["placement"].id},
        "offers": {world["offer"].id},
        "jobs": {world["job"].id},
        "pos-integrations": {world["integration"].id},
    }[resource]
    assert response.status_code == 200
    assert not {row["id"] for row in response.json()["results"]} & foreign_ids


@pytest.mark.django_db
def test_tills_cannot_redeem_or_validate_brand_b_codes(world):
    till = world["clients"]["till"]
    store_a = Store.objects.exclude(brand=world["b"]).first()
    body = {
        "code": world["code"].code,
        "store_id": store_a.external_id,
        "transaction_id": "X",
        "basket_total": "1",
    }

    for path in ("/api/v1/pos/generic/validate", "/api/v1/pos/generic/redemptions"):
        response = till.post(path, body, format="json")
        assert response.status_code == 404 and response.json()["code"] == "unknown_code"
    foreign_store = {**body, "store_id": world["store"].external_id}
    assert (
        till.post("/api/v1/pos/generic/redemptions", foreign_store, format="json").json()["code"]
        == "unknown_store"
    )


@pytest.mark.django_db
def test_mass_assignment_is_rejected_or_ignored(world):
    marketer_client, app, till = (world["clients"][k] for k in ("marketer", "app", "till"))
    a = Store.objects.exclude(brand=world["b"]).first().brand
    offer = OfferFactory(campaign=CampaignFactory(brand=a), total_cap=10)
    placement = PlacementFactory(campaign=offer.campaign)
    token_before = placement.tracking_token

    claim = app.post(
        f"/api/v1/offers/{offer.id}/claim",
        {"customer_ref": "x", "status": "redeemed", "expires_at": "2099-01-01T00:00:00Z"},
        format="json",
    )
    patch_offer = marketer_client.patch(
        f"/api/v1/manage/offers/{offer.id}",
        {"issued_count": 0, "campaign": world["campaign"].id},
        format="json",
    )
    patch_placement = marketer_client.patch(
        f"/api/v1/manage/placements/{placement.id}", {"tracking_token": "mine"}, format="json"
    )
    code = CodeFactory(offer=offer)
    store = Store.objects.filter(brand=a).first()
    redeem = till.post(
        "/api/v1/pos/generic/redemptions",
        {
            "code": code.code,
            "store_id": store.external_id,
            "transaction_id": "M",
            "basket_total": "10.00",
            "discount": "999",
            "status": "voided",
            "redeemed_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )

    assert claim.status_code == 400 and claim.json()["code"] == "unknown_field"
    assert patch_offer.status_code == 400
    assert Offer.objects.get(id=offer.id).campaign_id == offer.campaign_id
    assert (
        patch_placement.status_code == 400
        and Placement.objects.get(id=placement.id).tracking_token == token_before
    )
    assert redeem.status_code == 201
    redemption = Redemption.objects.get(transaction_id="M")
    assert (str(redemption.discount), redemption.status) == ("2.00", "redeemed")
    assert redemption.redeemed_at.year > 2000
