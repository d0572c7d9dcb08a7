"""`make run` without DATABASE_URL serves the demo from SQLite: its walk-through must work there.

The hot paths run hand-written SQL, so this walks them on SQLite in a process of its own (the
rest of the suite runs on PostgreSQL): click, claim, validate, redeem, replay, void, redeem
again, a few unknown codes, and the report.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WALK = r"""
import json

import django

django.setup()
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
call_command("seed_demo", "--json", "--days", "2", stdout=open("seeded.json", "w"))
seeded = json.load(open("seeded.json"))
app = Client(HTTP_X_APP_KEY=seeded["app_key"])
pos = Client(HTTP_AUTHORIZATION="Bearer " + seeded["pos_api_key"])
store = seeded["store_external_ids"][0]
steps = {}


def post(client, path, body, **headers):
    response = client.post(path, json.dumps(body), content_type="application/json", **headers)
    return response.status_code, response.json()


click = Client().get(seeded["tracking_url"].split("testserver")[-1] + "?click_id=demo-click-42")
steps["click"] = click.status_code
offer = seeded["offer_ids"][0]
steps["claim"], claimed = post(
    app, f"/api/v1/offers/{offer}/claim", {"customer_ref": "shopper-42", "click_id": "demo-click-42"}
)
steps["claim_again"], again = post(app, f"/api/v1/offers/{offer}/claim", {"customer_ref": "shopper-42"})
steps["same_code"] = again["code"] == claimed["code"]
code = claimed["code"]
sale = {"code": code, "store_id": store, "transaction_id": "T-1001", "basket_total": "12.50"}
steps["validate"], validated = post(pos, "/api/v1/pos/generic/validate", sale)
steps["redeemable"] = validated["redeemable"]
steps["redeem"], redeemed = post(
    pos, "/api/v1/pos/generic/redemptions", sale, HTTP_IDEMPOTENCY_KEY="till-7-0001"
)
steps["replay"], replayed = post(
    pos, "/api/v1/pos/generic/redemptions", sale, HTTP_IDEMPOTENCY_KEY="till-7-0001"
)
steps["same_redemption"] = replayed["redemption_id"] == redeemed["redemption_id"]
steps["again"], refused = post(pos, "/api/v1/pos/generic/redemptions", {**sale, "transaction_id": "T-1"})
steps["again_code"] = refused["code"]
steps["void"], _ = post(
    pos, f"/api/v1/pos/generic/redemptions/{redeemed['redemption_id']}/void", {"reason": "wrong basket"}
)
steps["redeem_after_void"], _ = post(
    pos, "/api/v1/pos/generic/redemptions", {**sale, "transaction_id": "T-1002"}
)
steps["unknown"] = [
    post(pos, "/api/v1/pos/generic/redemptions", {**sale, "code": "NOPE" + str(n), "transaction_id": "X"})[1]["code"]
    for n in range(3)
]
report = Client(HTTP_AUTHORIZATION="Token " + seeded["api_token"]).get(
    f"/api/v1/manage/campaigns/{seeded['campaign_id']}/report?group_by=placement"
)
steps["report"] = report.status_code
print("STEPS " + json.dumps(steps))
"""


def test_the_demo_walk_through_works_on_sqlite(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DJANGO_SETTINGS_MODULE="config.settings",
        PUBLIC_BASE_URL="http://testserver",
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="WARNING",
    )
    done = subprocess.run(
        [sys.executable, "-c", WALK],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    steps = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("STEPS "))[6:])

    assert steps == {
        "click": 302,
        "claim": 201,
        "claim_again": 200,
        "same_code": True,
        "validate": 200,
        "redeemable": True,
        "redeem": 201,
        "replay": 201,
        "same_redemption": True,
        "again": 409,
        "again_code": "already_redeemed",
        "void": 200,
        "redeem_after_void": 201,
        "unknown": ["unknown_code", "unknown_code", "unknown_code"],
        "report": 200,
    }
