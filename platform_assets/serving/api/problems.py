"""Errors as application/problem+json (RFC 9457): a title, the status, a detail a person can act on
and the request id to quote. Nothing from the request's credentials is ever echoed."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from platform_assets.serving.errors import ServingError

MEDIA_TYPE = "application/problem+json"


class Unauthorized(ServingError):
    status, title = 401, "Missing or invalid API key"


class Forbidden(ServingError):
    status, title = 403, "API key lacks the scope"


class RateLimited(ServingError):
    status, title = 429, "Rate limit exceeded"

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after


def problem(
    request: Request, status: int, title: str, detail: str, headers: dict | None = None, **extra
) -> JSONResponse:
    request.state.problem = title
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(location: tuple) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


async def _serving_error(request: Request, exc: ServingError) -> JSONResponse:
    headers = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return problem(request, exc.status, exc.title, exc.detail, headers or None)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(request, 422, "Invalid request", detail, errors=errors)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "see the API documentation at /docs"
    if exc.status_code == 404:
        detail = f"no route {request.url.path}: see /docs for the routes"
    return problem(request, exc.status_code, "Not found" if exc.status_code == 404 else "HTTP error", detail)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return problem(request, 500, "Internal error", "the server failed on this request: quote its request_id")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServingError, _serving_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
