"""ASGI middleware in front of every route: a bound on the request body's size."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send


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
                    await self._reply(send, 400, f"Content-Length {value[:40]!r} is not a number")
                    return
                if declared > self.max_bytes:
                    await self._reply(send, 413, self._message(declared))
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

    @staticmethod
    async def _reply(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
