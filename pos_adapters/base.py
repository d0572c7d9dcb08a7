"""The contract every POS adapter implements. Adapters translate only: no database, no rules.

A request flows: ``presented`` (what credentials it carries) -> the redemption service finds the
integration -> ``verify`` (signature, when the vendor signs) -> ``parse`` into canonical
requests -> the service decides -> ``render`` the outcomes in the vendor's own format. The order
is the service's (``redemptions.services.pos_call.pos_call_run``), the same for every vendor.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from core import bounds
from core.problems import CONTENT_TYPE as PROBLEM
from core.problems import Problem
from redemptions.canonical import CanonicalRequest, Outcome


@dataclass(frozen=True)
class Route:
    """One URL of a vendor's protocol: the request path (``django.urls.path`` syntax, keyword
    arguments passed to ``parse``), the operation it performs and the URL's name."""

    path: str
    operation: str
    name: str


@dataclass(frozen=True)
class Presented:
    """The credentials a request presents: a bearer API key or a vendor account id."""

    api_key: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class AdapterResponse:
    status: int
    body: dict
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


# One parsed item: a canonical request, or the problem that made the item unusable (batches
# report it per item instead of failing the whole file).
ParsedItem = CanonicalRequest | Problem


# The credentials of the default ``PosAdapter.presented``, as an OpenAPI security scheme.
POS_API_KEY = {
    "type": "http",
    "scheme": "bearer",
    "description": "The POS integration's API key: `Authorization: Bearer <POS API key>`.",
}


class PosAdapter:
    """A vendor's protocol. Subclass it in a module of ``pos_adapters/vendors/``: the registry,
    the URL conf, the OpenAPI schema and the names a POS integration may use are derived from
    ``name``, ``routes``, ``security_schemes`` and ``route_schema``; nothing else needs to
    change to add a vendor."""

    name = ""
    routes: tuple[Route, ...] = ()
    # Headers that change what a call means: part of its Idempotency-Key fingerprint, so that a
    # key reused with another value of one of them is refused rather than replayed.
    fingerprint_headers: tuple[str, ...] = ()
    # OpenAPI security schemes (name -> definition) a call presents: any one of them will do.
    security_schemes: dict[str, dict] = {"PosApiKey": POS_API_KEY}

    def route_schema(self, route: Route) -> dict:
        """The route's OpenAPI operation, as keyword arguments of drf-spectacular's
        ``extend_schema`` (``request``, ``responses``, ``parameters``, ``description``, ...);
        ``pos_adapters.schema`` puts one operation per route into ``/api/schema/``. Default: a
        JSON object in and out, problem documents on errors."""
        return {
            "request": OpenApiTypes.OBJECT,
            "responses": {200: OpenApiTypes.OBJECT, **problem_responses(400, 401)},
        }

    def presented(self, request) -> Presented:
        """Credentials in the request. Default: ``Authorization: Bearer <POS API key>``."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return Presented(api_key=token.strip() if scheme.lower() == "bearer" else None)

    def verify(self, request, secrets: list[str], *, required: bool) -> None:
        """Raise ``Problem(401, ...)`` if the request's signature is wrong (or missing and required)."""

    def idempotency_key(self, request) -> str | None:
        """The vendor's retry key, scoped per integration by the caller."""
        return request.headers.get("Idempotency-Key") or None

    def parse(self, request, operation: str, **kwargs) -> list[ParsedItem]:
        """Translate the vendor payload into canonical requests; raise ``Problem`` if unusable."""
        raise NotImplementedError

    def render(self, operation: str, items: list[ParsedItem], outcomes: list) -> AdapterResponse:
        """The vendor-format response for ``outcomes`` (one per item, Outcome or Problem)."""
        raise NotImplementedError

    def render_error(self, problem: Problem) -> AdapterResponse:
        """A request-level failure (auth, bad payload) in the vendor's error format."""
        return AdapterResponse(
            problem.status, problem.as_dict(), "application/problem+json", problem.headers
        )


# --- Parsing helpers shared by adapters -----------------------------------------------------


def json_body(request) -> dict:
    if not bounds.json_depth_within(request.body or b""):
        raise Problem(
            400, "malformed_json", f"JSON nested deeper than {bounds.MAX_JSON_DEPTH} levels."
        )
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "malformed_json", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Problem(400, "validation_error", "The body must be a JSON object.")
    return body


def json_object_or_none(request) -> dict | None:
    """The body as a JSON object, or None when it is not one (or nests too deep to parse):
    for reading a routing field before the body is verified and parsed for real."""
    raw = request.body or b""
    if not bounds.json_depth_within(raw):
        return None
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _invalid(name: str, message: str) -> Problem:
    return Problem(400, "validation_error", f"{name}: {message}", field=name)


def text_field(data, name: str, *, max_length: int, required: bool = True) -> str:
    """A string of at most ``max_length`` characters (an integer is taken as its digits),
    stripped; one PostgreSQL can store: no NUL, no lone surrogate (``\\ud800`` in JSON)."""
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _invalid(name, "this field is required.")
        return ""
    if not isinstance(value, str):
        raise _invalid(name, "must be a string.")
    value = value.strip()
    wrong = bounds.text_problem(value)
    if wrong:
        raise _invalid(name, f"{wrong}.")
    if len(value) > max_length:
        raise _invalid(name, f"at most {max_length} characters.")
    return value


def money_field(data: dict, name: str, *, required: bool = True) -> Decimal | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise _invalid(name, "this field is required.")
        return None
    return money_value(value, name)


def money_value(value, name: str) -> Decimal:
    """An amount that fits an amount column (``core.bounds.money``), else a 400 naming ``name``."""
    try:
        return bounds.money(value)
    except ValueError as error:
        raise _invalid(name, f"{error}.") from None


def time_field(data: dict, name: str):
    value = data.get(name)
    if value in (None, ""):
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, such as year 0 or 31 February
        parsed = None
    wrong = "an ISO 8601 time with a UTC offset" if parsed is None else None
    wrong = wrong or bounds.event_time_problem(parsed)
    if wrong:
        raise _invalid(name, f"{wrong}.")
    return parsed


def outcome_json(outcome: Outcome) -> dict:
    """An outcome's common fields (``OutcomeFields`` in the schema), those it has."""
    body = {}
    if outcome.redemption_id is not None:
        body["redemption_id"] = outcome.redemption_id
        body["status"] = outcome.redemption_status
    if outcome.offer is not None:
        body["offer"] = outcome.offer
        body["reward"] = outcome.reward
    if outcome.discount is not None:
        body["discount"] = str(outcome.discount)
    if outcome.basket_total is not None:
        body["basket_total"] = str(outcome.basket_total)
    return body


# --- Schema pieces shared by adapters (drf-spectacular) -------------------------------------


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^\d{1,10}(\.\d{1,2})?$"})
class MoneyString(serializers.CharField):
    """An amount as a decimal string, such as ``"18.40"``: 0 up to 9999999999.99."""


class ProblemDocument(serializers.Serializer):
    """An RFC 9457 problem document, with a stable machine `code`."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine code, e.g. `validation_error`.")
    field = serializers.CharField(required=False, help_text="The request field at fault.")


class OfferSummary(serializers.Serializer):
    """The offer a code belongs to."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    campaign = serializers.IntegerField()


class RewardSummary(serializers.Serializer):
    """What the offer gives: the till applies `pos_discount_ref`, or the discount."""

    type = serializers.ChoiceField(["percent_off", "amount_off", "free_item", "bogo"])
    value = MoneyString()
    pos_discount_ref = serializers.CharField(allow_blank=True)


class OutcomeFields(serializers.Serializer):
    """An outcome's fields, each one present when the outcome has it."""

    redemption_id = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(["redeemed", "voided"], required=False)
    offer = OfferSummary(required=False)
    reward = RewardSummary(required=False)
    discount = MoneyString(required=False, help_text="What the till takes off.")
    basket_total = MoneyString(required=False)


class PosDecline(ProblemDocument):
    """A refusal by the rules (a problem document), with the offer when the code was known."""

    redeemable = serializers.BooleanField(required=False, help_text="On validate: false.")
    offer = OfferSummary(required=False)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="The till's retry key (at most 255 printable characters, kept 24 h per "
    "integration): a retry with the same key and body replays the stored answer with "
    "`Idempotent-Replayed: true`; with another body it is a 422; while the first call runs, "
    "a 409 with `Retry-After`.",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    enum=["true"],
    response=[200, 201],
    description="Present when this is the stored answer to an earlier call.",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, response=[409, 429], description="Seconds."
)


def problem_responses(*statuses: int, schema=ProblemDocument) -> dict:
    """``extend_schema`` responses: a problem document for each of ``statuses``."""
    return {
        (status, PROBLEM): OpenApiResponse(schema, description=f"A {status} problem document.")
        for status in statuses
    }
