"""ASGI middleware in front of every route and the abuse limits the routes share.

- `BodySizeLimit`: 413 for a body over the limit.
- `ClientRateLimit`: 429 with Retry-After for a client address sending more than its rate.
- `AbuseLimits`: token buckets per client address (every request; failed authentications,
  limited hardest) and per principal (authenticated requests), read by the intake's
  bearer-token dependency (intake.app).

A bucket holds `burst` requests and refills at `rate_per_s`; a request takes one, and an
empty bucket answers 429 with Retry-After = the seconds until the next one.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from racecramp.config import Settings

log = logging.getLogger(__name__)

# Buckets remembered per limit; the least recently used are forgotten (and start full again).
MAX_KEYS = 10_000


async def reply(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Answer {"detail": ...} without reading the request body (so the connection is closed after it)."""
    body = json.dumps({"detail": detail}).encode()
    extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """413 for a body over `max_bytes`: by Content-Length up front, and while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await reply(send, 400, f"Content-Length {value[:40]!r} is not a number")
                    return
                if declared > self.max_bytes:
                    await reply(send, 413, self._message(declared))
                    return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=self._message(received, streamed=True))
            return message

        await self.app(scope, limited, send)

    def _message(self, size: int, streamed: bool = False) -> str:
        what = f"more than {size - 1}" if streamed else str(size)
        return f"request body of {what} bytes is over the limit of {self.max_bytes} bytes (intake_max_body_bytes)"



# ---------------------------------------------------------------- rate limits


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimit:
    """Token buckets by key (a client address, a principal): `rate_per_s` sustained, `burst` at once."""

    def __init__(self, what: str, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.what = what
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._refusing: set[str] = set()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 when allowed, else the seconds until one is allowed."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
            self._buckets[key] = bucket
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate_per_s)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                self._refusing.discard(key)
                return 0.0
            first = key not in self._refusing
            self._refusing.add(key)
        if first:  # once per spell of refusals, so a flood does not flood the log too
            log.warning("intake: %s %s is over its limit (%g per second, burst %d): answering 429",
                        self.what, key, self.rate_per_s, self.burst)
        return (1.0 - bucket.tokens) / self.rate_per_s


def too_many_requests(wait_s: float, detail: str) -> HTTPException:
    """429 with Retry-After in whole seconds (at least 1)."""
    retry_after = max(1, math.ceil(wait_s))
    return HTTPException(status_code=429, detail=f"{detail}; retry after {retry_after} s",
                         headers={"Retry-After": str(retry_after)})


class AbuseLimits:
    """The intake's limits from settings: per client address, per principal, and failed authentications per client."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self.client = RateLimit("client", settings.intake_client_requests_per_s, settings.intake_client_burst, clock)
        self.principal = RateLimit("principal", settings.intake_principal_requests_per_s, settings.intake_principal_burst, clock)
        self.auth_failures = RateLimit(
            "client with failed authentications", settings.intake_auth_failures_per_minute / 60.0,
            settings.intake_auth_failures_burst, clock,
        )

    def failed_authentication(self, client: str) -> None:
        """Count a 401 for `client`; raises 429 once its failures are over the limit."""
        wait = self.auth_failures.take(client)
        if wait:
            raise too_many_requests(
                wait, f"too many requests with a missing or unknown token from {client} "
                f"(intake_auth_failures_per_minute={self.auth_failures.rate_per_s * 60:g})",
            )

    def authenticated(self, principal: str) -> None:
        """Count a request of `principal`; raises 429 when it is over its rate."""
        wait = self.principal.take(principal)
        if wait:
            raise too_many_requests(
                wait, f"principal {principal} sends more than intake_principal_requests_per_s="
                f"{self.principal.rate_per_s:g} (burst {self.principal.burst})",
            )


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class ClientRateLimit:
    """429 with Retry-After for a client address over its rate, before any other work."""

    def __init__(self, app: ASGIApp, limit: RateLimit):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        wait = self.limit.take(client)
        if not wait:
            await self.app(scope, receive, send)
            return
        refusal = too_many_requests(
            wait, f"client {client} sends more than intake_client_requests_per_s={self.limit.rate_per_s:g} (burst {self.limit.burst})"
        )
        await reply(send, 429, refusal.detail, refusal.headers)
