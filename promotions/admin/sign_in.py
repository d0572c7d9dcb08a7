"""Signing in to the admin: the lock-out page, and two-factor codes (TOTP, django-otp).

The login form stays the plain ``/admin/login/`` (username, password). An account with a
confirmed authenticator is then asked for its code before any admin page; a member of a brand
that requires two-factor (``Brand.require_two_factor``) is sent to enrol first. What proves the
second step is django-otp's mark in the session, so a new session asks again.
"""

import base64
import math
from urllib.parse import urlencode

from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Max
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from promotions import barcodes
from promotions.models import Membership

VERIFY, SETUP = "two-factor-verify", "two-factor-setup"


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def two_factor_required(user) -> bool:
    """A brand the user works for requires two-factor."""
    return Membership.objects.filter(user=user, brand__require_two_factor=True).exists()


def second_step(user) -> str | None:
    """The page this session must pass before the admin (``VERIFY``, ``SETUP``), if any."""
    if not user.is_authenticated or user.is_verified():
        return None
    if confirmed_device(user):
        return VERIFY
    if two_factor_required(user):
        return SETUP
    return None


class TwoFactorMiddleware:
    """Every admin page but login and logout waits for the second step of a session that needs
    one: the code of a confirmed device, or an enrolment the user's brand requires."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match.app_name != "admin" or match.url_name in ("login", "logout"):
            return None
        step = second_step(request.user)
        if step is None:
            return None
        return redirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=10,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args, device: TOTPDevice, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_code(self):
        code = self.cleaned_data["code"].replace(" ", "")
        # One verification at a time (a code is good once); a wrong one is counted, committed.
        with transaction.atomic():
            device = TOTPDevice.objects.select_for_update().get(pk=self.device.pk)
            allowed, why = device.verify_is_allowed()
            verified = allowed and device.verify_token(code)
        if not allowed:
            wait = (why or {}).get("locked_until", timezone.now()) - timezone.now()
            raise forms.ValidationError(
                f"Too many wrong codes: wait {max(math.ceil(wait.total_seconds()), 1)} "
                "seconds, then enter the code your app shows."
            )
        if not verified:
            raise forms.ValidationError(
                "That code is not right, or was used already: enter the one your app shows now."
            )
        self.device = device
        return code


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


def _page(request, template: str, title: str, **context) -> TemplateResponse:
    context = {**admin.site.each_context(request), "title": title, **context}
    # the admin's menu only once it opens
    context["is_nav_sidebar_enabled"] &= second_step(request.user) is None
    return TemplateResponse(request, f"admin/promotions/sign_in/{template}", context)


def verify_view(request):
    """The second step of a login: the code of the account's confirmed device."""
    device = confirmed_device(request.user)
    if device is None:
        return redirect(SETUP)
    if request.user.is_verified():
        return redirect(_next_url(request))
    form = CodeForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        request.session.cycle_key()  # a session gaining a step gets a new key
        otp_login(request, form.device)
        return redirect(_next_url(request))
    return _page(request, "verify.html", "Two-factor code", form=form, next=_next_url(request))


def setup_view(request):
    """Turn two-factor on: scan the QR (or type the key), confirm with a first code."""
    user = request.user
    required = two_factor_required(user)
    device = confirmed_device(user)
    if device is not None:
        if not user.is_verified():
            return redirect(f"{reverse(VERIFY)}?{urlencode({'next': request.path})}")
        return _page(request, "setup.html", "Two-factor sign-in", enabled=True, required=required)
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if pending is None:
        pending = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = CodeForm(request.POST or None, device=pending)
    if request.method == "POST" and form.is_valid():
        confirmed = form.device
        confirmed.confirmed = True
        confirmed.save(update_fields=["confirmed"])
        request.session.cycle_key()
        otp_login(request, confirmed)
        messages.success(request, "Two-factor sign-in is on: each login now asks for a code.")
        return redirect(_next_url(request))
    qr = base64.b64encode(barcodes.qr_png(pending.config_url, box_size=5)).decode()
    return _page(
        request,
        "setup.html",
        "Turn on two-factor sign-in",
        enabled=False,
        required=required,
        form=form,
        qr=qr,
        secret=base64.b32encode(pending.bin_key).decode(),
        otpauth_url=pending.config_url,
        next=_next_url(request),
    )


def locked_out(request, response=None, credentials=None):
    """What a login sees while django-axes locks its address (or its username there): a page
    that says until when, ``429`` with ``Retry-After``."""
    cool_off = settings.AXES_COOLOFF_TIME
    last = AccessAttempt.objects.filter(ip_address=getattr(request, "axes_ip_address", None))
    last = last.aggregate(at=Max("attempt_time"))["at"] or timezone.now()
    seconds = max(math.ceil((last + cool_off - timezone.now()).total_seconds()), 1)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "is_nav_sidebar_enabled": False,
        "minutes": math.ceil(seconds / 60),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    page = render(request, "admin/promotions/sign_in/locked_out.html", context, status=429)
    page["Retry-After"] = str(seconds)
    return page


urlpatterns = [
    path("", admin.site.admin_view(verify_view), name=VERIFY),
    path("setup/", admin.site.admin_view(setup_view), name=SETUP),
]
