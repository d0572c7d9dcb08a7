"""Finding a POS request's store and code: one hand-written statement, or the row the call's
authentication already brought (``pos_call.pos_call_open``)."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from core.sql import JSON_AGG, JSON_ARRAY, converted, json_list, prepared_cursor
from promotions import codes
from promotions.models import Campaign, Code, Offer, Store
from redemptions.canonical import RedeemRequest, ValidateRequest
from redemptions.models import FailureCounter, PosIntegration
from redemptions.services.context import Decline, PosContext
from redemptions.services.lockout import failure_count, failure_scopes, lockout_check


@dataclass(frozen=True)
class StoreAndCode:
    """The store-and-code look-up's row for ``request`` (None: no such store of the brand)."""

    request: ValidateRequest | RedeemRequest
    row: tuple | None


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


def store_and_code_sql(vendor: str, integration: str, integration_scope: str, brand: str) -> str:
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
    vendor: store_and_code_sql(vendor, "%(integration)s", "%(integration_scope)s", "%(brand)s")
    for vendor in JSON_AGG
}


def looked_up_code(normalised: str) -> str | None:
    """The code the look-up asks for: none when the check symbol is wrong (no row can match)."""
    return normalised if codes.is_valid(normalised) else None


def store_and_code_resolve(ctx: PosContext, store_ref: str, raw_code: str, now, found=None) -> Code:
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
                    "code": looked_up_code(ctx.normalised),
                },
            )
            row = cursor.fetchone()
    if row is None or not row[2]:
        raise Decline("unknown_store", "This store is not known to this POS integration.")
    store_id, store_name, _, counters, ctx.eligible, *values = row
    ctx.store = Store(
        id=store_id, name=store_name, brand_id=integration.brand_id, external_id=store_ref
    )
    lockout_check(ctx, json_list(counters), now)
    if values[0] is None:
        if failure_count(failure_scopes(integration, ctx.store), now):
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
