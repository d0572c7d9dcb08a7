"""The redemption service: the one place that validates, redeems and voids codes.

Every guarantee is held by the database, not by Python: a redeem is one conditional UPDATE of
the code row (``WHERE status = 'issued'``), backed by a partial unique index on live
redemptions of unique codes; shared codes count uses under a ``use_count < max_uses`` bound
(and a check constraint). A decline never leaves a partial write: a take whose redemption the
database refuses is given back in the same transaction; every attempt, accepted or declined,
leaves a RedemptionAttempt row.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config.observability import POS_ATTEMPTS
from promotions import codes
from promotions.models import Campaign, Code, Offer, Store
from promotions.problems import Problem
from promotions.services import offer_check_open
from promotions.sql import (
    JSON_AGG,
    JSON_ARRAY,
    converted,
    execute_and_commit,
    json_list,
    prepared_cursor,
)
from redemptions.canonical import (
    CanonicalRequest,
    Outcome,
    RedeemRequest,
    ValidateRequest,
    VoidRequest,
)
from redemptions.models import (
    FailureCounter,
    IdempotencyKey,
    PosCredential,
    PosIntegration,
    Redemption,
    RedemptionAttempt,
    key_hash,
)
from redemptions.rollups import slices_mark

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")


class Decline(Exception):
    def __init__(self, code: str, detail: str = "", *, retry_after: int | None = None):
        super().__init__(code)
        self.code = code
        self.detail = detail or code.replace("_", " ").capitalize() + "."
        self.retry_after = retry_after


# --- Rewards ----------------------------------------------------------------------------------


def discount_for(offer: Offer, basket_total: Decimal | None) -> Decimal | None:
    """The amount the till takes off; never more than the basket."""
    value = offer.reward_value
    if offer.reward_type == Offer.Reward.PERCENT_OFF:
        if basket_total is None:
            return None
        amount = basket_total * value / Decimal(100)
    else:  # amount_off, free_item (item price), bogo (price of the free item)
        amount = value
    if basket_total is not None:
        amount = min(amount, basket_total)
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _offer_summary(offer: Offer) -> tuple[dict, dict]:
    return (
        {"id": offer.id, "title": offer.title, "campaign": offer.campaign_id},
        {
            "type": offer.reward_type,
            "value": str(offer.reward_value),
            "pos_discount_ref": offer.pos_discount_ref,
        },
    )


# --- Enumeration defence -----------------------------------------------------------------------


def _scopes(integration: PosIntegration, store: Store) -> dict[str, int]:
    return {
        f"i:{integration.id}": settings.POS_FAILURE_THRESHOLD_INTEGRATION,
        f"s:{store.id}": settings.POS_FAILURE_THRESHOLD_STORE,
    }


_COUNT_FAILURE_SQL = f"""
    INSERT INTO {FailureCounter._meta.db_table} AS c (scope, failures, last_failure_at)
    VALUES (%s, 1, %s)
    ON CONFLICT (scope) DO UPDATE SET
        failures = CASE WHEN c.last_failure_at <= %s THEN 1 ELSE c.failures + 1 END,
        last_failure_at = EXCLUDED.last_failure_at
    RETURNING failures
"""


def _count_failure(scopes: dict[str, int], now) -> bool:
    """Count one failure per scope atomically; True if this one went past a threshold."""
    past = False
    with prepared_cursor() as cursor:
        for scope, threshold in sorted(scopes.items()):
            cursor.execute(_COUNT_FAILURE_SQL, [scope, now, now - settings.POS_FAILURE_COOLDOWN])
            past = past or cursor.fetchone()[0] > threshold
    return past


def _reset_failures(scopes: dict[str, int]) -> None:
    FailureCounter.objects.filter(scope__in=scopes, failures__gt=0).update(failures=0)


# --- Lookups -----------------------------------------------------------------------------------


@dataclass
class _Context:
    integration: PosIntegration
    store: Store | None = None
    code: Code | None = None
    normalised: str = ""
    eligible: bool = True  # the offer is valid at ctx.store
    counters_dirty: bool = False  # some failure counter of these scopes is above zero
    attempt_written: bool = False  # the redeem statement wrote this call's attempt row

    @property
    def offer(self) -> Offer | None:
        return self.code.offer if self.code else None


# Hot path: the store and the code are found by one hand-written statement (the ORM's
# compilation cost more than PostgreSQL's execution here, and every round trip costs both sides
# CPU; see docs/benchmarks.md). Tests cover every branch. The store's failure counters come along
# as one JSON array of [scope, failures, last failure]; the code's columns are NULL when the
# brand has no such code.
_CODE_FIELDS = (
    "id",
    "kind",
    "status",
    "expires_at",
    "max_uses",
    "use_count",
    "placement_id",
    "customer_ref",
    "offer_id",
    "issued_at",
)
_OFFER_FIELDS = (
    "status",
    "valid_from",
    "valid_until",
    "min_basket",
    "reward_type",
    "reward_value",
    "pos_discount_ref",
    "title",
    "campaign_id",
    "code_prefix",
)
_CODE_ROW_FIELDS = [
    *(Code._meta.get_field(name) for name in _CODE_FIELDS),
    *(Offer._meta.get_field(name) for name in _OFFER_FIELDS),
    Campaign._meta.get_field("starts_at"),
    Campaign._meta.get_field("ends_at"),
]
_INTEGRATION_STORES = PosIntegration.stores.through._meta.db_table
_OFFER_STORES = Offer.stores.through._meta.db_table


def _store_and_code_sql(vendor: str, integration: str, integration_scope: str, brand: str) -> str:
    """The store-and-code look-up, for the integration, its failure-counter scope and its brand
    as SQL expressions: parameters when it runs on its own, the integration's columns when it
    travels with the call's authentication (``pos_call_open``)."""
    return f"""
    SELECT s.id, s.name,
        NOT EXISTS (SELECT 1 FROM {_INTEGRATION_STORES} a WHERE a.posintegration_id = {integration})
        OR EXISTS (SELECT 1 FROM {_INTEGRATION_STORES} a
                   WHERE a.posintegration_id = {integration} AND a.store_id = s.id),
        COALESCE((SELECT {JSON_AGG[vendor]}({JSON_ARRAY[vendor]}(f.scope, f.failures,
                    f.last_failure_at)) FROM {FailureCounter._meta.db_table} f
                  WHERE f.scope IN ({integration_scope}, 's:' || s.id) AND f.failures > 0), '[]'),
        NOT EXISTS (SELECT 1 FROM {_OFFER_STORES} e WHERE e.offer_id = k.offer_id)
        OR EXISTS (SELECT 1 FROM {_OFFER_STORES} e WHERE e.offer_id = k.offer_id AND e.store_id = s.id),
        k.*
    FROM {Store._meta.db_table} s
    LEFT JOIN (
        SELECT {", ".join("c." + f for f in _CODE_FIELDS)}, {", ".join("o." + f for f in _OFFER_FIELDS)},
            cp.starts_at, cp.ends_at
        FROM {Code._meta.db_table} c
        JOIN {Offer._meta.db_table} o ON o.id = c.offer_id
        JOIN {Campaign._meta.db_table} cp ON cp.id = o.campaign_id
        WHERE c.code = %(code)s AND cp.brand_id = {brand}
    ) k ON true
    WHERE s.brand_id = {brand} AND s.external_id = %(external_id)s
"""


_STORE_AND_CODE_SQL = {
    vendor: _store_and_code_sql(vendor, "%(integration)s", "%(integration_scope)s", "%(brand)s")
    for vendor in JSON_AGG
}


def _looked_up_code(normalised: str) -> str | None:
    """The code the look-up asks for: none when the check symbol is wrong (no row can match)."""
    return normalised if codes.is_valid(normalised) else None


def _counter_time(value: str) -> datetime:
    """A failure time out of the counters' JSON (SQLite keeps UTC without an offset)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _resolve(ctx: _Context, store_ref: str, raw_code: str, now, found=None) -> Code:
    """The store (may this integration use it? is it locked out?), then the code, or a decline.

    ``found`` is the look-up's row when the call's authentication made it (``PosCall.found``).
    An unknown code counts a failure; so does a bad check symbol, which no row can match.
    """
    integration = ctx.integration
    ctx.normalised = codes.normalise(raw_code or "")
    if found is not None:
        row = found.row
    else:
        with prepared_cursor() as cursor:
            cursor.execute(
                _STORE_AND_CODE_SQL[connection.vendor],
                {
                    "integration": integration.id,
                    "integration_scope": f"i:{integration.id}",
                    "brand": integration.brand_id,
                    "external_id": store_ref,
                    "code": _looked_up_code(ctx.normalised),
                },
            )
            row = cursor.fetchone()
    if row is None or not row[2]:
        raise Decline("unknown_store", "This store is not known to this POS integration.")
    store_id, store_name, _, counters, ctx.eligible, *values = row
    ctx.store = Store(
        id=store_id, name=store_name, brand_id=integration.brand_id, external_id=store_ref
    )
    _check_lockout(ctx, json_list(counters), now)
    if values[0] is None:
        if _count_failure(_scopes(integration, ctx.store), now):
            raise Decline(
                "too_many_failures",
                "Too many unknown codes; wait.",
                retry_after=int(settings.POS_FAILURE_COOLDOWN.total_seconds()),
            )
        raise Decline("unknown_code", "No such code.")
    n_code, n_offer = len(_CODE_FIELDS), len(_OFFER_FIELDS)
    values = converted(_CODE_ROW_FIELDS, values)
    code = Code(code=ctx.normalised, **dict(zip(_CODE_FIELDS, values[:n_code], strict=True)))
    offer = Offer(
        id=code.offer_id,
        **dict(zip(_OFFER_FIELDS, values[n_code : n_code + n_offer], strict=True)),
    )
    starts_at, ends_at = values[n_code + n_offer :]
    offer.campaign = Campaign(
        id=offer.campaign_id,
        brand_id=integration.brand_id,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    code.offer = offer
    ctx.code = code
    return code


def _check_lockout(ctx: _Context, counters: list, now) -> None:
    """Decline while a failure counter of this integration or store is past its threshold."""
    ctx.counters_dirty = bool(counters)
    thresholds = _scopes(ctx.integration, ctx.store)
    cooldown = settings.POS_FAILURE_COOLDOWN
    waits = [
        int((last + cooldown - now).total_seconds()) + 1
        for scope, failures, last in (
            (scope, failures, _counter_time(last)) for scope, failures, last in counters
        )
        if failures >= thresholds[scope] and last > now - cooldown
    ]
    if waits:
        raise Decline("too_many_failures", "Too many unknown codes; wait.", retry_after=max(waits))


def _check_redeemable(ctx: _Context, basket_total: Decimal | None, now) -> None:
    code, offer = ctx.code, ctx.offer
    if code.status == Code.Status.VOIDED:
        raise Decline("code_revoked", "This code was revoked.")
    try:
        offer_check_open(offer, now)
    except Problem as problem:
        raise Decline(problem.code, problem.detail) from None
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


def _accepted(ctx: _Context, basket_total, **fields) -> Outcome:
    offer, reward = _offer_summary(ctx.offer)
    return Outcome(
        accepted=True,
        offer=offer,
        reward=reward,
        discount=discount_for(ctx.offer, basket_total),
        basket_total=basket_total,
        code_last4=ctx.normalised[-4:],
        **fields,
    )


def _from_redemption(redemption: Redemption, *, replayed: bool) -> Outcome:
    offer, reward = _offer_summary(redemption.offer)
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


# Hot path: the attempt log and the redemption are written with hand-written statements (the
# ORM's per-call compilation of a 15-column INSERT cost more than PostgreSQL's execution).
_ATTEMPT_COLUMNS = (
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
    INSERT INTO {RedemptionAttempt._meta.db_table} ({", ".join(_ATTEMPT_COLUMNS)})
    VALUES ({", ".join(f"%({c})s" for c in _ATTEMPT_COLUMNS)})
"""


def _attempt_row(
    ctx: _Context, action: str, outcome: Outcome, transaction_id: str, store_ref: str
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


def _record_attempt(
    ctx: _Context, action: str, outcome: Outcome, transaction_id: str = "", store_ref: str = ""
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
            _ATTEMPT_INSERT_SQL, _attempt_row(ctx, action, outcome, transaction_id, store_ref)
        )


def _declined(ctx: _Context, decline: Decline) -> Outcome:
    offer = reward = None
    if ctx.offer is not None and decline.code not in ("unknown_code", "too_many_failures"):
        offer, reward = _offer_summary(ctx.offer)
    return Outcome(
        accepted=False,
        decline_code=decline.code,
        detail=decline.detail,
        offer=offer,
        reward=reward,
        retry_after=decline.retry_after,
    )


# --- Validate, redeem, void --------------------------------------------------------------------


def code_validate(
    integration: PosIntegration, request: ValidateRequest, found: "StoreAndCode | None" = None
) -> Outcome:
    """Would this code redeem here, now? Changes nothing but the failure counters."""
    now = timezone.now()
    ctx = _Context(integration)
    try:
        _resolve(ctx, request.store_id, request.code, now, found)
        _check_redeemable(ctx, request.basket_total, now)
    except Decline as decline:
        outcome = _declined(ctx, decline)
    else:
        outcome = _accepted(ctx, request.basket_total)
    _record_attempt(ctx, RedemptionAttempt.Action.VALIDATE, outcome, store_ref=request.store_id)
    return outcome


def redemption_record(
    integration: PosIntegration, request: RedeemRequest, found: "StoreAndCode | None" = None
) -> Outcome:
    """Redeem a code exactly once. A retry of the same sale (natural key) replays the outcome.

    ``found``: the store-and-code look-up, when the call's authentication made it."""
    from promotions.enqueue import publish_coalesced_on_commit
    from redemptions.tasks import attribute_redemption

    now = timezone.now()
    ctx = _Context(integration)
    try:
        # A decline keeps its failure count: it is answered, not rolled back.
        _resolve(ctx, request.store_id, request.code, now, found)
        try:
            _check_redeemable(ctx, request.basket_total, now)
            outcome = _redeem(ctx, request, now)
        except Decline:
            # A retry of a sale that already went through: replay it (natural key).
            outcome = _natural_key_replay(ctx, request)
            if outcome is None:
                raise
        if ctx.counters_dirty:
            _reset_failures(_scopes(integration, ctx.store))
        if not outcome.replayed:
            publish_coalesced_on_commit(
                attribute_redemption,
                outcome.redemption_id,
                window=settings.ATTRIBUTION_PUBLISH_WINDOW,
            )
    except Decline as decline:
        outcome = _declined(ctx, decline)
    _record_attempt(
        ctx, RedemptionAttempt.Action.REDEEM, outcome, request.transaction_id, request.store_id
    )
    return outcome


def _natural_key_replay(ctx: _Context, request: RedeemRequest) -> Outcome | None:
    existing = (
        Redemption.objects.select_related("offer", "code")
        .filter(
            integration_id=ctx.integration.id,
            transaction_id=request.transaction_id,
            code_id=ctx.code.id,
        )
        .first()
    )
    return _from_redemption(existing, replayed=True) if existing else None


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
        INSERT INTO {RedemptionAttempt._meta.db_table} ({", ".join(_ATTEMPT_COLUMNS)})
        SELECT {", ".join("id" if c == "redemption_id" else f"%({c})s" for c in _ATTEMPT_COLUMNS)}
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


def _redeem(ctx: _Context, request: RedeemRequest, now) -> Outcome:
    """Take the code (one conditional UPDATE) and record the redemption.

    The database refuses the redemption of a sale it already holds (the natural key; the caller
    then replays it) or a second live one of a unique code; the take is then given back here,
    instead of a savepoint around the two writes, which cost two round trips on every redeem.
    """
    code, unique = ctx.code, ctx.code.kind == Code.Kind.UNIQUE
    at = connection.ops.adapt_datetimefield_value
    money = connection.ops.adapt_decimalfield_value
    outcome = _accepted(ctx, request.basket_total, redemption_status=Redemption.Status.REDEEMED)
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
                _attempt_row(
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


def redemption_void(integration: PosIntegration, request: VoidRequest) -> Outcome:
    """Void a redemption once, within the void window; its code becomes redeemable again."""
    from promotions.enqueue import publish_on_commit
    from redemptions.tasks import unattribute_redemption

    now = timezone.now()
    ctx = _Context(integration)
    try:
        with transaction.atomic():
            target = _void_target(integration, request)
            if target is None:
                raise Decline("redemption_not_found", "No such redemption.")
            ctx.code, ctx.store, ctx.normalised = target.code, target.store, target.code.code
            voided = Redemption.objects.filter(
                id=target.id,
                status=Redemption.Status.REDEEMED,
                redeemed_at__gt=now - settings.VOID_WINDOW,
            ).update(
                status=Redemption.Status.VOIDED,
                voided_at=now,
                void_reason=request.reason[:200],
            )
            if not voided:
                target.refresh_from_db(fields=["status"])
                if target.status == Redemption.Status.VOIDED:
                    raise Decline("already_voided", "This redemption was already voided.")
                raise Decline("void_window_passed", "Too late to void this redemption.")
            slices_mark([(target.campaign_id, target.redeemed_at)])
            if target.unique_code:
                Code.objects.filter(id=target.code_id, status=Code.Status.REDEEMED).update(
                    status=Code.Status.ISSUED, use_count=0, redeemed_at=None
                )
            else:
                Code.objects.filter(id=target.code_id, use_count__gt=0).update(
                    use_count=F("use_count") - 1
                )
            target.status, target.voided_at = Redemption.Status.VOIDED, now
            outcome = _from_redemption(target, replayed=False)
            publish_on_commit(unattribute_redemption, target.id)
    except Decline as decline:
        outcome = _declined(ctx, decline)
    _record_attempt(ctx, RedemptionAttempt.Action.VOID, outcome, request.transaction_id or "")
    return outcome


def _void_target(integration: PosIntegration, request: VoidRequest) -> Redemption | None:
    qs = Redemption.objects.select_related("offer", "code", "store").filter(
        brand_id=integration.brand_id
    )
    if request.redemption_id is not None:
        return qs.filter(id=request.redemption_id).first()
    if request.transaction_id:
        qs = qs.filter(integration_id=integration.id, transaction_id=request.transaction_id)
        if request.code:
            qs = qs.filter(code__code=codes.normalise(request.code))
        return qs.order_by("-redeemed_at").first()
    return None


HANDLERS: dict[type, Callable[..., Outcome]] = {
    ValidateRequest: code_validate,
    RedeemRequest: redemption_record,
    VoidRequest: redemption_void,
}


def pos_request_handle(call: "PosCall", request: CanonicalRequest) -> Outcome:
    """One request of an authenticated call, with the look-up its authentication made for it."""
    handler = HANDLERS[type(request)]
    if call.found is not None and call.found.request is request:  # a validate or a redeem
        return handler(call.integration, request, call.found)
    return handler(call.integration, request)


# --- Idempotency -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str
    headers: dict = field(default_factory=dict)
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), body)).hexdigest()


@dataclass(frozen=True)
class StoreAndCode:
    """The store-and-code look-up's row for ``request`` (None: no such store of the brand)."""

    request: ValidateRequest | RedeemRequest
    row: tuple | None


@dataclass(frozen=True)
class PosCall:
    """An authenticated POS call in its transaction: who, its Idempotency-Key, what was stored,
    and the store-and-code look-up for its request, when it was made with the authentication."""

    integration: PosIntegration | None
    key: str | None = None
    stored: tuple | None = None  # (created_at, request_hash, status, body, content_type)
    in_flight: bool = False  # another call holds the key's lock
    found: StoreAndCode | None = None


_INTEGRATION_FIELDS = PosIntegration._meta.concrete_fields
_IDEMPOTENCY_FIELDS = [
    IdempotencyKey._meta.get_field(name)
    for name in (
        "created_at",
        "request_hash",
        "response_status",
        "response_body",
        "response_content_type",
    )
]
# While a call with an Idempotency-Key runs, a transaction-scoped advisory lock marks the key as
# in flight (SQLite has none: there the key's unique constraint decides, at the end).
_IN_FLIGHT_LOCK = {
    "postgresql": "CASE WHEN %(key)s IS NULL THEN true"
    " ELSE pg_try_advisory_xact_lock(i.id::integer, hashtext(%(key)s)) END",
    "sqlite": "1",
}
_CALLER = {
    "api_key": (
        f"JOIN {PosCredential._meta.db_table} cred ON cred.integration_id = i.id",
        "cred.key_hash = %(caller)s AND cred.revoked_at IS NULL AND i.is_active",
    ),
    "account": (
        "",
        "i.adapter = %(adapter)s AND i.external_account_id = %(caller)s AND i.is_active",
    ),
}
# The store-and-code look-up of a single-request call, made with the authentication on
# PostgreSQL (SQLite has no LATERAL): its columns follow the call's.
_LOOK_UP = (
    "LEFT JOIN LATERAL ("
    + _store_and_code_sql("postgresql", "i.id", "'i:' || i.id", "i.brand_id")
    + ") found_code ON true"
)
# Hot path (every POS call starts here): one hand-written statement authenticates the call, takes
# its Idempotency-Key's in-flight lock and reads the response stored under it, and for a single
# validate or redeem on PostgreSQL also finds its store and code: one round trip where there
# were three, and no compiled ORM query. Covered by the POS tests.
_OPEN_SQL = {
    (vendor, caller, look_up): f"""
    SELECT {", ".join("i." + f.column for f in _INTEGRATION_FIELDS)}, {lock},
        {", ".join("found." + f.column for f in _IDEMPOTENCY_FIELDS)}
        {", found_code.*" if look_up else ""}
    FROM {PosIntegration._meta.db_table} i
    {join}
    LEFT JOIN {IdempotencyKey._meta.db_table} found
        ON found.integration_id = i.id AND found.key = %(key)s
    {_LOOK_UP if look_up else ""}
    WHERE {where}
    ORDER BY i.id LIMIT 1
"""
    for vendor, lock in _IN_FLIGHT_LOCK.items()
    for caller, (join, where) in _CALLER.items()
    for look_up in ((False, True) if vendor == "postgresql" else (False,))
}


def pos_call_open(
    adapter: str,
    api_key: str | None,
    account_id: str | None,
    key: str | None,
    looking_for: ValidateRequest | RedeemRequest | None = None,
) -> PosCall:
    """Authenticate a POS call, by its API key or else its vendor account id, as the first
    statement of the call's transaction; with an Idempotency-Key, also take the key's in-flight
    lock and read what is stored under it (``idempotent_replay`` answers for both). On
    PostgreSQL the same statement finds the store and code of ``looking_for``, the call's one
    validate or redeem, for ``pos_request_handle``."""
    if api_key:
        caller, who = "api_key", key_hash(api_key)
    elif account_id and "\x00" not in account_id:  # PostgreSQL text cannot hold NUL
        caller, who = "account", account_id
    else:
        return PosCall(None)
    usable_key = key if key and _key_usable(key) else None
    params = {"caller": who, "adapter": adapter, "key": usable_key}
    look_up = looking_for is not None and connection.vendor == "postgresql"
    if look_up:
        params["external_id"] = looking_for.store_id
        params["code"] = _looked_up_code(codes.normalise(looking_for.code or ""))
    with prepared_cursor() as cursor:
        cursor.execute(_OPEN_SQL[connection.vendor, caller, look_up], params)
        row = cursor.fetchone()
    if row is None:
        return PosCall(None, key)
    n = len(_INTEGRATION_FIELDS)
    integration = PosIntegration.from_db(
        connection.alias,
        [f.attname for f in _INTEGRATION_FIELDS],
        converted(_INTEGRATION_FIELDS, row[:n]),
    )
    locked, stored = row[n], row[n + 1 : n + 1 + len(_IDEMPOTENCY_FIELDS)]
    found = None
    if look_up:
        store_and_code = row[n + 1 + len(_IDEMPOTENCY_FIELDS) :]
        found = StoreAndCode(looking_for, store_and_code if store_and_code[0] is not None else None)
    return PosCall(
        integration,
        key,
        converted(_IDEMPOTENCY_FIELDS, stored) if stored[0] is not None else None,
        in_flight=not locked,
        found=found,
    )


def _key_usable(key: str) -> bool:
    return len(key) <= 255 and key.isprintable()


def idempotent_replay(call: PosCall, fingerprint: str) -> StoredResponse | None:
    """The response stored under the call's Idempotency-Key, if it is to be replayed.

    A key lives for IDEMPOTENCY_TTL; reused with a different request it is a ``422``; while
    another call holds it, a ``409``.
    """
    if not call.key:
        return None
    if not _key_usable(call.key):
        raise Problem(
            400, "validation_error", "Idempotency-Key is at most 255 printable characters."
        )
    if call.in_flight:
        raise _in_flight()
    if call.stored is None:
        return None
    created_at, request_hash, status, body, content_type = call.stored
    if created_at <= timezone.now() - settings.IDEMPOTENCY_TTL:
        IdempotencyKey.objects.filter(integration_id=call.integration.id, key=call.key).delete()
        return None
    if request_hash != fingerprint:
        raise Problem(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request.",
        )
    return StoredResponse(status, bytes(body), content_type, replayed=True)


def idempotent_store(call: PosCall, fingerprint: str, response: StoredResponse) -> None:
    """Keep the response for retries under the call's key, in the call's transaction: both
    commit or neither does. Server errors and rate limits are not kept: a retry runs again.

    The call's last statement: on PostgreSQL it goes with the transaction's COMMIT, one round
    trip for both (``execute_and_commit``); nothing may follow it inside the transaction."""
    if not call.key or response.status >= 500 or response.status == 429:
        return
    stored = execute_and_commit(
        _IDEMPOTENCY_INSERT_SQL,
        [
            call.integration.id,
            call.key,
            fingerprint,
            response.status,
            response.body,
            response.content_type,
            timezone.now(),
        ],
    )
    if stored == 0:  # SQLite has no advisory locks: the unique key decides
        raise _in_flight()


_IDEMPOTENCY_INSERT_SQL = f"""
    INSERT INTO {IdempotencyKey._meta.db_table} (integration_id, key, request_hash,
        response_status, response_body, response_content_type, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (integration_id, key) DO NOTHING
"""


def _in_flight() -> Problem:
    return Problem(
        409,
        "request_in_flight",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        headers={"Retry-After": "1"},
    )


def idempotency_keys_purge() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Integrations and credentials ------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCredential:
    credential: PosCredential
    api_key: str
    signing_secret: str


def pos_credential_issue(
    integration: PosIntegration, api_key: str | None = None
) -> IssuedCredential:
    """A new API key and signing secret; the old ones stay valid until revoked (rotation)."""
    api_key = api_key or PosCredential.new_key()
    secret = PosCredential.new_secret()
    credential = PosCredential.objects.create(
        integration=integration,
        key_prefix=api_key[:10],
        key_hash=key_hash(api_key),
        signing_secret=secret,
    )
    return IssuedCredential(credential, api_key, secret)


def pos_credentials_revoke_old(integration: PosIntegration, keep: PosCredential) -> int:
    return (
        PosCredential.objects.filter(integration=integration, revoked_at__isnull=True)
        .exclude(id=keep.id)
        .update(revoked_at=timezone.now())
    )
