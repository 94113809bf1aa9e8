"""The studio's security middlewares (pure ASGI): strict headers, and no other site's requests."""

from __future__ import annotations

import urllib.parse

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from .settings import HOST_PATTERN, LOOPBACK


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """Every error of the studio: JSON `{"error": "one line"}` with a status code."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class SecurityHeaders:
    """Pure ASGI middleware: no sniffing, no referrer, and a strict CSP for the page (no CDN)."""

    CSP = (b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
           b"connect-src 'self'; frame-ancestors 'none'")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if scope["path"] == "/":
                    headers.append((b"content-security-policy", self.CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SameOrigin:
    """Pure ASGI middleware that keeps other web pages out (403, one JSON line).

    * Only requests whose `Host` the studio serves are answered: its own address and port (as
      the connection was made), `localhost`, `127.0.0.1` or `[::1]` at that port, or a name in
      `allowed_hosts` (any port: a reverse proxy's). A DNS-rebinding page's own name is not one.
    * State-changing requests (anything but GET, HEAD, OPTIONS) must come from the studio's own
      page: an `Origin` other than the Host asked for (or an allowed name), or with no Origin a
      `Sec-Fetch-Site` of another site, is refused. Clients that are not browsers send neither.
    """

    HOST = HOST_PATTERN
    SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

    def __init__(self, app, allowed_hosts: tuple[str, ...] = ()):
        self.app = app
        self.allowed = {name.lower().strip("[]") for name in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problem = self.refusal(scope, Headers(scope=scope))
        if problem:
            return await error(403, problem)(scope, receive, send)
        await self.app(scope, receive, send)

    def refusal(self, scope, headers: Headers) -> str | None:
        host = headers.get("host", "").lower()
        if not self.serves(host, scope.get("server")):
            return (f"this studio does not answer to the host {host[:80]!r}: open it at its own address "
                    "(start it with --allow-host NAME to serve another name)")
        if scope["method"] in self.SAFE_METHODS:
            return None
        origin, site = headers.get("origin"), headers.get("sec-fetch-site")
        if origin is not None and not self.same_origin(origin.lower(), host):
            sender = repr(origin[:80])
        elif origin is None and site in ("cross-site", "same-site"):
            sender = f"Sec-Fetch-Site: {site}"
        else:
            return None
        return (f"refused a {scope['method']} from another site ({sender}): only the studio's own "
                "page may do that")

    def same_origin(self, origin: str, host: str) -> bool:
        try:
            parts = urllib.parse.urlsplit(origin)
            return parts.netloc == host or parts.hostname in self.allowed
        except ValueError:  # not a URL ("null" is one, of no host)
            return False

    def serves(self, host: str, server: tuple[str, int] | None) -> bool:
        match = self.HOST.fullmatch(host)
        if match is None:
            return False
        name, port = match[1].strip("[]"), int(match[2] or 80)
        if name in self.allowed:
            return True
        address, served_port = server or (None, None)
        return name in (*LOOPBACK, address) and served_port in (None, port)
