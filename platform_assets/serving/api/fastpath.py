"""The API's hot path in plain ASGI: `GET /v1/forecasts?product_id=P&store_id=S`, one whole series,
sent from the bodies the route made on this bundle (loaded.SeriesAnswers) without FastAPI's routing,
dependency solving and parameter validation and without polars: profiled in process (cProfile), those
were ~0.8 of a lookup's 1.7 ms and the route's polars slicing and JSON another 0.4 ms.

It answers only what the route would answer 200, with the same bytes: exactly those two parameters
(once each), a JSON answer, a key this process has verified before with a scope of `read` or wider and
a token left, a series the route answered on the current bundle. Anything else goes on to the route,
which answers it or says why not (401/403/429/404/422 problem+json), so the guard's and the route's
rules live in one place. It sits inside the request recorder: a request is logged, counted and
windowed the same way whoever answers it."""

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from platform_assets.serving.api.auth import presented_key
from platform_assets.serving.api.forecasts import JSON, PATH
from platform_assets.serving.api.services import Services

PARAMETERS = ("product_id", "store_id")
SCOPE = "read"  # the route's guard (forecasts.ReadKey)


def _headers(scope: Scope) -> dict[bytes, str]:
    """The first value of each header the fast path reads (as Starlette's `Headers.get`)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in (b"authorization", b"x-api-key", b"accept") and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _series(scope: Scope) -> tuple[str, str] | None:
    """(product, store) when the request is exactly `GET PATH?product_id=P&store_id=S`."""
    root, path = scope.get("root_path", ""), scope["path"]
    if scope["method"] != "GET" or (path[len(root) :] if root and path.startswith(root) else path) != PATH:
        return None
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if len(pairs) != len(PARAMETERS) or {name for name, _ in pairs} != set(PARAMETERS):
        return None
    query = dict(pairs)
    return query["product_id"], query["store_id"]


class SeriesFastPath:
    def __init__(self, app: ASGIApp, services: Services, route: object):
        self.app, self.services, self.route = app, services, route

    def _answer(self, scope: Scope) -> bytes | None:
        """The body to send, with the request's state set as the guard and route set it; None: the
        route answers."""
        series = None if scope["type"] != "http" else _series(scope)
        bundle = self.services.store.current
        body = None if series is None or bundle is None else bundle.answers.get(*series)
        if body is None:
            return None
        headers = _headers(scope)
        if "text/csv" in headers.get(b"accept", ""):
            return None
        presented = presented_key(headers.get(b"authorization"), headers.get(b"x-api-key"))
        key = None if presented is None else self.services.ring.recognise(presented)
        # A refused token is not spent (ratelimit.take), so the route's guard takes it again and says 429.
        if key is None or not key.allows(SCOPE) or self.services.limiter.take(key.key_id) is not None:
            return None
        state = scope.setdefault("state", {})
        state["key_id"], state["bundle"] = key.key_id, bundle
        scope["route"] = self.route
        return body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._answer(scope)
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
