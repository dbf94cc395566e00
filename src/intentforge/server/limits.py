"""Request body size limit, enforced before any route reads the body (also for chunked uploads)."""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intentforge.errors import IntentforgeError
from intentforge.server.errors import error_body


class BodyLimit:
    """Answers 413 when a request body exceeds its limit: `limits[path]` or the default.

    The body is buffered (it is small by construction) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, *, default_bytes: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _too_large(send: Send, limit: int) -> None:
        body = error_body("payload_too_large", f"request body over {limit} bytes (the limit)")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def require_json(request: Request) -> None:
    """Dependency: the body must be declared JSON (415 otherwise), as a clear error up front."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise IntentforgeError(
            f"unsupported content type {media_type or '(none)'!r}: send application/json",
            status_code=415,
        )
