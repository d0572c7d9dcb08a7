"""Every door the project's input comes through, given boundary values of each field's type:
the serializers (walked from their modules) and the POS adapters' parsers.

The property: a clean refusal (``is_valid()`` False; ``core.problems.Problem`` with a 4xx) or
a success, never another exception. A success must also be one the database and the code
after the door can live with: a serializer's object saves, and what a parser lets through fits
its column (strings without NUL, amounts of 12 digits with 2 decimals, event times between
2000-01-01 and a day from now).
"""

import copy
import inspect
import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from core.bounds import MONEY_MAX
from core.problems import Problem
from pos_adapters.registry import get_adapter
from promotions import codes
from tests.factories import CampaignFactory, StoreFactory

pytestmark = pytest.mark.django_db

SERIALIZER_MODULES = ("promotions.serializers", "redemptions.api")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- Boundary values, by type -----------------------------------------------------------------

INTS = st.sampled_from(
    [0, -1, 1, 2**15 - 1, 2**15, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1]
) | st.integers(min_value=-(10**30), max_value=10**30)
TEXTS = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "x" * 10_000, "x" * 100_001, "😀" * 70]
) | st.text(max_size=80)
DECIMALS = st.sampled_from(
    [
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
        "1e1000",
        "-1e1000",
        "1E+999999999",
        "1e-1000",
        "9999999999.99",
        "9999999999.995",
        "10000000000",
        "99999999999999.99",
        "0",
        "-0",
        "-0.01",
        "0.001",
        float("nan"),
        float("inf"),
        1e308,
        -5,
    ]
) | st.decimals(allow_nan=True, allow_infinity=True).map(str)
DATETIMES = st.sampled_from(
    [
        "2026-01-01T00:00:00",  # naive
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-01T00:00:00+99:00",
        "yesterday",
    ]
) | st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat)
NUMBER_LIKE = st.sampled_from(  # not quite whole numbers: 1e400 is what JSON reads as infinity
    [float("inf"), float("-inf"), float("nan"), 1.5, 1e20, "1", " 7 ", "1e3", "0x10", "\u0661"]
)
NESTED = st.sampled_from(
    [json.loads("[" * 400 + "]" * 400), json.loads('{"a":' * 400 + "1" + "}" * 400)]
)
WRONG = st.sampled_from([None, True, False, [], {}, [1, "a"], {"a": 1}]) | NESTED
ANY = st.one_of(INTS, NUMBER_LIKE, TEXTS, DECIMALS, DATETIMES, WRONG, st.floats())


def boundary(field: serializers.Field):
    """Boundary values for one serializer field: its type's, and any other type's."""
    if isinstance(field, serializers.ManyRelatedField):
        own = st.lists(INTS | NUMBER_LIKE | TEXTS, max_size=3)
    elif isinstance(field, serializers.PrimaryKeyRelatedField | serializers.IntegerField):
        own = INTS | NUMBER_LIKE
    elif isinstance(field, serializers.DecimalField | serializers.FloatField):
        own = DECIMALS
    elif isinstance(field, serializers.DateTimeField):
        own = DATETIMES
    elif isinstance(field, serializers.ChoiceField):
        own = st.sampled_from(sorted(map(str, field.choices))) | TEXTS
    else:
        own = TEXTS
    return st.one_of(own, own, ANY)


# --- Serializers ----------------------------------------------------------------------------


def input_serializers() -> list[type]:
    """Every serializer the project's modules define (abstract ones, with no Meta, aside)."""
    found = []
    for module in map(import_module, SERIALIZER_MODULES):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, serializers.BaseSerializer) and cls.__module__ == module.__name__:
                if not issubclass(cls, serializers.ModelSerializer) or hasattr(cls, "Meta"):
                    found.append(cls)
    return sorted(found, key=lambda cls: cls.__name__)


def valid_inputs(world) -> dict:
    """A valid input for each serializer: the walk changes one or two of its fields."""
    now = timezone.now()
    return {
        "CampaignSerializer": {
            "name": "Spring",
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "attribution_model": "last_touch",
            "click_window_days": 7,
            "view_window_hours": 24,
        },
        "ClaimSerializer": {"customer_ref": "shopper-1", "click_id": "click-1"},
        "GenerateCodesSerializer": {"count": 10, "placement": None},
        "OfferSerializer": {
            "campaign": world["campaign"].id,
            "title": "20% off",
            "description": "",
            "terms": "",
            "image_url": "https://img.example/o.png",
            "reward_type": "percent_off",
            "reward_value": "20",
            "pos_discount_ref": "",
            "min_basket": "0",
            "valid_from": now.isoformat(),
            "valid_until": (now + timedelta(days=30)).isoformat(),
            "code_ttl_hours": 72,
            "total_cap": 100,
            "per_customer_cap": 1,
            "stores": [world["store"].id],
            "status": "live",
            "code_prefix": "SPR",
            "code_length": 12,
            "barcode": "qr",
        },
        "PlacementSerializer": {
            "campaign": world["campaign"].id,
            "media_partner": "Instagram",
            "name": "Stories",
            "spend": "1500.00",
            "destination_url": "https://shop.example/landing",
        },
        "PosIntegrationSerializer": {
            "name": "Till",
            "adapter": "generic",
            "stores": [world["store"].id],
            "external_account_id": "",
            "require_signature": False,
            "is_active": True,
        },
        "StoreSerializer": {
            "name": "Ferry Building",
            "external_id": "SF-9",
            "address": "1 Ferry Building",
            "latitude": 37.79,
            "longitude": -122.39,
            "timezone": "America/Los_Angeles",
        },
    }


@pytest.fixture
def world(brand):
    campaign = CampaignFactory(brand=brand)
    return {
        "brand": brand,
        "campaign": campaign,
        "store": StoreFactory(brand=brand),
        "context": {"brand_ids": [brand.id], "editable_brand_ids": [brand.id]},
    }


def writable_fields(cls) -> list[str]:
    return sorted(name for name, field in cls().fields.items() if not field.read_only)


SERIALIZER_FIELDS = [
    pytest.param(cls, name, id=f"{cls.__name__}.{name}")
    for cls in input_serializers()
    for name in writable_fields(cls)
]


def test_every_serializer_that_takes_input_is_walked(world):
    """A new serializer fails here until it has a valid input above: then each of its fields
    is walked below. Serializers without a writable field take no input."""
    inputs = valid_inputs(world)
    assert {cls.__name__ for cls in input_serializers() if writable_fields(cls)} == set(inputs)
    for name, data in inputs.items():
        (cls,) = (cls for cls in input_serializers() if cls.__name__ == name)
        serializer = cls(data=data, context=world["context"])
        assert serializer.is_valid(), (name, serializer.errors)


def _fits_the_project(cls, data: dict) -> None:
    """What a serializer let through is within the project's bounds (and then saves)."""
    for name, value in data.items():
        if isinstance(value, datetime):
            assert EARLIEST <= value < datetime(2100, 1, 1, tzinfo=UTC), (cls.__name__, name, value)
        if isinstance(value, int) and not isinstance(value, bool):
            assert -(2**63) <= value < 2**63, (cls.__name__, name, value)


@pytest.mark.parametrize(("cls", "name"), SERIALIZER_FIELDS)
@EXAMPLES
@given(data=st.data())
def test_serializers_refuse_cleanly_or_accept_what_they_can_store(world, cls, name, data):
    """One field at a time (and now and then a second one) at a boundary, in a create or in a
    partial update: refused (``is_valid()`` False), or valid, within bounds, and saved."""
    valid, context = valid_inputs(world)[cls.__name__], world["context"]
    field = cls().fields[name]
    payload = {**valid, name: data.draw(boundary(field), name)}
    if data.draw(st.booleans(), "and another field"):
        other = data.draw(st.sampled_from(writable_fields(cls)), "other")
        payload[other] = data.draw(boundary(cls().fields[other]), other)
    saves = issubclass(cls, serializers.ModelSerializer)
    with transaction.atomic():
        instance = None
        if saves and data.draw(st.booleans(), "an update"):
            instance = cls(data=valid, context=context)
            instance.is_valid(raise_exception=True)
            instance = instance.save()
        serializer = cls(instance, data=payload, partial=instance is not None, context=context)
        if serializer.is_valid():
            _fits_the_project(cls, serializer.validated_data)
            if saves:
                serializer.save()  # and the database takes it
        transaction.set_rollback(True)


# --- POS adapters' parsers --------------------------------------------------------------------


def mutated(value):
    """``value`` with any part of it replaced by a boundary value, or left out."""
    if isinstance(value, dict):
        inner = {key: mutated(item) for key, item in value.items()}
        return st.one_of(
            st.fixed_dictionaries(inner),
            st.fixed_dictionaries({}, optional=inner),
            ANY,
        )
    if isinstance(value, list) and value:
        return st.one_of(st.lists(mutated(value[0]), min_size=1, max_size=3), ANY)
    return st.one_of(st.just(value), ANY)


RAW = st.sampled_from(
    [b"", b"{", b"\xff\xfe{}", b"[" * 100_000, b"1" * 5000, b'{"a": NaN}', b"null", b"[]", b'"x"']
)
CODE = codes.generate()
SALE = {
    "code": CODE,
    "store_id": "SF-001",
    "transaction_id": "T-1",
    "basket_total": "12.50",
    "occurred_at": "2026-01-01T12:00:00Z",
}
CHECK = {"loyaltyIdentifier": CODE, "check": {"amount": 18.4, "totalAmount": 20.01}}
ORDER = {
    "id": "Q8rZpQ9v",
    "location_id": "SF-001",
    "state": "COMPLETED",
    "discounts": [{"name": f"Promo {CODE}", "metadata": {"promo_code": CODE}}],
    "total_money": {"amount": 880, "currency": "USD"},
    "total_discount_money": {"amount": 220, "currency": "USD"},
}
# (adapter, operation, path, valid body, valid headers)
CALLS = {
    "generic-validate": ("generic", "validate", "/api/v1/pos/generic/validate", SALE, {}),
    "generic-redeem": ("generic", "redeem", "/api/v1/pos/generic/redemptions", SALE, {}),
    "generic-void": (
        "generic",
        "void",
        "/api/v1/pos/generic/redemptions/1/void",
        {"reason": "wrong basket"},
        {},
    ),
    "generic-batch": ("generic", "batch", "/api/v1/pos/generic/batch", {"redemptions": [SALE]}, {}),
    "toast": (
        "toast",
        "loyalty",
        "/api/v1/pos/toast",
        {"checkTransactionInformation": CHECK, "reverseTransactionInformation": CHECK},
        {
            "Toast-Transaction-Type": "LOYALTY_REDEEM",
            "Toast-Transaction-GUID": "6d3a3a7e-4f0c-4b1e-9a53-1f8f0c2d7b11",
            "Toast-Restaurant-External-ID": "SF-001",
        },
    ),
    "square": (
        "square",
        "webhook",
        "/api/v1/pos/square/webhook",
        {
            "merchant_id": "M-1",
            "type": "order.updated",
            "event_id": "e-1",
            "data": {"object": {"order": ORDER}},
        },
        {},
    ),
}
COLUMNS = {"code": 64, "store_id": 64, "transaction_id": 100, "reason": 200}


def _fits_its_column(item) -> None:
    """What a parser let through is what the database and the services can take."""
    for f in fields(item):
        value = getattr(item, f.name)
        if isinstance(value, str):
            assert len(value) <= COLUMNS[f.name] and "\x00" not in value, (f.name, value)
            value.encode()  # no lone surrogate
        elif isinstance(value, Decimal):
            assert value.is_finite() and 0 <= value <= MONEY_MAX, (f.name, value)
            assert value.as_tuple().exponent == -2 and not value.is_signed(), (f.name, value)
        elif isinstance(value, datetime):
            latest = timezone.now() + timedelta(days=1)
            assert EARLIEST <= value <= latest, (f.name, value)


def parts(value, path=()):
    """The path of every part of a JSON value (a list's first item stands for the others)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from parts(item, (*path, key))
    elif isinstance(value, list) and value:
        yield from parts(value[0], (*path, 0))


def replaced(value, path, new):
    """``value`` with the part at ``path`` replaced by ``new`` (left out when it is OMIT)."""
    if not path:
        return new
    value = copy.copy(value)
    head, rest = path[0], path[1:]
    if rest or new is not OMIT:
        value[head] = replaced(value[head], rest, new)
    else:
        del value[head]
    return value


def reachable(value, path) -> bool:
    """Whether ``value`` still has a part at ``path`` (other parts may have replaced it)."""
    for key in path:
        if not isinstance(value, dict | list) or key not in (
            value if isinstance(value, dict) else range(len(value))
        ):
            return False
        value = value[key]
    return True


OMIT = object()
ADAPTER_PARTS = [
    pytest.param(call, where, path, id=f"{call}:{where}:{'.'.join(map(str, path)) or '*'}")
    for call, (_, _, _, body, headers) in sorted(CALLS.items())
    for where, value in (("body", body), ("headers", headers))
    for path in parts(value)
    if where == "body" or path
] + [pytest.param("generic-void", "kwargs", ("redemption_id",), id="generic-void:redemption_id")]


@pytest.mark.parametrize(("call", "where", "path"), ADAPTER_PARTS)
@EXAMPLES
@given(data=st.data())
def test_adapters_refuse_cleanly_or_parse_what_fits(call, where, path, data):
    """One part of a valid call at a boundary (the whole body: any JSON, or bytes that are not
    JSON), now and then with other parts too: a 4xx ``Problem``, or canonical requests that fit
    their columns. Reading the caller and the retry key never raises."""
    vendor, operation, url, body, headers = CALLS[call]
    kwargs = {"redemption_id": 1} if call == "generic-void" else {}
    if data.draw(st.booleans(), "and other parts"):
        body = data.draw(mutated(body), "other parts")
    if where == "kwargs":  # what the URL's <int:redemption_id> can hold
        kwargs["redemption_id"] = data.draw(st.integers(0, 10**30), "redemption_id")
    else:
        new = data.draw(st.one_of(ANY, st.just(OMIT)) if path else ANY | RAW, "new")
        if where == "headers":
            header = new if new is OMIT or isinstance(new, str) else str(new)
            headers = replaced(headers, path, header)
        elif reachable(body, path):
            body = replaced(body, path, new)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = RequestFactory().post(url, raw, content_type="application/json", headers=headers)
    adapter = get_adapter(vendor)
    adapter.presented(request)  # never raises: a caller it cannot read is no caller
    adapter.idempotency_key(request)
    try:
        items = adapter.parse(request, operation, **kwargs)
    except Problem as problem:
        assert 400 <= problem.status < 500 and problem.code, problem
        return
    for item in items:
        if isinstance(item, Problem):
            assert 400 <= item.status < 500 and item.code, item
        else:
            _fits_its_column(item)
