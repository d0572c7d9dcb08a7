import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from promotions.models import Brand, Campaign, Offer, Store


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_one_json_object(capsys):
    call_command("seed_demo", "--json", "--days", "3")
    first = json.loads(capsys.readouterr().out)
    call_command("seed_demo", "--json", "--days", "3")
    second = json.loads(capsys.readouterr().out)

    assert first == second
    assert {
        "admin",
        "api_token",
        "app_key",
        "brand_id",
        "store_ids",
        "campaign_id",
        "placement_ids",
        "offer_ids",
    } <= set(first)
    assert Brand.objects.count() == 1 and Store.objects.count() == 3
    assert Campaign.objects.count() == 1 and Offer.objects.count() == 2


@pytest.mark.django_db
def test_the_seeded_keys_work(capsys):
    call_command("seed_demo", "--json", "--no-history")
    seeded = json.loads(capsys.readouterr().out)
    app = APIClient()
    app.credentials(HTTP_X_APP_KEY=seeded["app_key"])
    manage = APIClient()
    manage.credentials(HTTP_AUTHORIZATION=f"Token {seeded['api_token']}")

    offers = app.get("/api/v1/offers", {"lat": 37.79, "lng": -122.40}).json()["results"]
    claimed = app.post(
        f"/api/v1/offers/{seeded['offer_ids'][0]}/claim", {"customer_ref": "s-42"}, format="json"
    )

    assert {o["id"] for o in offers} == set(seeded["offer_ids"])
    assert claimed.status_code == 201
    assert manage.get(f"/api/v1/manage/campaigns/{seeded['campaign_id']}").status_code == 200
    # through the login form a person uses (django-axes wants the request a login comes with)
    assert APIClient().post("/admin/login/", seeded["admin"]).status_code == 302
