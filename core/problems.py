"""RFC 9457 problem+json errors with a stable machine ``code``, for every API in the project."""

import logging

import orjson
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """An HTTP answer that is a problem document: raised at the edge (views, adapters), or made
    from a service's ``DomainError`` with the status its code maps to (``Problem.of``)."""

    def __init__(self, status: int, code: str, detail: str = "", *, headers=None, **extra):
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail or code.replace("_", " ").capitalize() + "."
        self.headers = headers or {}
        self.extra = extra

    @classmethod
    def of(cls, error: DomainError) -> "Problem":
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return cls(error.status, error.code, error.detail, headers=headers, **error.extra)

    def as_dict(self) -> dict:
        body = {
            "type": f"https://errors.promotions.dev/{self.code}",
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


def problem_response(problem: Problem) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(problem.as_dict()), status=problem.status, content_type=CONTENT_TYPE
    )
    for name, value in problem.headers.items():
        response[name] = value
    return response


def _flatten(detail, prefix="") -> list[dict]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            out += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            return [{"field": prefix or None, "message": str(item)} for item in detail]
        out = []
        for index, item in enumerate(detail):
            out += _flatten(item, f"{prefix}[{index}]")
        return out
    return [{"field": prefix or None, "message": str(detail)}]


def from_drf(exc: Exception) -> Problem | None:
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, DomainError):
        return Problem.of(exc)
    if isinstance(exc, Http404):
        return Problem(404, "not_found", "No such object.")
    if isinstance(exc, exceptions.ParseError):
        return Problem(400, "malformed_json", str(exc.detail))
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        code = "unknown_field" if any(e["message"] == "Unknown field." for e in errors) else None
        return Problem(
            400,
            code or "validation_error",
            "; ".join(
                f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
            ),
            errors=errors,
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return Problem(
            401, "unauthenticated", str(exc.detail), headers={"WWW-Authenticate": "Token"}
        )
    if isinstance(exc, exceptions.PermissionDenied):
        return Problem(403, "forbidden", str(exc.detail))
    if isinstance(exc, exceptions.NotFound):
        return Problem(404, "not_found", "No such object.")
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Problem(405, "method_not_allowed", str(exc.detail))
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Problem(415, "unsupported_media_type", str(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        headers = {"Retry-After": str(exc.wait)} if exc.wait is not None else None
        return Problem(429, "throttled", str(exc.detail), headers=headers)
    if isinstance(exc, exceptions.APIException):
        return Problem(exc.status_code, exc.default_code, str(exc.detail))
    return None


def exception_handler(exc, context):
    problem = from_drf(exc)
    if problem is None:
        return drf_exception_handler(exc, context)
    return problem_response(problem)


def handler404(request, exception=None):
    return problem_response(Problem(404, "not_found", "No such resource."))


def handler500(request):
    return problem_response(Problem(500, "internal_error", "Something went wrong on our side."))


def handler400(request, exception=None):
    return problem_response(Problem(400, "bad_request", "The request could not be understood."))
