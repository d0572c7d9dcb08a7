"""The enumeration defence: unknown codes count as failures per integration and per store, and
past a threshold the scope is locked out for a cool-down."""

from datetime import UTC, datetime

from django.conf import settings

from core.sql import prepared_cursor
from promotions.models import Store
from redemptions.models import FailureCounter, PosIntegration
from redemptions.services.context import Decline, PosContext


def failure_scopes(integration: PosIntegration, store: Store) -> dict[str, int]:
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


def failure_count(scopes: dict[str, int], now) -> bool:
    """Count one failure per scope atomically; True if this one went past a threshold."""
    past = False
    with prepared_cursor() as cursor:
        for scope, threshold in sorted(scopes.items()):
            cursor.execute(_COUNT_FAILURE_SQL, [scope, now, now - settings.POS_FAILURE_COOLDOWN])
            past = past or cursor.fetchone()[0] > threshold
    return past


def failures_reset(scopes: dict[str, int]) -> None:
    FailureCounter.objects.filter(scope__in=scopes, failures__gt=0).update(failures=0)


def _counter_time(value: str) -> datetime:
    """A failure time out of the counters' JSON (SQLite keeps UTC without an offset)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def lockout_check(ctx: PosContext, counters: list, now) -> None:
    """Decline while a failure counter of this integration or store is past its threshold."""
    ctx.counters_dirty = bool(counters)
    thresholds = failure_scopes(ctx.integration, ctx.store)
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
