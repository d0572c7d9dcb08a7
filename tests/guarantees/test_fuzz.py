"""Schemathesis against our own OpenAPI schema: every operation, authenticated, no 500s and
no response that breaks the schema."""

import hashlib
import secrets

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from config.wsgi import application
from promotions.models import Membership
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    OfferFactory,
    PlacementFactory,
    StoreFactory,
)

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Like Django's test client: a request must not close the test's (transactional) connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _credentials() -> dict:
    brand = BrandFactory()
    ingest_key = "ing_" + secrets.token_urlsafe(16)
    brand.ingest_key_hash = hashlib.sha256(ingest_key.encode()).hexdigest()
    brand.save()
    user = get_user_model().objects.create(username=f"fuzz-{secrets.token_hex(4)}", is_staff=True)
    Membership.objects.create(user=user, brand=brand, role=Membership.Role.ADMIN)
    campaign = CampaignFactory(brand=brand)
    StoreFactory(brand=brand)
    OfferFactory(campaign=campaign)
    PlacementFactory(campaign=campaign)
    return {
        "token": Token.objects.create(user=user).key,
        "app": brand.app_key,
        "ingest": ingest_key,
    }


def _headers(path: str, creds: dict) -> dict:
    if path.startswith("/api/v1/manage"):
        return {"Authorization": f"Token {creds['token']}"}
    if path.startswith("/api/v1/touchpoints"):
        return {"Authorization": f"Bearer {creds['ingest']}"}
    return {"X-App-Key": creds["app"]}


@pytest.mark.fuzz
@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors_and_keeps_its_schema(case):
    creds = _credentials()
    case.call_and_validate(
        headers=_headers(case.path, creds),
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
