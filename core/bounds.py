"""One bound for every kind of value that comes from outside, checked at the door.

Each bound says what the database and the rest of the code can hold, so that nothing past it
is ever written or computed with: event times within a sane window, money that fits its
column, integers that fit theirs, text without NUL, JSON no deeper than a few dozen levels,
pages no longer than a thousand rows. A value past a bound is refused with a 400 problem
document naming the field; nothing is written.
"""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from io import BytesIO

from django.utils import timezone
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser

EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)  # no touch, claim or sale happened before
FUTURE_SLACK = timedelta(days=1)  # clocks drift; tills replay offline sales, never future ones
CENT = Decimal("0.01")
MONEY_MAX = Decimal("9999999999.99")  # numeric(12, 2): every amount column
INT_MAX = 2**31 - 1  # PostgreSQL integer
BIGINT_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32
MAX_PAGE = 1000


def event_time_problem(moment: datetime) -> str | None:
    """Why ``moment`` cannot be the time of an event, or None when it can."""
    if moment.tzinfo is None:
        return "an ISO 8601 time with a UTC offset"
    if moment < EARLIEST_EVENT:
        return "no earlier than 2000-01-01"
    if moment > timezone.now() + FUTURE_SLACK:
        return "no later than a day from now"
    return None


def money(value) -> Decimal:
    """An amount in cents that fits an amount column; ValueError saying why it cannot be."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a decimal string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be 0 or more")
    if amount > MONEY_MAX + CENT:  # quantizing a huge number is itself an error
        raise ValueError(f"at most {MONEY_MAX}")
    amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if amount > MONEY_MAX:
        raise ValueError(f"at most {MONEY_MAX}")
    return amount.copy_abs()  # "-0" is 0.00, not -0.00


def has_nul(text: str) -> bool:
    """PostgreSQL text cannot hold NUL, and no caller ever means one."""
    return "\x00" in text


def text_problem(text: str) -> str | None:
    """Why PostgreSQL could not store ``text`` (a NUL, or a lone surrogate such as ``\\ud800``
    that JSON can carry and UTF-8 cannot), or None when it can."""
    if has_nul(text):
        return "must not contain NUL"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def json_depth_within(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests no deeper than ``limit``: a scan of the bytes, made
    before parsing (Python's parser recurses, and a deep enough document exhausts the stack),
    and before any signature or authentication work."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return True


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing a document nested past MAX_JSON_DEPTH before parsing it."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not json_depth_within(raw):
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        return super().parse(BytesIO(raw), media_type, parser_context)


class BoundedPagination(LimitOffsetPagination):
    """Pages of at most MAX_PAGE rows; an offset past what a bigint holds is the first page."""

    max_limit = MAX_PAGE

    def get_offset(self, request):
        return min(super().get_offset(request), BIGINT_MAX)


def nul_in_request(path: str, query_string: str) -> bool:
    """A NUL in the path (decoded by the server) or the raw query string (``%00``)."""
    return has_nul(path) or "%00" in query_string


class RefuseNulMiddleware:
    """A request whose path or query string carries a NUL is a 400 before any view reads it:
    no lookup, log line or redirect has to think about one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if nul_in_request(request.path_info, request.META.get("QUERY_STRING", "")):
            from core.problems import Problem, problem_response

            return problem_response(
                Problem(400, "validation_error", "The URL must not contain NUL characters.")
            )
        return self.get_response(request)
