"""The attribution models, by hand-computed tables, plus properties every model keeps."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redemptions.attribution.engine import CLICK, IMPRESSION, ISSUANCE, Credit, Touch, attribute

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
CLICK_WINDOW, VIEW_WINDOW = 7 * DAY, 24 * HOUR


def click(pid, ago):
    return Touch(pid, CLICK, NOW - ago)


def view(pid, ago):
    return Touch(pid, IMPRESSION, NOW - ago)


def credits(model, touches, **kwargs):
    return {
        c.placement_id: c.credit
        for c in attribute(NOW, touches, model, CLICK_WINDOW, VIEW_WINDOW, **kwargs)
    }


D = Decimal
CASES = [
    # model, touches, expected credits
    ("last_touch", [], {None: D(1)}),
    ("last_touch", [click(1, 3 * DAY), click(2, DAY)], {2: D(1)}),
    ("last_touch", [click(1, 3 * DAY), view(2, HOUR)], {1: D(1)}),  # clicks beat impressions
    ("last_touch", [view(1, 5 * HOUR), view(2, HOUR)], {2: D(1)}),
    ("last_touch", [click(1, 8 * DAY)], {None: D(1)}),  # outside the click window
    ("last_touch", [view(1, 25 * HOUR)], {None: D(1)}),  # outside the view window
    ("last_touch", [Touch(1, CLICK, NOW + HOUR)], {None: D(1)}),  # after the redemption
    ("last_touch", [Touch(3, ISSUANCE, NOW - 60 * DAY)], {3: D(1)}),  # the code is the proof
    ("first_touch", [click(1, 3 * DAY), click(2, DAY)], {1: D(1)}),
    ("first_touch", [view(2, 2 * HOUR), click(1, DAY)], {1: D(1)}),
    ("linear", [click(1, 3 * DAY), click(2, DAY)], {1: D("0.5"), 2: D("0.5")}),
    (
        "linear",
        [click(1, 3 * DAY), click(2, 2 * DAY), click(1, DAY)],
        {1: D("0.666667"), 2: D("0.333333")},
    ),
    ("linear", [click(1, 2 * DAY), view(2, HOUR), click(3, 9 * DAY)], {1: D("0.5"), 2: D("0.5")}),
    # time decay, half-life 7 days: weights 2^-1 (7 days ago) and 2^0 (now) -> 1/3, 2/3
    (
        "time_decay",
        [click(1, 7 * DAY), click(2, timedelta(0))],
        {1: D("0.333333"), 2: D("0.666667")},
    ),
    # half-life 1 day: 2^-2 and 2^-1 -> 1/3, 2/3
    ("time_decay", [click(1, 2 * DAY), click(2, DAY)], {1: D("0.333333"), 2: D("0.666667")}, DAY),
    # half-life 1 day: 2^-3, 2^-1, 2^-1 (placement 2 twice) -> 1/9, 8/9
    (
        "time_decay",
        [click(1, 3 * DAY), click(2, DAY), click(2, DAY)],
        {1: D("0.111111"), 2: D("0.888889")},
        DAY,
    ),
    ("position_based", [click(1, DAY)], {1: D(1)}),
    ("position_based", [click(1, 2 * DAY), click(2, DAY)], {1: D("0.5"), 2: D("0.5")}),
    (
        "position_based",
        [click(1, 4 * DAY), click(2, 3 * DAY), click(3, 2 * DAY), click(4, DAY)],
        {1: D("0.4"), 2: D("0.1"), 3: D("0.1"), 4: D("0.4")},
    ),
    (
        "position_based",
        [click(1, 3 * DAY), click(2, 2 * DAY), click(1, DAY)],
        {1: D("0.8"), 2: D("0.2")},
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_models_by_hand(case):
    model, touches, expected, half_life = (*case, timedelta(days=7))[:4]
    assert credits(model, touches, half_life=half_life) == expected


def test_unknown_model_is_an_error():
    with pytest.raises(ValueError):
        attribute(NOW, [click(1, DAY)], "magic", CLICK_WINDOW, VIEW_WINDOW)


touch_strategy = st.builds(
    Touch,
    placement_id=st.integers(1, 6),
    kind=st.sampled_from([CLICK, IMPRESSION, ISSUANCE]),
    at=st.integers(-20 * 24 * 3600, 3600).map(lambda s: NOW + timedelta(seconds=s)),
)
models = st.sampled_from(["last_touch", "first_touch", "linear", "time_decay", "position_based"])


@given(models, st.lists(touch_strategy, max_size=12), st.integers(0, 30), st.integers(0, 720))
def test_credits_are_non_negative_and_sum_to_exactly_one(model, touches, click_days, view_hours):
    result = attribute(NOW, touches, model, timedelta(days=click_days), timedelta(hours=view_hours))

    assert sum(c.credit for c in result) == Decimal(1)
    assert all(c.credit > 0 for c in result)
    assert len({c.placement_id for c in result}) == len(result)


@given(models, st.lists(touch_strategy, max_size=12))
def test_attribution_is_deterministic_and_order_independent(model, touches):
    once = attribute(NOW, touches, model, CLICK_WINDOW, VIEW_WINDOW)

    assert attribute(NOW, list(reversed(touches)), model, CLICK_WINDOW, VIEW_WINDOW) == once


@given(models, st.lists(touch_strategy, max_size=12))
def test_only_touched_placements_or_organic_get_credit(model, touches):
    placements = {c.placement_id for c in attribute(NOW, touches, model, CLICK_WINDOW, VIEW_WINDOW)}

    assert placements <= {t.placement_id for t in touches} | {None}
    assert None not in placements or placements == {None}


def test_organic_is_a_single_credit_of_one():
    assert attribute(NOW, [], "linear", CLICK_WINDOW, VIEW_WINDOW) == [Credit(None, Decimal(1))]
