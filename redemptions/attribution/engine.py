"""The attribution engine: which placements caused a redemption, and with how much credit.

Pure functions over plain values, so every model is testable by hand. Given the moment of the
redemption and the customer's touches, ``attribute`` returns credits per placement that are
non-negative and sum to exactly 1. No qualifying touch means organic: one credit of 1 with
placement ``None``.

Windows: a click counts if it happened within ``click_window`` before the redemption, an
impression within ``view_window``. An *issuance* touch (a bulk or shared code handed out
through a placement) needs no window: the code itself proves the path.

Models:

- ``last_touch`` (default): all credit to the latest click or issuance; only when there is
  none, to the latest impression (clicks beat impressions).
- ``first_touch``: the same, earliest instead of latest.
- ``linear``: equal credit to every qualifying touch.
- ``time_decay``: each touch weighs ``2 ** (-age / half_life)`` (half-life 7 days by default).
- ``position_based``: 40% first, 40% last, 20% shared by the touches between; one touch takes
  all, two take half each.

Credits of one placement's several touches add up.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

CLICK, IMPRESSION, ISSUANCE = "click", "impression", "issuance"
QUANTUM = Decimal("0.000001")
DEFAULT_HALF_LIFE = timedelta(days=7)


@dataclass(frozen=True)
class Touch:
    placement_id: int
    kind: str
    at: datetime


@dataclass(frozen=True)
class Credit:
    placement_id: int | None
    credit: Decimal


def qualifying(
    touches: list[Touch], redeemed_at: datetime, click_window: timedelta, view_window: timedelta
) -> list[Touch]:
    """Touches that may take credit, oldest first."""
    kept = []
    for touch in touches:
        if touch.kind == ISSUANCE:
            kept.append(touch)
        elif touch.at > redeemed_at:
            continue
        elif (
            touch.kind == CLICK
            and redeemed_at - touch.at <= click_window
            or touch.kind == IMPRESSION
            and redeemed_at - touch.at <= view_window
        ):
            kept.append(touch)
    return sorted(kept, key=lambda t: (t.at, t.placement_id))


def _weights(model: str, touches: list[Touch], redeemed_at: datetime, half_life: timedelta):
    if model in ("last_touch", "first_touch"):
        strong = [t for t in touches if t.kind != IMPRESSION] or touches
        chosen = strong[-1] if model == "last_touch" else strong[0]
        return [(chosen, 1.0)]
    if model == "linear":
        return [(t, 1.0) for t in touches]
    if model == "time_decay":
        seconds = half_life.total_seconds()
        return [
            (t, 2.0 ** (-max((redeemed_at - t.at).total_seconds(), 0.0) / seconds)) for t in touches
        ]
    if model == "position_based":
        if len(touches) <= 2:
            return [(t, 1.0) for t in touches]
        middle = 0.2 / (len(touches) - 2)
        return [(touches[0], 0.4), *[(t, middle) for t in touches[1:-1]], (touches[-1], 0.4)]
    raise ValueError(f"unknown attribution model {model!r}")


def attribute(
    redeemed_at: datetime,
    touches: list[Touch],
    model: str,
    click_window: timedelta,
    view_window: timedelta,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[Credit]:
    kept = qualifying(touches, redeemed_at, click_window, view_window)
    if not kept:
        return [Credit(None, Decimal(1))]
    by_placement: dict[int, float] = {}
    for touch, weight in _weights(model, kept, redeemed_at, half_life):
        by_placement[touch.placement_id] = by_placement.get(touch.placement_id, 0.0) + weight
    total = sum(by_placement.values())
    credits = {
        pid: Decimal(weight / total).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
        for pid, weight in by_placement.items()
    }
    # Rounding may leave a millionth over or under: give it to the largest share.
    largest = max(sorted(credits), key=lambda pid: credits[pid])
    credits[largest] += Decimal(1) - sum(credits.values())
    return [Credit(pid, credit) for pid, credit in sorted(credits.items()) if credit > 0]
