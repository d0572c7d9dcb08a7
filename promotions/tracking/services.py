"""Recording touchpoints: one hit from an ad (click or impression), or an ad server's batch."""

import hashlib
import secrets
import uuid

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core import bounds
from core.observability import TOUCHPOINTS
from core.sql import prepared_cursor
from promotions.models import Brand, Campaign, Placement, Touchpoint

MAX_BATCH = 10_000


def _placement(token: str):
    return (
        Placement.objects.filter(tracking_token=token)
        .values_list("id", "campaign_id", "campaign__brand_id", "destination_url")
        .first()
    )


def clean(value: str | None, limit: int) -> str:
    return (value or "").strip()[:limit]


# Hot path: on PostgreSQL one statement finds the placement, records the touch and returns the
# destination (a CTE), instead of an ORM read plus an ORM insert.
_TOUCH_SQL = f"""
    WITH p AS (
        SELECT p.id, p.campaign_id, c.brand_id, p.destination_url
        FROM {Placement._meta.db_table} p JOIN {Campaign._meta.db_table} c ON c.id = p.campaign_id
        WHERE p.tracking_token = %(token)s
    ), touch AS (
        INSERT INTO {Touchpoint._meta.db_table}
            (brand_id, campaign_id, placement_id, kind, customer_ref, click_id, occurred_at, created_at)
        SELECT brand_id, campaign_id, id, %(kind)s, %(customer_ref)s, %(click_id)s, %(now)s, %(now)s FROM p
        RETURNING id
    )
    SELECT destination_url FROM p
"""


def touch_record(token: str, kind: str, customer_ref: str, click_id: str) -> str | None:
    """Record one touch; the placement's destination, or None for an unknown token."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        with prepared_cursor() as cursor:
            cursor.execute(
                _TOUCH_SQL,
                {
                    "token": token,
                    "kind": kind,
                    "customer_ref": customer_ref,
                    "click_id": click_id,
                    "now": now,
                },
            )
            row = cursor.fetchone()
        return row[0] if row else None
    found = _placement(token)
    if found is None:
        return None
    placement_id, campaign_id, brand_id, destination = found
    Touchpoint.objects.create(
        brand_id=brand_id,
        campaign_id=campaign_id,
        placement_id=placement_id,
        kind=kind,
        customer_ref=customer_ref,
        click_id=click_id,
        occurred_at=now,
    )
    return destination


def touch_row(brand_id: int, placements: dict, item) -> Touchpoint:
    if not isinstance(item, dict):
        raise ValueError("each event must be an object")
    kind = item.get("type") or item.get("kind")
    if kind not in (Touchpoint.Kind.IMPRESSION, Touchpoint.Kind.CLICK):
        raise ValueError("type must be 'impression' or 'click'")
    placement = placements.get(item.get("placement_token"))
    if placement is None:
        raise ValueError("unknown placement_token")
    occurred = item.get("occurred_at")
    at = parse_datetime(occurred) if isinstance(occurred, str) else None
    if at is None or at.tzinfo is None:
        raise ValueError("occurred_at must be an ISO 8601 time with an offset")
    if at < bounds.EARLIEST_EVENT:
        raise ValueError("occurred_at must be no earlier than 2000-01-01")
    if at > timezone.now() + timezone.timedelta(minutes=5):
        raise ValueError("occurred_at is in the future")
    customer_ref, click_id = item.get("customer_ref", ""), item.get("click_id", "")
    for name, value, limit in (("customer_ref", customer_ref, 128), ("click_id", click_id, 64)):
        if not isinstance(value, str) or len(value) > limit or bounds.text_problem(value):
            raise ValueError(f"{name} must be text of at most {limit} characters, without NUL")
    placement_id, campaign_id = placement
    return Touchpoint(
        brand_id=brand_id,
        campaign_id=campaign_id,
        placement_id=placement_id,
        kind=kind,
        customer_ref=customer_ref,
        click_id=click_id or (uuid.uuid4().hex if kind == Touchpoint.Kind.CLICK else ""),
        occurred_at=at,
    )


def touchpoints_ingest(brand_id: int, events: list) -> tuple[int, list[dict]]:
    """Record an ad server's events of the brand, all valid ones in one transaction; how many
    were recorded, and one error per refused event (by index)."""
    tokens = {e.get("placement_token") for e in events if isinstance(e, dict)}
    placements = {
        token: (pid, cid)
        for token, pid, cid in Placement.objects.filter(
            tracking_token__in=[
                t for t in tokens if isinstance(t, str) and not bounds.text_problem(t)
            ],
            campaign__brand_id=brand_id,
        ).values_list("tracking_token", "id", "campaign_id")
    }
    rows, errors = [], []
    for index, item in enumerate(events):
        try:
            rows.append(touch_row(brand_id, placements, item))
        except ValueError as error:
            errors.append({"index": index, "code": "invalid_event", "detail": str(error)})
    with transaction.atomic():
        Touchpoint.objects.bulk_create(rows, batch_size=2000)
    for row in rows:
        TOUCHPOINTS.labels(row.kind).inc()
    return len(rows), errors


def ingest_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ingest_key_issue(brand: Brand) -> str:
    """A new ingest key for the brand's ad servers; only its digest is kept, the old one stops."""
    key = "ing_" + secrets.token_urlsafe(24)
    Brand.objects.filter(id=brand.id).update(ingest_key_hash=ingest_key_hash(key))
    return key
