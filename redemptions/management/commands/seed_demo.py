import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from promotions.demo import seed_demo
from promotions.models import Campaign
from redemptions.demo import seed_pos
from redemptions.demo_history import DAYS, history_seed
from redemptions.models import PosIntegration


class Command(BaseCommand):
    help = (
        f"Load (or refresh) the demo brand with {DAYS} days of history; prints logins, keys and "
        "a curl walk-through."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object only.")
        parser.add_argument(
            "--seed",
            type=int,
            default=42,
            help="The history's random seed (same seed, same story).",
        )
        parser.add_argument(
            "--days", type=int, default=DAYS, help=f"Days of history (default {DAYS})."
        )
        parser.add_argument(
            "--no-history", action="store_true", help="Only the brand, no past activity."
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            seeded = seed_demo()
            seeded["pos_api_key"] = seed_pos(seeded["brand_id"])
        if not options["no_history"]:
            seeded["history"] = history_seed(
                Campaign.objects.get(id=seeded["campaign_id"]),
                PosIntegration.objects.get(brand_id=seeded["brand_id"], adapter="generic"),
                seed=options["seed"],
                days=options["days"],
            )
        if options["json"]:
            self.stdout.write(json.dumps(seeded))
            return
        self.stdout.write(walkthrough(seeded, settings.PUBLIC_BASE_URL))


WALKTHROUGH = r"""
Demo loaded: {history}.
  Admin:      {base}/admin/   user '{user}'  password '{password}'
              the campaign dashboard: {base}/admin/promotions/campaign/{campaign_id}/dashboard/
  API docs:   {base}/api/docs/
  App key:    {app_key}
  POS key:    {pos_api_key}
  API token:  {api_token}   (management API: Authorization: Token ...)

Walk-through: paste the whole block into a shell (needs curl and jq). Each run is a new shopper,
so it can run again and again; the first error stops it and shows the problem document.

bash -euo pipefail <<'WALK'
B={base}; APP={app_key}; POS={pos_api_key}; TOKEN={api_token}
RUN=$(date +%s)-$RANDOM   # a new shopper, click and sale each run
call() {{ curl -sS --fail-with-body "$@" || {{ echo "^ failed: curl $*" >&2; return 1; }}; }}
# 1. a shopper taps an ad: a click, redirected to the landing page with a click_id
call -o /dev/null -w '%{{redirect_url}}\n' "{tracking_url}?click_id=click-$RUN"
# 2. the app lists offers near the shopper and claims one with that click_id
call "$B/api/v1/offers?lat=37.79&lng=-122.40" -H "X-App-Key: $APP" | jq '.results[] | {{id, title, nearest_store}}'
call -X POST $B/api/v1/offers/{offer_id}/claim -H "X-App-Key: $APP" -H 'Content-Type: application/json' \
  -d '{{"customer_ref": "shopper-'$RUN'", "click_id": "click-'$RUN'"}}' > claim.json
jq . claim.json; CODE=$(jq -er .code claim.json)
call $B/api/v1/codes/$CODE.png -H "X-App-Key: $APP" -o code.png   # the QR (or Code 128) for the till
# 3. the till validates, redeems, retries (same Idempotency-Key: same answer), voids, redeems again
call -X POST $B/api/v1/pos/generic/validate -H "Authorization: Bearer $POS" -H 'Content-Type: application/json' \
  -d '{{"code": "'$CODE'", "store_id": "{store}", "basket_total": "12.50"}}' | jq
SALE='{{"code": "'$CODE'", "store_id": "{store}", "transaction_id": "T-'$RUN'", "basket_total": "12.50"}}'
call -X POST $B/api/v1/pos/generic/redemptions -H "Authorization: Bearer $POS" -H "Idempotency-Key: till-7-$RUN" \
  -H 'Content-Type: application/json' -d "$SALE" > redemption.json; jq . redemption.json
call -i -X POST $B/api/v1/pos/generic/redemptions -H "Authorization: Bearer $POS" -H "Idempotency-Key: till-7-$RUN" \
  -H 'Content-Type: application/json' -d "$SALE" | grep -i -e '^HTTP' -e replayed
call -X POST $B/api/v1/pos/generic/redemptions/$(jq -er .redemption_id redemption.json)/void \
  -H "Authorization: Bearer $POS" -H 'Content-Type: application/json' -d '{{"reason": "wrong basket"}}' | jq
call -X POST $B/api/v1/pos/generic/redemptions -H "Authorization: Bearer $POS" -H 'Content-Type: application/json' \
  -d '{{"code": "'$CODE'", "store_id": "{store}", "transaction_id": "T-'$RUN'-2", "basket_total": "14.00"}}' | jq
# 4. the marketer's report: the redemption credited to the placement whose ad was clicked
{report_wait}call "$B/api/v1/manage/campaigns/{campaign_id}/report?group_by=placement" -H "Authorization: Token $TOKEN" | jq
WALK
"""


def walkthrough(seeded: dict, base: str) -> str:
    return WALKTHROUGH.format(
        base=base,
        user=seeded["admin"]["username"],
        password=seeded["admin"]["password"],
        app_key=seeded["app_key"],
        pos_api_key=seeded["pos_api_key"],
        api_token=seeded["api_token"],
        tracking_url=seeded["tracking_url"],
        offer_id=seeded["offer_ids"][0],
        store=seeded["store_external_ids"][0],
        campaign_id=seeded["campaign_id"],
        history=_told(seeded.get("history")),
        report_wait=(
            "sleep 12  # the roll-ups refresh every 10 s\n"
            if settings.CELERY_BROKER_URL and not settings.CELERY_TASK_ALWAYS_EAGER
            else ""
        ),
    )


def _told(history: dict | None) -> str:
    if not history:
        return "the brand, no history"
    return (
        f"{history['impressions']:,} impressions, {history['clicks']:,} clicks, "
        f"{history['claims']:,} codes claimed ({history['claimed_through_ads']:,} through an ad), "
        f"{history['redemptions']:,} redemptions "
        f"and {history['voids']:,} voids over {DAYS} days"
    )
