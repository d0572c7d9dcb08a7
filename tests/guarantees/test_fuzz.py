"""Schemathesis against our own OpenAPI schema: every operation, the POS routes included,
authenticated, no 500s and no response that breaks the schema."""

import copy
import hashlib
import json
import secrets
import time
import zlib
from decimal import Decimal

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from config.wsgi import application
from pos_adapters.vendors.generic import signature_header
from pos_adapters.vendors.square import square_signature
from promotions.models import Membership
from redemptions.canonical import RedeemRequest
from redemptions.services import redemption_record
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    CodeFactory,
    OfferFactory,
    PlacementFactory,
    StoreFactory,
    pos_integration,
)

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Like Django's test client: a request must not close the test's (transactional) connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def creds(db) -> dict:
    """The brand and the keys of one operation's cases (its examples share them)."""
    brand = BrandFactory()
    ingest_key = "ing_" + secrets.token_urlsafe(16)
    brand.ingest_key_hash = hashlib.sha256(ingest_key.encode()).hexdigest()
    brand.save()
    user = get_user_model().objects.create(username=f"fuzz-{secrets.token_hex(4)}", is_staff=True)
    Membership.objects.create(user=user, brand=brand, role=Membership.Role.ADMIN)
    campaign = CampaignFactory(brand=brand)
    StoreFactory(brand=brand)
    PlacementFactory(campaign=campaign)
    return {
        "brand": brand,
        "offer": OfferFactory(campaign=campaign),
        "token": Token.objects.create(user=user).key,
        "app": brand.app_key,
        "ingest": ingest_key,
    }


def _pos_credentials(creds: dict, path: str) -> dict:
    """Each POS case's own store, till of each vendor and code (so that one case's declines do
    not lock the next one out), and for a void a redemption to void."""
    brand, offer = creds["brand"], creds["offer"]
    store = StoreFactory(brand=brand)
    generic, generic_key, generic_secret = pos_integration(brand)
    _, toast_key, _ = pos_integration(brand, adapter="toast")
    merchant = f"M-{secrets.token_hex(4)}"
    _, _, square_secret = pos_integration(brand, adapter="square", external_account_id=merchant)
    pos = {
        "pos": {"generic": (generic_key, generic_secret), "toast": (toast_key, None)},
        "square": (merchant, square_secret),
        "code": CodeFactory(offer=offer).code,
        "store": store.external_id,
    }
    if "{redemption_id}" in path:
        sale = RedeemRequest(CodeFactory(offer=offer).code, store.external_id, "T-0", Decimal(9))
        pos["redemption_id"] = redemption_record(generic, sale).redemption_id
    return {**creds, **pos}


def _headers(path: str, creds: dict) -> dict:
    if path.startswith("/api/v1/manage"):
        return {"Authorization": f"Token {creds['token']}"}
    if path.startswith("/api/v1/touchpoints"):
        return {"Authorization": f"Bearer {creds['ingest']}"}
    return {"X-App-Key": creds["app"]}


def _real(value, creds: dict, key: str):
    """Half the time (by the generated value itself, so a case replays the same), the brand's
    real code or store instead of the generated one: the fuzz then reaches the decisions and
    their answers, not only ``unknown_code``."""
    if isinstance(value, str) and zlib.crc32(value.encode("utf-8", "replace")) % 2:
        return creds[key]
    return value


def _realistic(body, creds: dict, vendor: str):
    body = copy.deepcopy(body)
    if not isinstance(body, dict):
        return body
    items = body.get("redemptions") if isinstance(body.get("redemptions"), list) else [body]
    if vendor == "toast":
        items = [body.get("checkTransactionInformation"), body.get("reverseTransactionInformation")]
    for item in items:
        if isinstance(item, dict):
            for field in ("code", "loyaltyIdentifier"):
                if field in item:
                    item[field] = _real(item[field], creds, "code")
            if "store_id" in item:
                item["store_id"] = _real(item["store_id"], creds, "store")
    if vendor == "square":
        body["merchant_id"] = creds["square"][0]
        order = body
        for key in ("data", "object", "order"):
            order = order.get(key) if isinstance(order, dict) else None
        if isinstance(order, dict):
            order["location_id"] = _real(order.get("location_id"), creds, "store")
            if isinstance(order.get("discounts"), list) and order["discounts"]:
                order["discounts"][0] = {"metadata": {"promo_code": creds["code"]}}
    return body


def _pos_call(case, creds: dict) -> dict:
    """The keyword arguments of a POS call: its credentials, and the body sent as bytes, so
    that a generated X-Signature (and Square's signature) can be made valid for them."""
    vendor = case.path.split("/")[4]  # /api/v1/pos/<vendor>/...
    headers = {}
    if "redemption_id" in case.path_parameters:
        redemption_id = case.path_parameters["redemption_id"]
        if zlib.crc32(str(redemption_id).encode()) % 2:
            case.path_parameters["redemption_id"] = creds["redemption_id"]
    if vendor == "toast" and "Toast-Restaurant-External-ID" in case.headers:
        value = case.headers["Toast-Restaurant-External-ID"]
        headers["Toast-Restaurant-External-ID"] = _real(value, creds, "store")
    if vendor in creds["pos"]:
        headers["Authorization"] = f"Bearer {creds['pos'][vendor][0]}"
    if isinstance(case.body, NotSet):
        return {"headers": headers}
    body = case.body  # bytes when the fuzz sends something that is not JSON
    if not isinstance(body, bytes):
        body = json.dumps(_realistic(body, creds, vendor)).encode()
    if vendor == "square":
        url = django_settings.PUBLIC_BASE_URL + case.formatted_path
        headers["X-Square-HmacSha256-Signature"] = square_signature(creds["square"][1], url, body)
    elif "X-Signature" in case.headers:
        secret = creds["pos"][vendor][1]
        signature = signature_header(secret, "POST", case.formatted_path, body, int(time.time()))
        headers["X-Signature"] = signature
    return {"headers": headers, "data": body}


@pytest.mark.fuzz
@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors_and_keeps_its_schema(case, creds):
    if case.path.startswith("/api/v1/pos/"):
        creds = _pos_credentials(creds, case.path)
        case.call_and_validate(checks=CHECKS, **_pos_call(case, creds))
    else:
        case.call_and_validate(headers=_headers(case.path, creds), checks=CHECKS)
