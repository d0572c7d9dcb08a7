"""The marketer's admin end to end, in headless Chromium driven by Playwright (playwright-core).

Screenshots land in ``test-artifacts/e2e/`` (the dashboard's is the one the README shows).
"""

import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from promotions.models import Code, Membership, Offer, Placement
from promotions.services import code_job_create
from redemptions import reports
from redemptions.models import Redemption
from tests.factories import BrandFactory, CampaignFactory, StoreFactory, pos_integration

HERE = Path(__file__).parent
ARTIFACTS = HERE.parent.parent / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("CI")
        and not (Path(CHROMIUM).exists() and (HERE / "node_modules").exists()),
        reason="needs Debian's chromium and `npm ci` in tests/e2e (make test installs both)",
    ),
]


def browser(phase: str, **env) -> dict:
    result = subprocess.run(
        ["node", str(HERE / "admin.mjs"), phase],
        env={**os.environ, "ARTIFACTS": str(ARTIFACTS), "CHROMIUM": CHROMIUM, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_a_marketer_sets_up_a_campaign_and_reads_its_dashboard(live_server):
    brand, rival = BrandFactory(name="Bean There"), BrandFactory(name="Rival Roasters")
    store = StoreFactory(brand=brand, name="Main Street")
    rival_campaign = CampaignFactory(brand=rival, name="Rival secret campaign")
    user = get_user_model().objects.create_user("maria", password="correct-horse-9", is_staff=True)
    Membership.objects.create(user=user, brand=brand, role=Membership.Role.ADMIN)
    login = {"BASE_URL": live_server.url, "USERNAME": "maria", "PASSWORD": "correct-horse-9"}

    built = browser("build", **login, RIVAL_CAMPAIGN_ID=str(rival_campaign.id))

    assert built["preview_has_qr"]
    assert "100%" in built["job_progress"] and "500 of 500" in built["job_progress"]
    placement = Placement.objects.get(id=built["placement_id"])
    assert built["tracking_link"].endswith(f"/t/{placement.tracking_token}")
    assert Code.objects.filter(offer_id=built["offer_id"], placement=placement).count() == 500
    assert (
        "Holiday coffee" in built["campaign_list"]
        and "Rival secret campaign" not in built["campaign_list"]
    )
    assert "Rival secret campaign" not in built["rival_page"] and built["rival_url"].endswith(
        "/admin/"
    )

    # Shoppers: one taps the ad and claims; one hands over a bulk code; one walks in (organic).
    web, app = APIClient(), APIClient()
    app.credentials(HTTP_X_APP_KEY=brand.app_key)
    _, key, _ = pos_integration(brand)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    web.get(f"/t/{placement.tracking_token}", {"click_id": "e2e-click"})
    web.get(f"/i/{placement.tracking_token}.gif")
    claimed = app.post(
        f"/api/v1/offers/{built['offer_id']}/claim",
        {"customer_ref": "s-1", "click_id": "e2e-click"},
        format="json",
    ).json()["code"]
    walk_in = app.post(
        f"/api/v1/offers/{built['offer_id']}/claim", {"customer_ref": "s-2"}, format="json"
    ).json()["code"]
    bulk = Code.objects.filter(offer_id=built["offer_id"], placement=placement).first().code
    for i, code in enumerate((claimed, bulk, walk_in)):
        response = till.post(
            "/api/v1/pos/generic/redemptions",
            {
                "code": code,
                "store_id": store.external_id,
                "transaction_id": f"E{i}",
                "basket_total": "20.00",
            },
            format="json",
        )
        assert response.status_code == 201
    assert Redemption.objects.filter(attributed_at__isnull=False).count() == 3

    shown = browser("dashboard", **login, CAMPAIGN_ID=str(built["campaign_id"]))

    report = reports.campaign_report(placement.campaign, "placement")
    assert {c["id"] for c in shown["charts"]} == {"chart-funnel", "chart-daily", "chart-placements"}
    for chart in shown["charts"]:
        assert chart["width"] > 0 and chart["painted"] > 500, chart
    assert shown["kpis"]["kpi-redemptions"] == "3"
    assert shown["kpis"]["kpi-spend"] == "300.00 USD"
    assert (
        shown["kpis"]["kpi-cpr"] == f"{report['totals']['cost_per_redemption']} USD" == "100.00 USD"
    )
    assert "Reels December" in shown["placements_table"] and "150.00" in shown["placements_table"]
    assert "Main Street" in shown["stores_table"]
    assert report["totals"]["revenue"] == str(Decimal("60.00"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_the_seeded_demo_is_worth_a_screenshot(live_server, capsys):
    """What a marketer evaluating the product sees after `make run`: the demo's history in
    every chart, a dashboard button on the campaign, and the admin's rough edges gone."""
    call_command("seed_demo", "--json")
    seeded = json.loads(capsys.readouterr().out)
    offer = Offer.objects.get(id=seeded["offer_ids"][0])
    job = code_job_create(offer=offer, count=10, placement=None)
    login = {"BASE_URL": live_server.url, **{k.upper(): v for k, v in seeded["admin"].items()}}

    shown = browser("demo", **login, CAMPAIGN_ID=str(seeded["campaign_id"]), JOB_ID=str(job.id))

    assert "POS integrations" in shown["menu"] and "Pos integrations" not in shown["menu"]
    assert shown["view_site"] == "/api/docs/"
    assert shown["favicon"] == {"status": 200, "type": "image/x-icon"}
    assert shown["brand_preselected"] == str(seeded["brand_id"])
    assert shown["job_buttons"] == 0
    assert shown["list_has_dashboard"]
    assert shown["dashboard_url"].endswith(f"/campaign/{seeded['campaign_id']}/dashboard/")
    assert shown["overflow"] <= 0  # usable at 1,280 px: nothing cut off to the right
    charts = {chart["id"]: chart for chart in shown["charts"]}
    assert all(chart["painted"] > 2000 and chart["precision"] == 0 for chart in charts.values())
    assert charts["chart-daily"]["points"] >= 59  # every day of the history
    assert float(shown["kpis"]["kpi-redemptions"]) > 100
    docs = HERE.parent.parent / "docs" / "img"
    if docs.exists():  # the README's first screen shows exactly this
        shutil.copy(ARTIFACTS / "demo-dashboard.png", docs / "dashboard.png")


def test_a_marketer_turns_on_two_factor_and_the_next_login_asks_for_the_code(live_server):
    user = get_user_model().objects.create_user("tomas", password="correct-horse-9", is_staff=True)
    Membership.objects.create(user=user, brand=BrandFactory(), role=Membership.Role.ANALYST)
    login = {"BASE_URL": live_server.url, "USERNAME": "tomas", "PASSWORD": "correct-horse-9"}

    shown = browser("two-factor", **login)

    assert shown["qr_loaded"]
    assert shown["after_setup"] == "/admin/" and "Two-factor sign-in is on" in shown["message"]
    assert shown["asked_at"] == "/admin/two-factor/?next=%2Fadmin%2F"
    assert shown["after_verify"] == "/admin/"
    assert TOTPDevice.objects.get(user=user).confirmed
