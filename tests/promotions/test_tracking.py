from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from promotions.models import Brand, Code, Touchpoint
from promotions.tracking.services import ingest_key_hash
from promotions.tracking.views import PIXEL
from tests.factories import PlacementFactory
from tests.helpers import assert_one_touch, assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def placement(campaign):
    return PlacementFactory(
        campaign=campaign, destination_url="https://shop.example/landing?utm=x&click_id=old"
    )


def test_click_records_a_touch_and_redirects_with_click_id(client_api, placement):
    with CaptureQueriesContext(connection) as queries:
        response = client_api.get(
            f"/t/{placement.tracking_token}", {"customer_ref": "c-1", "click_id": "clk-9"}
        )

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.netloc == "shop.example" and parse_qs(target.query) == {
        "utm": ["x"],
        "click_id": ["clk-9"],
    }
    assert_one_touch("click", placement, "c-1", "clk-9")
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1 and sum("INSERT INTO" in sql for sql in statements) == 1


def test_click_without_a_click_id_gets_a_fresh_one(client_api, placement):
    response = client_api.get(f"/t/{placement.tracking_token}")

    click_id = parse_qs(urlsplit(response["Location"]).query)["click_id"][0]
    assert len(click_id) == 32 and Touchpoint.objects.get().click_id == click_id


def test_unknown_tokens_are_404_not_500(client_api):
    assert_problem(client_api.get("/t/nope"), 404, "not_found")
    assert_problem(client_api.get("/i/nope.gif"), 404, "not_found")
    assert not Touchpoint.objects.exists()


def test_pixel_records_an_impression_and_returns_an_uncached_gif(client_api, placement):
    response = client_api.get(f"/i/{placement.tracking_token}.gif", {"customer_ref": "c-1"})

    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content == PIXEL and response.content.startswith(b"GIF89a")
    assert "no-store" in response["Cache-Control"]
    assert Touchpoint.objects.get().kind == "impression"


def test_claim_with_a_click_id_records_the_issuing_placement_and_stitches_the_click(
    client_api, app_client, placement, offer
):
    client_api.get(f"/t/{placement.tracking_token}", {"click_id": "clk-1"})

    app_client.post(
        f"/api/v1/offers/{offer.id}/claim",
        {"customer_ref": "shopper-7", "click_id": "clk-1"},
        format="json",
    )

    code = Code.objects.get()
    assert code.placement_id == placement.id and code.click_id == "clk-1"
    click = Touchpoint.objects.get(kind="click")
    assert click.customer_ref == "shopper-7"
    assert (
        Touchpoint.objects.filter(
            kind="claim", placement=placement, customer_ref="shopper-7"
        ).count()
        == 1
    )


def test_claim_with_an_unknown_click_id_is_not_attributed_to_anything(app_client, offer):
    app_client.post(
        f"/api/v1/offers/{offer.id}/claim",
        {"customer_ref": "s", "click_id": "forged"},
        format="json",
    )

    assert Code.objects.get().placement_id is None and not Touchpoint.objects.exists()


def test_server_to_server_batch_keeps_good_rows_and_reports_bad_ones(brand, placement, other_brand):
    brand.ingest_key_hash = ingest_key_hash("ing_secret")
    brand.save()
    foreign = PlacementFactory(campaign__brand=other_brand)
    now = timezone.now()
    events = [
        {
            "type": "impression",
            "placement_token": placement.tracking_token,
            "customer_ref": "a",
            "occurred_at": now.isoformat(),
        },
        {
            "type": "click",
            "placement_token": placement.tracking_token,
            "customer_ref": "b",
            "click_id": "k1",
            "occurred_at": now.isoformat(),
        },
        {
            "type": "click",
            "placement_token": foreign.tracking_token,
            "occurred_at": now.isoformat(),
        },
        {
            "type": "purchase",
            "placement_token": placement.tracking_token,
            "occurred_at": now.isoformat(),
        },
        {"type": "click", "placement_token": placement.tracking_token, "occurred_at": "yesterday"},
        {
            "type": "click",
            "placement_token": placement.tracking_token,
            "occurred_at": (now + timedelta(days=1)).isoformat(),
        },
        "not an object",
    ] + [
        {
            "type": "impression",
            "placement_token": placement.tracking_token,
            "occurred_at": now.isoformat(),
        }
    ] * 3000
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ing_secret")

    response = client.post("/api/v1/touchpoints", {"events": events}, format="json")

    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 3002 and body["rejected"] == 5
    assert [e["index"] for e in body["errors"]] == [2, 3, 4, 5, 6]
    assert Touchpoint.objects.count() == 3002
    assert not Touchpoint.objects.filter(brand=other_brand).exists()


def test_batch_needs_the_brands_ingest_key(client_api):
    assert_problem(
        client_api.post("/api/v1/touchpoints", {"events": []}, format="json"),
        401,
        "unauthenticated",
    )
    client_api.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert_problem(
        client_api.post("/api/v1/touchpoints", {"events": [{}]}, format="json"),
        401,
        "unauthenticated",
    )
    assert Brand.objects.filter(ingest_key_hash__isnull=False).count() == 0


def test_a_brand_admin_issues_an_ingest_key_that_then_works(brand, placement):
    from django.test import Client

    from tests.factories import marketer

    user, _ = marketer(brand)
    admin_client = Client()
    admin_client.force_login(user)

    page = admin_client.post(
        "/admin/promotions/brand/",
        {"action": "issue_ingest_key", "_selected_action": [brand.id]},
        follow=True,
    )

    key = (
        next(m.message for m in page.context["messages"])
        .split("<code class='secret'>")[1]
        .split("</code>")[0]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    event = {
        "type": "click",
        "placement_token": placement.tracking_token,
        "occurred_at": timezone.now().isoformat(),
    }
    assert (
        client.post("/api/v1/touchpoints", {"events": [event]}, format="json").json()["accepted"]
        == 1
    )
    Brand.objects.filter(id=brand.id).update(ingest_key_hash=None)
    assert client.post("/api/v1/touchpoints", {"events": [event]}, format="json").status_code == 401
