"""Outcomes and the attempt log: every POS request, accepted or declined, leaves one
RedemptionAttempt row, a log line and a metric."""

import logging

from django.db import connection
from django.utils import timezone

from core.observability import POS_ATTEMPTS
from core.sql import prepared_cursor
from redemptions.canonical import Outcome
from redemptions.models import Redemption, RedemptionAttempt
from redemptions.services.context import Decline, PosContext
from redemptions.services.rewards import discount_for, offer_summary

logger = logging.getLogger(__name__)


def outcome_accepted(ctx: PosContext, basket_total, **fields) -> Outcome:
    offer, reward = offer_summary(ctx.offer)
    return Outcome(
        accepted=True,
        offer=offer,
        reward=reward,
        discount=discount_for(ctx.offer, basket_total),
        basket_total=basket_total,
        code_last4=ctx.normalised[-4:],
        **fields,
    )


def outcome_from_redemption(redemption: Redemption, *, replayed: bool) -> Outcome:
    offer, reward = offer_summary(redemption.offer)
    return Outcome(
        accepted=True,
        redemption_id=redemption.id,
        redemption_status=redemption.status,
        offer=offer,
        reward=reward,
        discount=redemption.discount,
        basket_total=redemption.basket_total,
        code_last4=redemption.code.code[-4:],
        replayed=replayed,
    )


def outcome_declined(ctx: PosContext, decline: Decline) -> Outcome:
    offer = reward = None
    if ctx.offer is not None and decline.code not in ("unknown_code", "too_many_failures"):
        offer, reward = offer_summary(ctx.offer)
    return Outcome(
        accepted=False,
        decline_code=decline.code,
        detail=decline.detail,
        offer=offer,
        reward=reward,
        retry_after=decline.retry_after,
    )


# Hot path: the attempt log and the redemption are written with hand-written statements (the
# ORM's per-call compilation of a 15-column INSERT cost more than PostgreSQL's execution).
ATTEMPT_COLUMNS = (
    "integration_id",
    "brand_id",
    "action",
    "accepted",
    "decline_code",
    "code_last4",
    "code_id",
    "offer_id",
    "store_id",
    "store_ref",
    "transaction_id",
    "redemption_id",
    "created_at",
)


_ATTEMPT_INSERT_SQL = f"""
    INSERT INTO {RedemptionAttempt._meta.db_table} ({", ".join(ATTEMPT_COLUMNS)})
    VALUES ({", ".join(f"%({c})s" for c in ATTEMPT_COLUMNS)})
"""


def attempt_row(
    ctx: PosContext, action: str, outcome: Outcome, transaction_id: str, store_ref: str
) -> dict:
    return {
        "integration_id": ctx.integration.id,
        "brand_id": ctx.integration.brand_id,
        "action": action,
        "accepted": outcome.accepted,
        "decline_code": outcome.decline_code,
        "code_last4": (ctx.normalised or "")[-4:],
        "code_id": ctx.code.id if ctx.code else None,
        "offer_id": ctx.code.offer_id if ctx.code else None,
        "store_id": ctx.store.id if ctx.store else None,
        "store_ref": store_ref[:64],
        "transaction_id": transaction_id[:100],
        "redemption_id": outcome.redemption_id,
        "created_at": connection.ops.adapt_datetimefield_value(timezone.now()),
    }


def attempt_record(
    ctx: PosContext, action: str, outcome: Outcome, transaction_id: str = "", store_ref: str = ""
) -> None:
    result = "accepted" if outcome.accepted else "declined"
    POS_ATTEMPTS.labels(ctx.integration.adapter, action, result, outcome.decline_code).inc()
    logger.info(
        "pos %s %s %s code ...%s store %s integration %s",
        action,
        result,
        outcome.decline_code or "-",
        (ctx.normalised or "")[-4:],
        store_ref or "-",
        ctx.integration.id,
    )
    if ctx.attempt_written:
        return
    with prepared_cursor() as cursor:
        cursor.execute(
            _ATTEMPT_INSERT_SQL, attempt_row(ctx, action, outcome, transaction_id, store_ref)
        )
