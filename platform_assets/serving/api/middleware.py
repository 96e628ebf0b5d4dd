"""Every request, answered or rejected, is timed, counted and logged here (plain ASGI, outside the
routing): a request id (also sent back as X-Request-ID), the route template, the parameters and
payload, the status, the latency, the key id the guard found and the bundle the route used."""

import json
import random
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_assets.serving.api.services import Services
from platform_assets.serving.live_windows import event_from_row
from platform_assets.serving.requestlog import params_text, payload_text

# Larger bodies are refused before anything reads them.
MAX_BODY = 1024 * 1024
TOO_LARGE = (
    b'{"type":"about:blank","title":"Payload too large","status":413,'
    b'"detail":"the request body is over 1 MiB: split the request"}'
)


def new_request_id() -> str:
    """A random version-4 UUID, as hex. From `random` (seeded from the OS, reseeded in a forked child)
    rather than uuid4's os.urandom, which releases the GIL on every request: the log writer thread
    then takes it mid-request. An id needs to be unique, not secret."""
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when it is over MAX_BODY."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY:
            return None
        more = message.get("more_body", False)
    return b"".join(chunks)


class RequestRecorder:
    def __init__(self, app: ASGIApp, services: Services):
        self.app, self.services = app, services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, received_at = time.perf_counter(), datetime.now(UTC)
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        body = await _read_body(receive)

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()
            message, body = {"type": "http.request", "body": body, "more_body": False}, None
            return message

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        logged = body
        try:
            if body is None:
                await self._too_large(answer)
            else:
                await self.app(scope, replay, answer)
        finally:
            self._record(scope, state, request_id, received_at, logged, status, time.perf_counter() - started)

    @staticmethod
    async def _too_large(send: Send) -> None:
        headers = [(b"content-type", b"application/problem+json")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": TOO_LARGE})

    def _record(self, scope: Scope, state: dict, request_id: str, received_at: datetime,
                body: bytes | None, status: int, seconds: float) -> None:  # fmt: skip
        route = getattr(scope.get("route"), "path", "unmatched")
        bundle = state.get("bundle")
        self.services.metrics.observe(route, scope["method"], status, seconds)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        scores = state.get("scores")
        row = {
            "request_id": request_id,
            "received_at": received_at,
            "key_id": state.get("key_id"),
            "method": scope["method"],
            "route": route,
            "path": scope["path"],
            "params": params_text(query),
            "payload": payload_text(body or b""),
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
            "model_version": bundle.model_version if bundle else None,
            "generation": bundle.generation if bundle else None,
            "problem": state.get("problem"),
            "scores": json.dumps(scores.as_json(), sort_keys=True) if scores is not None else None,
        }
        self.services.log.record(row)
        self.services.windows.record(event_from_row(row))
