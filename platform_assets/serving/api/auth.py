"""Route guards: the API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`), its scope, then its
rate limit. Failed key checks are limited per client address before the slow hash. The key id, never
the key, is kept for the request log."""

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from platform_assets.serving.api.problems import Forbidden, RateLimited, Unauthorized
from platform_assets.serving.api.services import Services, services
from platform_assets.serving.keys import ApiKey


def presented_key(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request presents: `Authorization: Bearer KEY`, else `X-API-Key: KEY`."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return api_key or None


def _checked(shared: Services, request: Request, presented: str) -> ApiKey:
    """The slow check of a key this process has not verified yet, refused without hashing once the
    client's failed checks are over their limit (so wrong keys cannot burn CPU or guess fast)."""
    client = request.client.host if request.client else "unknown"
    wait = shared.failures.empty(client)
    if wait is not None:
        raise RateLimited(
            f"too many failed API key checks from {client} (over {shared.failures.burst} at once, then "
            f"{shared.failures.rate:g}/s): retry in {wait} s with a key from `shelfcast keys list`",
            wait,
        )
    key = shared.ring.authenticate(presented)
    if key is None:
        shared.failures.take(client)
        raise Unauthorized("the API key is unknown, revoked or mistyped: check it with `shelfcast keys list`")
    return key


def require(scope: str):
    """A guard admitting keys of `scope` or a wider one (`ReadKey`, `WhatIfKey`). It runs on the event
    loop (no thread hop per request); only the slow check of a new key goes to a worker thread."""

    async def guard(request: Request) -> ApiKey:
        shared = services(request)
        presented = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        if presented is None:
            raise Unauthorized(
                "send an API key as `Authorization: Bearer KEY` or `X-API-Key: KEY` "
                "(create one with `shelfcast keys create --name NAME --scope read`)"
            )
        key = shared.ring.recognise(presented)
        if key is None:
            key = await run_in_threadpool(_checked, shared, request, presented)
        request.state.key_id = key.key_id
        if not key.allows(scope):
            raise Forbidden(f"key {key.key_id} has scope {key.scope!r}; this route needs {scope!r} or wider")
        wait = shared.limiter.take(key.key_id)
        if wait is not None:
            raise RateLimited(
                f"key {key.key_id} is over {shared.limiter.rate:g} requests/s (burst "
                f"{shared.limiter.burst}): retry in {wait} s",
                wait,
            )
        return key

    return guard


ReadKey = Annotated[ApiKey, Depends(require("read"))]
WhatIfKey = Annotated[ApiKey, Depends(require("what-if"))]
