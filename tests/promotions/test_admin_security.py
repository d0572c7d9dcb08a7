"""Who logs in to the admin: lock-out after wrong passwords (django-axes) and two-factor codes
(django-otp TOTP), time travelled by editing the stored times, never by sleeping."""

import base64
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client, RequestFactory
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from core.client_ip import client_ip
from promotions.models import Membership
from tests.factories import BrandFactory, marketer

pytestmark = pytest.mark.django_db
PASSWORD = "pw-123456789"  # tests.factories.marketer's


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """These tests check many passwords: a hasher that takes no second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login(client, username, password=PASSWORD, ip="10.0.0.1", **headers):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        **headers,
    )


def fail_until_locked(settings, username, ip="10.0.0.1"):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, username, "wrong", ip).status_code == 200  # the form, once more
    return login(client, username, "wrong", ip)


def cool_down_passes(settings):
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


def test_wrong_passwords_lock_the_account_even_for_the_right_one_until_the_cool_down(
    brand, settings
):
    user, _ = marketer(brand)

    locked = fail_until_locked(settings, user.username)

    assert settings.AXES_FAILURE_LIMIT == 5
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content and b"15 more minutes" in locked.content
    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60
    client = Client()
    right = login(client, user.username)
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # to the login page

    cool_down_passes(settings)

    assert login(client, user.username).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_lock_holds_that_address_and_not_another_accounts_elsewhere(brand, settings):
    user, _ = marketer(brand)
    colleague, _ = marketer(brand, role=Membership.Role.ANALYST)
    fail_until_locked(settings, user.username, ip="10.0.0.1")

    elsewhere = Client()
    assert login(elsewhere, colleague.username, ip="10.0.0.2").status_code == 302
    assert elsewhere.get("/admin/").status_code == 200
    # the address itself is locked too, whichever account it tries next
    assert login(Client(), colleague.username, ip="10.0.0.1").status_code == 429


def test_a_forged_forwarded_for_header_does_not_buy_new_guesses(brand, settings):
    user, _ = marketer(brand)
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, user.username, "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    assert login(client, user.username, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_the_client_ip_comes_from_the_proxy_header_only_when_configured(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    assert client_ip(request) == "10.1.1.1"

    settings.AXES_CLIENT_IP_HEADER = "X-Forwarded-For"
    assert client_ip(request) == "203.0.113.7"  # appended by our proxy: the client cannot forge it
    settings.AXES_TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "6.6.6.6"
    settings.AXES_TRUSTED_PROXY_COUNT = 3  # shorter than promised: the connection's address
    assert client_ip(request) == "10.1.1.1"
    garbage = RequestFactory().get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="unknown")
    assert client_ip(garbage) == "10.1.1.1"


def test_behind_a_proxy_the_lock_follows_the_forwarded_address(brand, settings):
    settings.AXES_CLIENT_IP_HEADER = "X-Forwarded-For"
    user, _ = marketer(brand)
    colleague, _ = marketer(brand, role=Membership.Role.ANALYST)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, user.username, "wrong", ip="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.1")

    another_client = login(
        Client(), colleague.username, ip="10.9.9.9", HTTP_X_FORWARDED_FOR="10.0.0.2"
    )
    locked_address = login(
        Client(), colleague.username, ip="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )
    no_header = login(Client(), user.username, ip="10.9.9.9", HTTP_X_FORWARDED_FOR="unknown")

    assert AccessAttempt.objects.get().ip_address == "198.51.100.1"
    assert another_client.status_code == 302  # behind the same proxy, not locked
    assert locked_address.status_code == 429
    assert no_header.status_code == 302  # not an address: the connection's, which is not locked


def test_the_management_api_token_is_not_locked_by_the_admin_login(brand, settings):
    user, token = marketer(brand)
    fail_until_locked(settings, user.username, ip="127.0.0.1")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert login(Client(), user.username, ip="127.0.0.1").status_code == 429
    assert api.get("/api/v1/manage/campaigns").status_code == 200


# --- two-factor ------------------------------------------------------------------------------


def code_for(device, steps_ahead=0) -> str:
    """What the authenticator app shows, from the device's key (``steps_ahead`` x 30 s later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(client, user) -> tuple[TOTPDevice, str]:
    """Turn two-factor on from the setup page; the device and the code that confirmed it."""
    client.get("/admin/two-factor/setup/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    code = code_for(device)
    assert client.post("/admin/two-factor/setup/", {"code": code}).status_code == 302
    device.refresh_from_db()
    return device, code


def test_a_marketer_turns_two_factor_on_with_a_qr_and_a_first_code(brand):
    user, _ = marketer(brand)
    client = Client()
    client.force_login(user)

    page = client.get("/admin/two-factor/setup/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    otpauth = page.context["otpauth_url"]
    wrong = client.post("/admin/two-factor/setup/", {"code": "000000"})
    device.throttle_reset()  # the wrong code's pause, passed
    right = client.post("/admin/two-factor/setup/?next=/admin/", {"code": code_for(device)})

    assert page.status_code == 200 and b"data:image/png;base64," in page.content
    assert otpauth.startswith(f"otpauth://totp/Trackable%20promotions%3A{user.username}?")
    assert parse_qs(urlsplit(otpauth).query)["secret"] == [secret]
    assert secret.encode() in page.content
    assert wrong.status_code == 200 and b"That code is not right" in wrong.content
    assert right.status_code == 302 and right["Location"] == "/admin/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200  # this session is verified
    assert b"Two-factor sign-in is on" in client.get("/admin/two-factor/setup/").content


def test_login_with_a_device_asks_for_its_code_and_refuses_a_wrong_one(brand):
    user, _ = marketer(brand)
    setup = Client()
    setup.force_login(user)
    device, used_at_enrolment = enrol(setup, user)
    client = Client()

    logged_in = login(client, user.username)
    asked = client.get("/admin/")
    held = client.get("/admin/promotions/campaign/")
    replayed = client.post("/admin/two-factor/", {"code": used_at_enrolment, "next": "/admin/"})
    device.throttle_reset()
    wrong = client.post("/admin/two-factor/", {"code": "123456", "next": "/admin/"})
    too_soon = client.post("/admin/two-factor/", {"code": code_for(device, 1), "next": "/admin/"})
    device.throttle_reset()
    right = client.post("/admin/two-factor/", {"code": code_for(device, 1), "next": "/admin/"})

    assert logged_in.status_code == 302 and logged_in["Location"] == "/admin/"
    assert asked.status_code == 302 and asked["Location"] == "/admin/two-factor/?next=%2Fadmin%2F"
    assert held["Location"].startswith("/admin/two-factor/?next=")
    assert b"That code is not right" in replayed.content  # a code is good once
    assert wrong.status_code == 200 and b"That code is not right" in wrong.content
    assert b"Too many wrong codes" in too_soon.content
    assert right.status_code == 302 and right["Location"] == "/admin/"
    assert client.get("/admin/promotions/campaign/").status_code == 200
    client.post("/admin/logout/")
    login(client, user.username)
    assert client.get("/admin/")["Location"].startswith("/admin/two-factor/")  # a new session


def test_an_account_without_two_factor_keeps_the_plain_login(brand):
    user, _ = marketer(brand)
    client = Client()

    form = client.get("/admin/login/")

    assert b'name="username"' in form.content and b'name="password"' in form.content
    assert b"otp" not in form.content.lower()
    assert login(client, user.username).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_brand_that_requires_two_factor_sends_its_members_to_enrol(brand, other_brand):
    admin_user, _ = marketer(brand)
    analyst, _ = marketer(brand, role=Membership.Role.ANALYST)
    outsider, _ = marketer(other_brand)
    admin_client, analyst_client, outsider_client = Client(), Client(), Client()
    admin_client.force_login(admin_user)
    analyst_client.force_login(analyst)
    outsider_client.force_login(outsider)

    refused = analyst_client.post(
        f"/admin/promotions/brand/{brand.id}/change/", brand_form(brand, require_two_factor="on")
    )
    required = admin_client.post(
        f"/admin/promotions/brand/{brand.id}/change/", brand_form(brand, require_two_factor="on")
    )
    brand.refresh_from_db()

    assert refused.status_code == 403
    assert required.status_code == 302 and brand.require_two_factor
    for client in (admin_client, analyst_client):
        for url in ("/admin/", "/admin/promotions/campaign/", "/admin/password_change/"):
            sent = client.get(url)
            assert sent.status_code == 302 and sent["Location"].startswith(
                "/admin/two-factor/setup/?next="
            ), (url, sent)
    page = analyst_client.get("/admin/two-factor/setup/")
    assert b"requires two-factor" in page.content
    assert outsider_client.get("/admin/").status_code == 200  # another brand: no requirement
    enrol(analyst_client, analyst)
    assert analyst_client.get("/admin/promotions/campaign/").status_code == 200


def test_a_required_brand_with_a_deleted_device_sends_back_to_enrolment(brand):
    brand.require_two_factor = True
    brand.save()
    user, _ = marketer(brand)
    client = Client()
    client.force_login(user)
    enrol(client, user)
    assert client.get("/admin/").status_code == 200

    TOTPDevice.objects.filter(user=user).delete()  # an administrator removed the lost phone

    assert client.get("/admin/")["Location"].startswith("/admin/two-factor/setup/")


def brand_form(brand, **changes) -> dict:
    form = {
        "name": brand.name,
        "slug": brand.slug,
        "currency": brand.currency,
        "timezone": brand.timezone,
    }
    return {**form, **changes}


def test_verification_only_returns_to_this_site(brand):
    user, _ = marketer(BrandFactory())
    client = Client()
    client.force_login(user)
    device, _ = enrol(client, user)
    client.post("/admin/logout/")
    login(client, user.username)

    back = client.post(
        "/admin/two-factor/", {"code": code_for(device, 1), "next": "https://evil.example/"}
    )

    assert back.status_code == 302 and back["Location"] == "/admin/"
