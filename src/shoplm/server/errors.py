"""Errors as problem details (RFC 9457): a status, a title, a detail, and for bad input the
fields and reasons.  A client never sees a stack trace; the server log gets it instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shoplm.engine import NotFittedError, UnknownPlatformError

log = logging.getLogger("shoplm.server")
PROBLEM_JSON = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "API key required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Not ready",
    413: "Too large",
    422: "Invalid input",
    500: "Internal error",
}


class ProblemError(Exception):
    """Raise from a route or dependency to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors or [])
        self.headers = dict(headers or {})


def field_error(field: str, reason: str) -> ProblemError:
    """A 422 naming one field, like a pydantic validation error."""
    return ProblemError(422, f"{field}: {reason}", [{"field": field, "reason": reason}])


def problem(
    request: Request,
    status: int,
    detail: str,
    errors: Iterable[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    errors = list(errors)
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        out.append({"field": ".".join(loc) or "(request)", "reason": str(error.get("msg", ""))})
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Map every error the routes can raise to a problem document."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem(request, error.status, error.detail, error.errors, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = _field_errors(error.errors())
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
        return problem(request, 422, detail, errors)

    @app.exception_handler(ValidationError)
    async def _invalid_model(request: Request, error: ValidationError) -> JSONResponse:
        errors = _field_errors(error.errors())
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5])
        return problem(request, 422, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        return problem(request, error.status_code, detail, headers=error.headers)

    @app.exception_handler(NotFittedError)
    async def _not_fitted(request: Request, error: NotFittedError) -> JSONResponse:
        return problem(request, 409, str(error))

    @app.exception_handler(UnknownPlatformError)
    async def _unknown_platform(request: Request, error: UnknownPlatformError) -> JSONResponse:
        return problem(request, 404, str(error), [{"field": "platform", "reason": str(error)}])

    @app.exception_handler(KeyError)
    async def _missing(request: Request, error: KeyError) -> JSONResponse:
        return problem(request, 404, str(error.args[0]) if error.args else "not found")

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, error: ValueError) -> JSONResponse:
        return problem(request, 422, str(error))

    @app.exception_handler(Exception)
    async def _internal(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "the server failed to answer; the error is in its log")
