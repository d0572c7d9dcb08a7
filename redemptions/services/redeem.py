"""Validate and redeem: a code is redeemed at most once, held by the database.

A redeem is one conditional UPDATE of the code row (``WHERE status = 'issued'``), backed by a
partial unique index on live redemptions of unique codes; shared codes count uses under a
``use_count < max_uses`` bound (and a check constraint). A take whose redemption the database
refuses is given back in the same transaction.
"""

from dataclasses import replace
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core import publish
from core.errors import DomainError
from core.sql import prepared_cursor
from promotions.models import Code
from promotions.services.offers import offer_check_open
from redemptions.canonical import Outcome, RedeemRequest, ValidateRequest
from redemptions.models import PosIntegration, Redemption, RedemptionAttempt
from redemptions.services.attempts import (
    ATTEMPT_COLUMNS,
    attempt_record,
    attempt_row,
    outcome_accepted,
    outcome_declined,
    outcome_from_redemption,
)
from redemptions.services.context import Decline, PosContext
from redemptions.services.lockout import failure_scopes, failures_reset
from redemptions.services.lookup import StoreAndCode, store_and_code_resolve


def _check_redeemable(ctx: PosContext, basket_total: Decimal | None, now) -> None:
    code, offer = ctx.code, ctx.offer
    if code.status == Code.Status.VOIDED:
        raise Decline("code_revoked", "This code was revoked.")
    try:
        offer_check_open(offer, now)
    except DomainError as error:
        raise Decline(error.code, error.detail) from None
    if code.status == Code.Status.EXPIRED or (code.expires_at and code.expires_at <= now):
        raise Decline("expired", "This code has expired.")
    if code.kind == Code.Kind.UNIQUE and code.status == Code.Status.REDEEMED:
        raise Decline("already_redeemed", "This code was already redeemed.")
    if (
        code.kind == Code.Kind.SHARED
        and code.max_uses is not None
        and code.use_count >= code.max_uses
    ):
        raise Decline("cap_reached", "This code has no uses left.")
    if not ctx.eligible:
        raise Decline("store_not_eligible", "The offer is not valid at this store.")
    if basket_total is not None and basket_total < offer.min_basket:
        raise Decline("min_basket_not_met", f"The basket must be at least {offer.min_basket}.")


def code_validate(
    integration: PosIntegration, request: ValidateRequest, found: StoreAndCode | None = None
) -> Outcome:
    """Would this code redeem here, now? Changes nothing but the failure counters."""
    now = timezone.now()
    ctx = PosContext(integration)
    try:
        store_and_code_resolve(ctx, request.store_id, request.code, now, found)
        _check_redeemable(ctx, request.basket_total, now)
    except Decline as decline:
        outcome = outcome_declined(ctx, decline)
    else:
        outcome = outcome_accepted(ctx, request.basket_total)
    attempt_record(ctx, RedemptionAttempt.Action.VALIDATE, outcome, store_ref=request.store_id)
    return outcome


def redemption_record(
    integration: PosIntegration, request: RedeemRequest, found: StoreAndCode | None = None
) -> Outcome:
    """Redeem a code exactly once. A retry of the same sale (natural key) replays the outcome.

    ``found``: the store-and-code look-up, when the call's authentication made it."""
    from redemptions.tasks import attribute_redemption  # the tasks call back into services

    now = timezone.now()
    ctx = PosContext(integration)
    try:
        # A decline keeps its failure count: it is answered, not rolled back.
        store_and_code_resolve(ctx, request.store_id, request.code, now, found)
        try:
            _check_redeemable(ctx, request.basket_total, now)
            outcome = _redeem(ctx, request, now)
        except Decline:
            # A retry of a sale that already went through: replay it (natural key).
            outcome = _natural_key_replay(ctx, request)
            if outcome is None:
                raise
        if ctx.counters_dirty and not outcome.replayed:
            # Only a real new sale clears the guesses: a replayed one would let a till reset
            # its own lockout between guesses by re-sending a past sale.
            failures_reset(failure_scopes(integration, ctx.store))
        if not outcome.replayed:
            publish.publish_coalesced_on_commit(
                attribute_redemption,
                outcome.redemption_id,
                window=settings.ATTRIBUTION_PUBLISH_WINDOW,
            )
    except Decline as decline:
        outcome = outcome_declined(ctx, decline)
    attempt_record(
        ctx, RedemptionAttempt.Action.REDEEM, outcome, request.transaction_id, request.store_id
    )
    return outcome


def _natural_key_replay(ctx: PosContext, request: RedeemRequest) -> Outcome | None:
    existing = (
        Redemption.objects.select_related("offer", "code")
        .filter(
            integration_id=ctx.integration.id,
            transaction_id=request.transaction_id,
            code_id=ctx.code.id,
        )
        .first()
    )
    return outcome_from_redemption(existing, replayed=True) if existing else None


_CODE_TAKE_SQL = f"""
    UPDATE {Code._meta.db_table} SET status = %(redeemed)s, use_count = 1, redeemed_at = %(now)s
    WHERE id = %(code_id)s AND status = %(issued)s
        AND (expires_at IS NULL OR expires_at > %(now)s)
"""


_SHARED_CODE_USE_SQL = f"""
    UPDATE {Code._meta.db_table} SET use_count = use_count + 1, redeemed_at = %(now)s
    WHERE id = %(code_id)s AND status = %(issued)s
        AND (expires_at IS NULL OR expires_at > %(now)s) AND (max_uses IS NULL OR use_count < max_uses)
"""


_REDEMPTION_COLUMNS = (
    "code_id",
    "unique_code",
    "offer_id",
    "campaign_id",
    "brand_id",
    "placement_id",
    "customer_ref",
    "store_id",
    "integration_id",
    "transaction_id",
    "basket_total",
    "discount",
    "status",
    "occurred_at",
    "redeemed_at",
)


_REDEMPTION_INTO = (
    f"INSERT INTO {Redemption._meta.db_table} ({', '.join(_REDEMPTION_COLUMNS)}, void_reason)"
)


_REDEMPTION_VALUES = ", ".join(f"%({c})s" for c in _REDEMPTION_COLUMNS)


_REDEMPTION_INSERT_SQL = f"""
    {_REDEMPTION_INTO} VALUES ({_REDEMPTION_VALUES}, '')
    ON CONFLICT DO NOTHING
    RETURNING id
"""


# On PostgreSQL the take, the redemption and the accepted attempt's row are one statement: one
# round trip instead of three (each costs both sides about as much CPU as the work it carries;
# docs/benchmarks.md). The redemption and the attempt are inserted only if the take succeeded;
# the answer says whether the take happened and the redemption's id, if the database took it.
_REDEEM_SQL = {
    unique: f"""
    WITH take AS ({take} RETURNING id),
    redemption AS (
        {_REDEMPTION_INTO} SELECT {_REDEMPTION_VALUES}, '' FROM take
        ON CONFLICT DO NOTHING
        RETURNING id
    ),
    attempt AS (
        INSERT INTO {RedemptionAttempt._meta.db_table} ({", ".join(ATTEMPT_COLUMNS)})
        SELECT {", ".join("id" if c == "redemption_id" else f"%({c})s" for c in ATTEMPT_COLUMNS)}
        FROM redemption
    )
    SELECT (SELECT count(*) FROM take), (SELECT id FROM redemption)
"""
    for unique, take in ((True, _CODE_TAKE_SQL), (False, _SHARED_CODE_USE_SQL))
}


# Undoes a take whose redemption the database refused, in the same transaction (the take's row
# lock is still ours): one use back, and the code's last redemption time as the rows say.
_CODE_GIVE_BACK_SQL = f"""
    UPDATE {Code._meta.db_table} SET status = %(issued)s, use_count = use_count - 1,
        redeemed_at = (SELECT max(r.redeemed_at) FROM {Redemption._meta.db_table} r
                       WHERE r.code_id = %(code_id)s AND r.status = %(redeemed)s)
    WHERE id = %(code_id)s
"""


def _redeem(ctx: PosContext, request: RedeemRequest, now) -> Outcome:
    """Take the code (one conditional UPDATE) and record the redemption.

    The database refuses the redemption of a sale it already holds (the natural key; the caller
    then replays it) or a second live one of a unique code; the take is then given back here,
    instead of a savepoint around the two writes, which cost two round trips on every redeem.
    """
    code, unique = ctx.code, ctx.code.kind == Code.Kind.UNIQUE
    at = connection.ops.adapt_datetimefield_value
    money = connection.ops.adapt_decimalfield_value
    outcome = outcome_accepted(
        ctx, request.basket_total, redemption_status=Redemption.Status.REDEEMED
    )
    params = {
        "now": at(now),
        "issued": Code.Status.ISSUED,
        "redeemed": Code.Status.REDEEMED,
        # the redemption's columns
        "code_id": code.id,
        "unique_code": unique,
        "offer_id": code.offer_id,
        "campaign_id": ctx.offer.campaign_id,
        "brand_id": ctx.integration.brand_id,
        "placement_id": code.placement_id,
        "customer_ref": code.customer_ref,
        "store_id": ctx.store.id,
        "integration_id": ctx.integration.id,
        "transaction_id": request.transaction_id,
        "basket_total": money(request.basket_total, 12, 2),
        "discount": money(outcome.discount, 12, 2),
        "status": Redemption.Status.REDEEMED,
        "occurred_at": at(request.occurred_at or now),
        "redeemed_at": at(now),
    }
    with prepared_cursor() as cursor:
        if connection.vendor == "postgresql":
            params.update(
                attempt_row(
                    ctx,
                    RedemptionAttempt.Action.REDEEM,
                    outcome,
                    request.transaction_id,
                    request.store_id,
                )
            )
            cursor.execute(_REDEEM_SQL[unique], params)
            taken, redemption_id = cursor.fetchone()
            ctx.attempt_written = redemption_id is not None
        else:  # the SQLite demo: the same steps one by one
            cursor.execute(_CODE_TAKE_SQL if unique else _SHARED_CODE_USE_SQL, params)
            taken, redemption_id = cursor.rowcount, None
            if taken == 1:
                cursor.execute(_REDEMPTION_INSERT_SQL, params)
                inserted = cursor.fetchone()
                redemption_id = inserted[0] if inserted else None
        if taken != 1:  # another till won the row lock first (the caller replays)
            if unique:
                raise Decline("already_redeemed", "This code was already redeemed.")
            raise Decline("cap_reached", "This code has no uses left.")
        if redemption_id is None:
            cursor.execute(_CODE_GIVE_BACK_SQL, params)
            raise Decline("already_redeemed", "This code was already redeemed.")
    return replace(outcome, redemption_id=redemption_id)
