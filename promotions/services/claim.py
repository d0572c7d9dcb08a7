"""A shopper claims an offer: the code issued to them, within the offer's caps, tied to the ad
click that led there."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.sql import JSON_AGG, converted, json_list, prepared_cursor
from promotions import codes
from promotions.models import (
    Campaign,
    Code,
    CustomerClaim,
    Offer,
    Store,
    Touchpoint,
)
from promotions.services.offers import offer_check_open

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimResult:
    code: Code
    created: bool
    store_ids: list[int] = field(default_factory=list)  # where the offer is valid (all: empty)


# Hot path: every statement of a claim is hand-written and prepared once per connection (the
# ORM compiled five queries per claim, which cost more than PostgreSQL ran them in; see
# docs/benchmarks.md). Tests cover every branch, on PostgreSQL and SQLite (the demo).
_CLAIM_OFFER_FIELDS = [
    *Offer._meta.concrete_fields,
    Campaign._meta.get_field("starts_at"),
    Campaign._meta.get_field("ends_at"),
]
_STORES_TABLE, _OFFER_STORES_TABLE = Store._meta.db_table, Offer.stores.through._meta.db_table
_OFFER_STORE_IDS = f"""
    SELECT e.store_id FROM {_OFFER_STORES_TABLE} e JOIN {_STORES_TABLE} s ON s.id = e.store_id
    WHERE e.offer_id = o.id ORDER BY s.name, s.id
"""
_CLAIM_OFFER_SQL = {
    vendor: f"""
    SELECT {", ".join("o." + f.column for f in Offer._meta.concrete_fields)},
        cp.starts_at, cp.ends_at,
        COALESCE((SELECT {JSON_AGG[vendor]}(ids.store_id) FROM ({_OFFER_STORE_IDS}) ids), '[]')
    FROM {Offer._meta.db_table} o JOIN {Campaign._meta.db_table} cp ON cp.id = o.campaign_id
    WHERE o.id = %s AND cp.brand_id = %s
"""
    for vendor in JSON_AGG
}
# The no-op update on conflict exists to take the row lock that serialises one customer's claims.
_CLAIM_COUNTER_SQL = f"""
    INSERT INTO {CustomerClaim._meta.db_table} (offer_id, customer_ref, claims)
    VALUES (%s, %s, 0)
    ON CONFLICT (offer_id, customer_ref) DO UPDATE SET claims = {CustomerClaim._meta.db_table}.claims
    RETURNING id, claims
"""
_CODE_FIELDS = Code._meta.concrete_fields
_ACTIVE_CODE_SQL = f"""
    SELECT {", ".join(f.column for f in _CODE_FIELDS)} FROM {Code._meta.db_table}
    WHERE offer_id = %s AND customer_ref = %s AND status = %s
        AND (expires_at IS NULL OR expires_at > %s)
    ORDER BY issued_at DESC, id DESC LIMIT 1
"""
_OFFER_RESERVE_SQL = f"""
    UPDATE {Offer._meta.db_table} SET issued_count = issued_count + 1
    WHERE id = %s AND (total_cap IS NULL OR issued_count < total_cap)
"""
_CODE_ISSUE_SQL = f"""
    INSERT INTO {Code._meta.db_table} (offer_id, code, kind, placement_id, click_id, customer_ref,
        status, use_count, issued_at, expires_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s, %s)
    ON CONFLICT (code) DO NOTHING
    RETURNING id
"""
_CLAIM_COUNT_SQL = f"UPDATE {CustomerClaim._meta.db_table} SET claims = claims + 1 WHERE id = %s"


def code_claim(
    *,
    brand_id: int,
    offer_id: int,
    customer_ref: str,
    click_id: str = "",
    placement_id: int | None = None,
) -> ClaimResult:
    """Issue a code of ``offer_id`` to ``customer_ref``, or hand back their active one.

    Race safety lives in the database: the upsert on the (offer, customer) counter takes a row
    lock that serialises one customer's claims, and the total cap is a conditional increment
    of ``issued_count`` backed by a check constraint.
    """
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), prepared_cursor() as cursor:
        offer, store_ids = _claim_offer(cursor, offer_id, brand_id)
        offer_check_open(offer, now)
        cursor.execute(_CLAIM_COUNTER_SQL, [offer.id, customer_ref])
        counter_id, claims = cursor.fetchone()
        cursor.execute(_ACTIVE_CODE_SQL, [offer.id, customer_ref, Code.Status.ISSUED, at(now)])
        active = cursor.fetchone()
        if active is not None:
            code = Code.from_db(
                connection.alias, [f.attname for f in _CODE_FIELDS], converted(_CODE_FIELDS, active)
            )
            code.offer = offer
            return ClaimResult(code, created=False, store_ids=store_ids)
        if offer.per_customer_cap is not None and claims >= offer.per_customer_cap:
            raise DomainError("customer_cap_reached", "This customer has used up the offer.")
        cursor.execute(_OFFER_RESERVE_SQL, [offer.id])
        if cursor.rowcount != 1:
            raise DomainError("cap_reached", "The offer has no codes left.")
        expires_at = offer.valid_until
        if offer.code_ttl_hours:
            ttl_end = now + timedelta(hours=offer.code_ttl_hours)
            expires_at = min(expires_at, ttl_end) if expires_at else ttl_end
        if click_id and placement_id is None:
            placement_id = _click_stitch(brand_id, offer.campaign_id, click_id, customer_ref)
        code = Code(
            offer=offer,
            kind=Code.Kind.UNIQUE,
            placement_id=placement_id,
            click_id=click_id if placement_id else "",
            customer_ref=customer_ref,
            status=Code.Status.ISSUED,
            use_count=0,
            issued_at=now,
            expires_at=expires_at,
        )
        code.id = _code_issue(cursor, code)
        if placement_id:
            # The issuance touch: this placement put the code in the shopper's wallet.
            Touchpoint.objects.create(
                brand_id=brand_id,
                campaign_id=offer.campaign_id,
                placement_id=placement_id,
                kind=Touchpoint.Kind.CLAIM,
                customer_ref=customer_ref,
                click_id=click_id,
                occurred_at=now,
            )
        cursor.execute(_CLAIM_COUNT_SQL, [counter_id])
    return ClaimResult(code, created=True, store_ids=store_ids)


def _claim_offer(cursor, offer_id: int, brand_id: int) -> tuple[Offer, list[int]]:
    """The brand's offer with its campaign's dates, and the stores it is valid at."""
    cursor.execute(_CLAIM_OFFER_SQL[connection.vendor], [offer_id, brand_id])
    row = cursor.fetchone()
    if row is None:
        raise DomainError("not_found", "No such offer.")
    *values, store_ids = row
    *values, starts_at, ends_at = converted(_CLAIM_OFFER_FIELDS, values)
    offer = Offer.from_db(
        connection.alias, [f.attname for f in Offer._meta.concrete_fields], values
    )
    offer.campaign = Campaign(
        id=offer.campaign_id, brand_id=brand_id, starts_at=starts_at, ends_at=ends_at
    )
    return offer, json_list(store_ids)


def _code_issue(cursor, code: Code) -> int:
    """Insert ``code`` under a freshly drawn value, drawing again on the (astronomically rare)
    collision; its id."""
    offer, at = code.offer, connection.ops.adapt_datetimefield_value
    for _attempt in range(5):
        code.code = codes.generate(offer.code_prefix, offer.code_length)
        cursor.execute(
            _CODE_ISSUE_SQL,
            [
                offer.id,
                code.code,
                code.kind,
                code.placement_id,
                code.click_id,
                code.customer_ref,
                code.status,
                at(code.issued_at),
                at(code.expires_at),
            ],
        )
        inserted = cursor.fetchone()
        if inserted is not None:
            return inserted[0]
        logger.warning("code collision on offer %s; drawing again", offer.id)
    raise DomainError("code_space_exhausted", "Could not draw a fresh code; try again.")


def _click_stitch(brand_id: int, campaign_id: int, click_id: str, customer_ref: str) -> int | None:
    """The placement of the ad click behind a claim; the click learns who the customer is.

    An ad click happens before the app knows the shopper, so the click usually carries no
    ``customer_ref``; the claim's ``click_id`` ties the two, and attribution can then find it.
    """
    click = (
        Touchpoint.objects.filter(
            brand_id=brand_id,
            campaign_id=campaign_id,
            click_id=click_id,
            kind=Touchpoint.Kind.CLICK,
        )
        .values_list("id", "placement_id", "customer_ref")
        .first()
    )
    if click is None:
        return None
    if not click[2]:
        Touchpoint.objects.filter(id=click[0]).update(customer_ref=customer_ref)
    return click[1]
