"""Security headers on every answer and a size limit on request bodies.

Header choices follow the OWASP Secure Headers Project recommendations: no MIME sniffing, no
framing, no referrer leaving the site, a same-origin content security policy (the pages load no
third-party code), and no caching of answers that carry personal data.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hyperhealth.delivery.api._errors import Problem, problem_response

#: bodies of routes without their own limit (ingest has larger, configurable ones)
DEFAULT_BODY_LIMIT = 1024 * 1024
_OWN_LIMIT = ("/api/ingest/", "/api/edge/")

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), camera=(), microphone=()",
    # the Swagger UI at /docs is the one page with inline script; it is API documentation
    # without personal data
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
                               "'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
}
_DOCS_CSP = ("default-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
             "https://fastapi.tiangolo.com; frame-ancestors 'none'")


class Hardening:
    """ASGI middleware: adds the headers and refuses oversized bodies with 413."""

    def __init__(self, app: ASGIApp, body_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.app = app
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limited = not path.startswith(_OWN_LIMIT)
        if limited:
            declared = dict(scope.get("headers") or []).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.body_limit:
                await self._too_large(scope, receive, send)
                return
        received = 0

        async def guarded_receive() -> Message:
            nonlocal received
            message = await receive()
            if limited and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit:  # a missing or false Content-Length
                    raise _BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in _HEADERS.items():
                    headers.setdefault(k, v)
                if path.startswith(("/docs", "/openapi.json")):
                    headers["Content-Security-Policy"] = _DOCS_CSP
                if path.startswith("/api/") or not path.startswith("/static/"):
                    headers.setdefault("Cache-Control", "no-store")
                if scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security",
                                       "max-age=31536000; includeSubDomains")
            await send(message)

        try:
            await self.app(scope, guarded_receive, send_with_headers)
        except _BodyTooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = problem_response(Problem(
            status=413, title="Body too large",
            what=f"the request body is over the limit of {self.body_limit:,} bytes",
            where="body", fix="send a smaller body"))
        await resp(scope, receive, send)


class _BodyTooLarge(Exception):
    pass
