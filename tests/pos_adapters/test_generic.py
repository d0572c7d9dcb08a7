"""The generic REST adapter's protocol: what a till must send (a body that parses, a key,
a signature when the integration asks for one) and what it hears when it does not."""

import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from pos_adapters.vendors.generic import signature_header
from redemptions import services
from redemptions.models import Redemption, RedemptionAttempt
from tests.factories import CodeFactory, pos_integration
from tests.helpers import REDEEM, VALIDATE, assert_problem, redeem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "X", "store_id": "1", "transaction_id": "T"},
        {"code": "X", "store_id": "1", "transaction_id": "T", "basket_total": "-1"},
        {"code": "X", "store_id": "1", "transaction_id": "T", "basket_total": "abc"},
        {"code": "X", "store_id": "1", "transaction_id": "", "basket_total": "1"},
        {"code": ["X"], "store_id": "1", "transaction_id": "T", "basket_total": "1"},
        {
            "code": "X",
            "store_id": "1",
            "transaction_id": "T",
            "basket_total": "1",
            "occurred_at": "yesterday",
        },
    ],
)
def test_bad_bodies_are_400_and_write_nothing(till, body):
    assert_problem(till.post(REDEEM, body, format="json"), 400, "validation_error")
    assert not Redemption.objects.exists() and not RedemptionAttempt.objects.exists()


def test_malformed_json_is_400(till):
    response = till.post(REDEEM, "{oops", content_type="application/json")
    assert_problem(response, 400, "malformed_json")


def test_a_body_that_does_not_parse_is_answered_after_the_caller_is_known(client_api, till):
    """The body is parsed before authentication (its store and code are looked up with it), but
    an unknown caller still hears 401, not what was wrong with the body."""
    client_api.credentials(HTTP_AUTHORIZATION="Bearer pos_wrong")
    assert_problem(
        client_api.post(REDEEM, "{oops", content_type="application/json"), 401, "unauthenticated"
    )
    assert_problem(client_api.post(REDEEM, {"code": 7}, format="json"), 401, "unauthenticated")
    assert_problem(till.post(REDEEM, {"code": 7}, format="json"), 400, "validation_error")


def test_missing_wrong_or_revoked_key_is_401(client_api, pos, code, store):
    integration, api_key, _ = pos
    assert_problem(redeem(client_api, code, store), 401, "unauthenticated")
    client_api.credentials(HTTP_AUTHORIZATION="Bearer pos_wrong")
    assert_problem(redeem(client_api, code, store), 401, "unauthenticated")
    integration.credentials.update(revoked_at=timezone.now())
    client_api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert_problem(redeem(client_api, code, store), 401, "unauthenticated")
    assert not Redemption.objects.exists()


def signed_post(client, secret, path, body: bytes, *, skew=0, tamper=False):
    header = signature_header(secret, "POST", path, body, int(time.time()) + skew)
    if tamper:
        body = body.replace(b"10.00", b"10.01")
    return client.post(path, body, content_type="application/json", HTTP_X_SIGNATURE=header)


def test_hmac_signatures_are_checked(brand, store, code):
    integration, key, secret = pos_integration(brand, require_signature=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = b'{"code": "%s", "store_id": "%s", "transaction_id": "T-1", "basket_total": "10.00"}' % (
        code.code.encode(),
        store.external_id.encode(),
    )

    assert_problem(
        client.post(REDEEM, body, content_type="application/json"), 401, "signature_required"
    )
    assert_problem(signed_post(client, secret, REDEEM, body, tamper=True), 401, "invalid_signature")
    assert_problem(signed_post(client, secret, REDEEM, body, skew=-301), 401, "invalid_signature")
    assert_problem(signed_post(client, "whsec_other", REDEEM, body), 401, "invalid_signature")
    assert not Redemption.objects.exists()
    assert signed_post(client, secret, REDEEM, body).status_code == 201
    replay = signed_post(client, secret, REDEEM, body)
    assert replay.status_code == 201 and Redemption.objects.count() == 1


def test_both_secrets_verify_during_rotation_and_a_revoked_one_does_not(brand, store, offer):
    integration, old_key, old_secret = pos_integration(brand, require_signature=True)
    new = services.pos_credential_issue(integration)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.api_key}")

    def body(txn):
        c = CodeFactory(offer=offer)
        return b'{"code": "%s", "store_id": "%s", "transaction_id": "%s", "basket_total": "1"}' % (
            c.code.encode(),
            store.external_id.encode(),
            txn.encode(),
        )

    assert signed_post(client, old_secret, REDEEM, body("a")).status_code == 201
    assert signed_post(client, new.signing_secret, REDEEM, body("b")).status_code == 201
    services.pos_credentials_revoke_old(integration, new.credential)
    assert_problem(signed_post(client, old_secret, REDEEM, body("c")), 401, "invalid_signature")
    old_client = APIClient()
    old_client.credentials(HTTP_AUTHORIZATION=f"Bearer {old_key}")
    assert_problem(
        signed_post(old_client, new.signing_secret, REDEEM, body("d")), 401, "unauthenticated"
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("store_id", "S-\x001"),
        ("transaction_id", "T\x00"),
        ("occurred_at", "0000-01-01T00:00:00Z"),
        ("occurred_at", "2026-02-31T10:00:00Z"),
    ],
)
def test_nul_characters_and_impossible_times_are_400_not_500(till, code, store, field, value):
    body = {"code": code.code, "store_id": store.external_id, "transaction_id": "T-1"}

    paths = (REDEEM, VALIDATE) if field == "store_id" else (REDEEM,)  # validate takes no more
    for path in paths:
        response = till.post(path, {**body, "basket_total": "10.00", field: value}, format="json")
        assert_problem(response, 400, "validation_error")
    assert not Redemption.objects.exists()
