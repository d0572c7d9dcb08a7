"""The WSGI entry that answers tracking hits and a till's redeem before Django's request cycle
(config.fastpath).

These call the deployed WSGI application, the way gunicorn or granian do; Django's test client
would go around it.
"""

import io
import json
from unittest import mock
from urllib.parse import parse_qs, urlsplit
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from prometheus_client import REGISTRY

from config.fastpath import FAST_ROUTES, FastPath
from config.wsgi import application
from promotions.models import Touchpoint
from promotions.tracking.views import PIXEL
from redemptions.models import Redemption
from tests.factories import CodeFactory, PlacementFactory
from tests.helpers import assert_one_touch

pytestmark = pytest.mark.django_db(transaction=True)  # the entry returns connections, as Django


def call(path, query="", method="GET", body=b"", **headers):
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": method}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    environ["wsgi.input"] = io.BytesIO(body)
    if body:
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    setup_testing_defaults(environ)
    answered = {}

    def start_response(status, headers):
        answered["status"], answered["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(application(environ, start_response))
    return answered["status"], answered["headers"], body


@pytest.fixture
def placement(campaign):
    return PlacementFactory(
        campaign=campaign, destination_url="https://shop.example/landing?utm=x&click_id=old"
    )


@pytest.fixture
def django_never_called():
    with mock.patch.object(
        application, "django_app", side_effect=AssertionError("went through Django")
    ):
        yield


def requests_counted(route, status):
    labels = {"route": route, "method": "GET", "status": str(status)}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0


def test_a_click_is_recorded_and_redirected_without_django(placement, django_never_called):
    before = requests_counted("t/<str:token>", 302)

    status, headers, body = call(
        f"/t/{placement.tracking_token}", "customer_ref=c-1&click_id=clk-9", x_request_id="req-42"
    )

    assert status == 302 and body == b""
    target = urlsplit(headers["Location"])
    assert target.netloc == "shop.example"
    assert parse_qs(target.query) == {"utm": ["x"], "click_id": ["clk-9"]}
    assert headers["Cache-Control"] == "no-store" and headers["X-Request-ID"] == "req-42"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert_one_touch("click", placement, "c-1", "clk-9")
    assert requests_counted("t/<str:token>", 302) == before + 1


def test_a_click_gets_the_headers_django_would_give_it(placement, client_api):
    fast = call(f"/t/{placement.tracking_token}", "click_id=clk-1", x_request_id="r-1")[1]
    django = client_api.get(
        f"/t/{placement.tracking_token}", {"click_id": "clk-1"}, HTTP_X_REQUEST_ID="r-1"
    )

    assert fast == dict(django.headers)


def test_a_destinations_fragment_stays_after_the_click_id(campaign, django_never_called):
    placement = PlacementFactory(campaign=campaign, destination_url="https://shop.example/a#top")

    status, headers, _ = call(f"/t/{placement.tracking_token}", "click_id=clk-1")

    assert status == 302 and headers["Location"] == "https://shop.example/a?click_id=clk-1#top"


def test_a_host_allowed_once_is_refused_after_the_settings_change(placement, settings):
    settings.ALLOWED_HOSTS = ["promo.example"]
    allowed = call(f"/t/{placement.tracking_token}", host="promo.example")
    settings.ALLOWED_HOSTS = ["other.example"]

    with mock.patch.object(application, "django_app", side_effect=django_answers):
        refused = call(f"/t/{placement.tracking_token}", host="promo.example")

    assert allowed[0] == 302 and refused[2] == b"django"


def test_a_pixel_is_an_uncached_gif(placement, django_never_called):
    status, headers, body = call(f"/i/{placement.tracking_token}.gif", "customer_ref=c-1")

    assert status == 200 and body == PIXEL and headers["Content-Type"] == "image/gif"
    assert "no-store" in headers["Cache-Control"] and headers["Content-Length"] == str(len(PIXEL))
    assert Touchpoint.objects.get().kind == "impression"


def test_an_unknown_token_is_a_404_problem(django_never_called):
    status, headers, body = call("/t/nope")

    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert b'"code":"not_found"' in body and not Touchpoint.objects.exists()


def test_a_database_failure_is_a_500_problem_not_a_crash(placement, django_never_called):
    with mock.patch("promotions.tracking.services.touch_record", side_effect=DatabaseError("down")):
        status, headers, body = call(f"/t/{placement.tracking_token}")

    assert status == 500 and headers["Content-Type"] == "application/problem+json"
    assert b'"code":"internal_error"' in body


def django_answers(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"django"]


@pytest.mark.parametrize(
    "path, method",
    [
        ("/t/{token}", "POST"),  # only GET and HEAD are tracking hits
        ("/t/{token}/extra", "GET"),
        ("/i/{token}", "GET"),  # the pixel is .gif
        ("/health/live", "GET"),
    ],
)
def test_everything_else_goes_to_django(placement, path, method):
    with mock.patch.object(application, "django_app", side_effect=django_answers):
        answer = call(path.format(token=placement.tracking_token), method=method)

    assert answer[2] == b"django" and not Touchpoint.objects.exists()


def test_with_https_required_a_plain_http_hit_goes_to_django_to_be_redirected(placement, settings):
    settings.SECURE_SSL_REDIRECT = True

    with mock.patch.object(application, "django_app", side_effect=django_answers):
        plain = call(f"/t/{placement.tracking_token}")
    with mock.patch.object(application, "django_app", side_effect=AssertionError("Django")):
        status, headers, _ = call(f"/t/{placement.tracking_token}", x_forwarded_proto="https")

    assert plain[2] == b"django" and status == 302
    assert Touchpoint.objects.count() == 1


def test_a_host_django_would_refuse_goes_to_django(placement, settings):
    settings.ALLOWED_HOSTS = ["promo.example"]

    with mock.patch.object(application, "django_app", side_effect=django_answers):
        refused = call(f"/t/{placement.tracking_token}", host="evil.example")
    with mock.patch.object(application, "django_app", side_effect=AssertionError("Django")):
        allowed = call(f"/t/{placement.tracking_token}", host="promo.example")

    assert refused[2] == b"django" and allowed[0] == 302
    assert Touchpoint.objects.count() == 1


def sale(code, store, txn="T-1"):
    body = {"code": code.code, "store_id": store.external_id, "transaction_id": txn}
    return json.dumps({**body, "basket_total": "10.00"}).encode()


def test_a_till_redeems_without_django(offer, store, pos, django_never_called):
    _, api_key, _ = pos
    code, auth = CodeFactory(offer=offer), f"Bearer {api_key}"
    before = requests_counted_post("api/v1/pos/generic/redemptions", 201)

    status, headers, body = call(
        "/api/v1/pos/generic/redemptions",
        method="POST",
        body=sale(code, store),
        authorization=auth,
        idempotency_key="till-1",
        x_request_id="req-7",
    )
    replayed = call(
        "/api/v1/pos/generic/redemptions",
        method="POST",
        body=sale(code, store),
        authorization=auth,
        idempotency_key="till-1",
    )

    assert status == 201 and headers["X-Request-ID"] == "req-7"
    assert headers["Content-Type"] == "application/json" and headers["X-Frame-Options"] == "DENY"
    redemption = Redemption.objects.get()
    assert json.loads(body)["redemption_id"] == redemption.id
    assert replayed[0] == 201 and replayed[1]["Idempotent-Replayed"] == "true"
    assert requests_counted_post("api/v1/pos/generic/redemptions", 201) == before + 2


def test_a_tills_bad_calls_get_the_answers_django_would_give(offer, store, pos, settings):
    _, api_key, _ = pos
    code, auth = CodeFactory(offer=offer), f"Bearer {api_key}"
    redeem = "/api/v1/pos/generic/redemptions"

    unauthenticated = call(redeem, method="POST", body=sale(code, store))
    malformed = call(redeem, method="POST", body=b"{nope", authorization=auth)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    too_big = call(redeem, method="POST", body=sale(code, store), authorization=auth)

    assert unauthenticated[0] == 401 and b'"code":"unauthenticated"' in unauthenticated[2]
    assert malformed[0] == 400 and malformed[1]["Content-Type"] == "application/problem+json"
    assert too_big[0] == 400 and b'"code":"bad_request"' in too_big[2]
    assert not Redemption.objects.exists()


@pytest.mark.parametrize(
    "path, method",
    [
        ("/api/v1/pos/generic/redemptions", "GET"),
        ("/api/v1/pos/generic/redemptions/1/void", "POST"),
        ("/api/v1/pos/generic/batch", "POST"),
        ("/api/v1/pos/generic/redemptions/", "POST"),
    ],
)
def test_the_rest_of_the_pos_api_goes_to_django(path, method):
    with mock.patch.object(application, "django_app", side_effect=django_answers) as django_app:
        call(path, method=method)

    assert django_app.called


def requests_counted_post(route, status):
    labels = {"route": route, "method": "POST", "status": str(status)}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0


# --- Parity: each fast route answers exactly what Django's own stack answers -------------------


def call_django(path, query="", method="GET", body=b"", **headers):
    """``call``, but through Django's WSGI handler with every middleware of the settings."""
    with mock.patch("config.fastpath._fast_match", return_value=None):
        return call(path, query, method, body, **headers)


def test_every_fast_route_has_a_parity_test():
    tested = {"track-click", "track-impression", "pos-generic-redeem"}
    assert set(FAST_ROUTES) == tested


def test_click_parity(placement):
    query = "click_id=clk-1&customer_ref=c-1"
    fast = call(f"/t/{placement.tracking_token}", query, x_request_id="r-1")
    django = call_django(f"/t/{placement.tracking_token}", query, x_request_id="r-1")

    assert fast == django
    assert Touchpoint.objects.filter(kind="click").count() == 2


def test_click_parity_for_an_unknown_link(db):
    assert call("/t/nope", x_request_id="r-1") == call_django("/t/nope", x_request_id="r-1")


def test_pixel_parity(placement):
    path = f"/i/{placement.tracking_token}.gif"
    fast = call(path, "customer_ref=c-1", x_request_id="r-2")
    django = call_django(path, "customer_ref=c-1", x_request_id="r-2")
    expires = fast[1].pop("Expires"), django[1].pop("Expires")  # the time of each answer

    assert fast == django and fast[2] == PIXEL and all(expires)


def test_redeem_parity(offer, store, pos):
    _, api_key, _ = pos
    auth = f"Bearer {api_key}"
    first, second = CodeFactory(offer=offer), CodeFactory(offer=offer)
    # two codes, one each way: the answers are the same but for the redemption's id
    fast = call(
        "/api/v1/pos/generic/redemptions",
        method="POST",
        body=sale(first, store, "T-1"),
        authorization=auth,
        x_request_id="r-3",
    )
    django = call_django(
        "/api/v1/pos/generic/redemptions",
        method="POST",
        body=sale(second, store, "T-2"),
        authorization=auth,
        x_request_id="r-3",
    )
    fast_body, django_body = json.loads(fast[2]), json.loads(django[2])
    fast_body.pop("redemption_id"), django_body.pop("redemption_id")

    assert fast[0] == django[0] == 201 and fast[1] == django[1] and fast_body == django_body
    declined = [
        runner(
            "/api/v1/pos/generic/redemptions",
            method="POST",
            body=sale(first, store, "T-9"),
            authorization=auth,
            x_request_id="r-4",
        )
        for runner in (call, call_django)
    ]
    assert declined[0] == declined[1] and declined[0][0] == 409


def test_the_entry_refuses_to_start_with_a_middleware_it_does_not_reproduce(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]

    with pytest.raises(ImproperlyConfigured, match="GZipMiddleware"):
        FastPath(application.django_app)


def test_the_entry_refuses_settings_of_common_middleware_it_skips(settings):
    settings.PREPEND_WWW = True

    with pytest.raises(ImproperlyConfigured, match="PREPEND_WWW"):
        FastPath(application.django_app)
