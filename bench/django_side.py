"""The parts of the benchmark that run inside Django, against the benchmark database.

Run as ``python -m bench.django_side <action> [args]``; prints one JSON object.
"""

import json
import os
import resource
import sys
import time
from datetime import timedelta
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.sql import round_trips_traced  # noqa: E402
from promotions import codes  # noqa: E402
from promotions.models import Brand, Campaign, Code, CodeJob, Offer, Placement, Store  # noqa: E402


def seed(code_count: int) -> dict:
    from redemptions import services
    from redemptions.models import PosIntegration

    now = timezone.now()
    brand = Brand.objects.create(name="Bench", slug=f"bench-{time.time_ns()}")
    store = Store.objects.create(brand=brand, name="Bench store", external_id="B-1")
    campaign = Campaign.objects.create(brand=brand, name="Bench", starts_at=now - timedelta(days=1))
    placement = Placement.objects.create(
        campaign=campaign,
        media_partner="Bench",
        name="p",
        spend=Decimal(1000),
        destination_url="https://example.com/landing",
    )
    offer = Offer.objects.create(
        campaign=campaign,
        title="Bench offer",
        reward_type="percent_off",
        reward_value=10,
        valid_from=now - timedelta(days=1),
        status="live",
    )
    integration = PosIntegration.objects.create(brand=brand, name="bench till", adapter="generic")
    issued = services.pos_credential_issue(integration)
    batch = codes.generate_many(code_count)
    with connection.cursor():
        from promotions.services import codes_insert

        for start in range(0, len(batch), 50_000):
            codes_insert(offer.id, None, batch[start : start + 50_000])
    return {
        "brand_id": brand.id,
        "app_key": brand.app_key,
        "store_id": store.external_id,
        "offer_id": offer.id,
        "pos_key": issued.api_key,
        "token": placement.tracking_token,
        "codes": batch,
        "campaign_id": campaign.id,
        "placement_id": placement.id,
        "store_pk": store.id,
        "integration_id": integration.id,
    }


def bulk(count: int) -> dict:
    """Generate ``count`` codes through the real job; then COPY the same rows raw, for reference."""
    from promotions.services import code_job_run

    offer = Offer.objects.get(id=seed(0)["offer_id"])  # an offer of its own, no redemptions
    job = CodeJob.objects.create(brand_id=offer.campaign.brand_id, offer=offer, requested=count)
    started = time.perf_counter()
    code_job_run(job.id)
    job_seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Reference: the same rows as one raw COPY (text prepared beforehand, not timed).
    rows = list(
        Code.objects.filter(offer=offer, kind="unique").values_list("code", flat=True)[:count]
    )
    Code.objects.filter(offer=offer)._raw_delete(Code.objects.db)  # no 1M-row collector
    now = timezone.now().isoformat()
    payload = "".join(
        f"{offer.id}\t{c}\tunique\t\\N\t\t\tissued\t0\t{now}\n" for c in rows
    ).encode()
    del rows
    with connection.cursor() as cursor:
        raw = cursor.cursor
        started = time.perf_counter()
        with raw.copy(
            "COPY promotions_code (offer_id, code, kind, placement_id, click_id, customer_ref, "
            "status, use_count, issued_at) FROM STDIN"
        ) as copy:
            copy.write(payload)
        copy_seconds = time.perf_counter() - started
    return {
        "count": count,
        "job_seconds": job_seconds,
        "copy_seconds": copy_seconds,
        "job_peak_mb": peak_mb,
    }


def attribution_backlog(count: int) -> dict:
    """``count`` unattributed redemptions, each with two touches, then the sweep drains them."""
    from redemptions.attribution.credit import attribution_sweep
    from redemptions.models import Redemption

    seeded = seed(0)
    with connection.cursor() as c:
        c.execute(
            """
            INSERT INTO promotions_code (offer_id, code, kind, click_id, customer_ref, status,
                use_count, issued_at, redeemed_at)
            SELECT %(offer)s, 'ATTR' || g, 'unique', '', 'cust-' || g, 'redeemed', 1,
                now() - interval '2 hours', now() - interval '1 hour'
            FROM generate_series(1, %(n)s) g
            """,
            {"offer": seeded["offer_id"], "n": count},
        )
        c.execute(
            """
            INSERT INTO promotions_touchpoint (brand_id, campaign_id, placement_id, kind,
                customer_ref, click_id, occurred_at, created_at)
            SELECT %(brand)s, %(campaign)s, %(placement)s, k, 'cust-' || g, '',
                now() - interval '3 hours', now()
            FROM generate_series(1, %(n)s) g, (VALUES ('click'), ('impression')) AS kinds(k)
            """,
            {
                "brand": seeded["brand_id"],
                "campaign": seeded["campaign_id"],
                "placement": seeded["placement_id"],
                "n": count,
            },
        )
        c.execute(
            """
            INSERT INTO redemptions_redemption (code_id, unique_code, offer_id, campaign_id,
                brand_id, customer_ref, store_id, integration_id, transaction_id, basket_total,
                discount, status, occurred_at, redeemed_at, void_reason)
            SELECT id, true, offer_id, %(campaign)s, %(brand)s, customer_ref, %(store)s,
                %(integration)s, 'T' || id, 10, 1, 'redeemed', redeemed_at, redeemed_at, ''
            FROM promotions_code WHERE offer_id = %(offer)s
            """,
            {
                "campaign": seeded["campaign_id"],
                "brand": seeded["brand_id"],
                "store": seeded["store_pk"],
                "integration": seeded["integration_id"],
                "offer": seeded["offer_id"],
            },
        )
        c.execute("ANALYZE")
    started = time.perf_counter()
    done = attribution_sweep(limit=count + 1)
    seconds = time.perf_counter() - started
    left = Redemption.objects.filter(attributed_at__isnull=True).count()
    return {"count": done, "seconds": seconds, "unattributed_left": left}


def redeem_profile(warm_code: str, code: str, store_id: str, pos_key: str) -> dict:
    """Statements and round trips of one redeem through Django's test client, after a first
    redeem in the same process (which connects and prepares the statements)."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()

    def redeem(code: str, txn: str):
        body = {"code": code, "store_id": store_id, "transaction_id": txn, "basket_total": "10"}
        return client.post(
            "/api/v1/pos/generic/redemptions",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {pos_key}",
            HTTP_IDEMPOTENCY_KEY=txn,
        )

    redeem(warm_code, "prof-warm")
    with round_trips_traced() as trips, CaptureQueriesContext(connection) as queries:
        response = redeem(code, "prof-1")
    statements = [q["sql"].strip() for q in queries.captured_queries]
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
    return {
        "status": response.status_code,
        "round_trips": len(trips),
        "working": len([s for s in statements if not s.startswith(control)]),
    }


if __name__ == "__main__":
    action, *args = sys.argv[1:]
    if action == "seed":
        result = seed(int(args[0]))
    elif action == "bulk":
        result = bulk(int(args[0]))
    elif action == "attribution":
        result = attribution_backlog(int(args[0]))
    elif action == "profile":
        result = redeem_profile(*args)
    else:
        raise SystemExit(f"unknown action {action}")
    print("JSON " + json.dumps(result))
