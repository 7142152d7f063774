"""What keeps cm2's local HTTP servers (`cm2 serve`, `cm2 llm serve`) to their own clients.

A web page the user visits can send requests to 127.0.0.1, and through DNS rebinding can even read the
answers (its own host name resolves to 127.0.0.1; the browser still calls it same-origin). So every
request is checked before any route sees it:
- the Host header must name an allowed host: localhost, 127.0.0.1, [::1], the bound host, and extras
  (`*` turns the check off, for a server behind a proxy that rewrites Host);
- an Origin header, when present, must be http(s) on an allowed host, else 403 (browsers send it on every
  cross-origin request, and on same-origin POSTs); `Sec-Fetch-Site: cross-site` is refused too;
- a request with a body must say `Content-Type: application/json` (a browser can send a cross-origin
  "simple" POST as text/plain or a form without asking first, never as JSON), else 415;
- with an API key configured, `Authorization: Bearer <key>` is required, compared in constant time, else 401.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")

Scope = dict[str, Any]
Receive = Any
Send = Any
ASGIApp = Any


class GuardConfig(BaseModel):
    """Who may talk to a local server: the bound host, extra host names, and an optional API key."""

    bound_host: str = Field(default="127.0.0.1", description="The interface the server binds.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Extra Host names to accept; '*': any.")
    api_key_env: str | None = Field(default=None, description="Environment variable holding the bearer key.")

    def hosts(self) -> set[str]:
        """Host names accepted in Host and Origin headers (lower case, IPv6 without brackets)."""
        named = [self.bound_host] if self.bound_host not in WILDCARD_BINDS else []
        return {_bare(h) for h in (*LOCAL_HOSTS, *named, *self.allowed_hosts)}

    def api_key(self) -> SecretStr | None:
        """The key read from `api_key_env`; raises when the variable is named but unset or empty."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ValueError(f"--api-key-env {self.api_key_env}: the variable is not set (or empty)")
        return SecretStr(value)


def _bare(host: str) -> str:
    """A configured host as compared with headers: lower case, IPv6 without brackets, any port dropped."""
    host = host.strip().lower()
    if host == "*" or (host.count(":") > 1 and not host.startswith("[")):  # '*' or a bare IPv6 address
        return host
    return host_name(host) or host


def host_name(header: str) -> str | None:
    """The host name of a Host header value (`name`, `name:port`, `[v6]:port`), None when malformed."""
    try:
        parts = urlsplit(f"//{header.strip()}")
        parts.port  # noqa: B018 — raises on a malformed port
    except ValueError:
        return None
    return (parts.hostname or "").lower() or None


def _origin_allowed(origin: str, hosts: set[str]) -> bool:
    try:
        parts = urlsplit(origin.strip())
        parts.port  # noqa: B018
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in hosts


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class LocalGuard:
    """ASGI middleware applying `GuardConfig` to every HTTP and websocket request (streaming untouched)."""

    def __init__(self, app: ASGIApp, config: GuardConfig):
        self.app = app
        self.config = config
        self._hosts = config.hosts()
        self._any_host = "*" in self._hosts
        key = config.api_key()
        self._key = key.get_secret_value().encode() if key is not None else None

    def __repr__(self) -> str:
        key = "**********" if self._key else None
        return f"LocalGuard(hosts={sorted(self._hosts)!r}, api_key={key})"

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the request must be refused, else None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = host_name(headers.get("host", ""))
        if not self._any_host and (host is None or host not in self._hosts):
            return 403, "Host header not allowed (add it with --allowed-host)"
        origin = headers.get("origin")
        same_origin = {host} if self._any_host and host else set()  # with '*', a page on the Host itself
        if origin is not None and not _origin_allowed(origin, self._hosts | same_origin):
            return 403, "cross-origin requests are not allowed"
        if headers.get("sec-fetch-site", "").lower() == "cross-site":  # a browser says so even without Origin
            return 403, "cross-origin requests are not allowed"
        if scope.get("method", "GET") in BODY_METHODS and not _is_json(headers.get("content-type", "")):
            return 415, "Content-Type must be application/json"
        if self._key is not None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
                return 401, "missing or wrong API key (Authorization: Bearer …)"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        kind = {401: "authentication_error", 415: "invalid_request_error"}.get(status, "permission_error")
        body = json.dumps({"error": {"message": reason, "type": kind, "code": status}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def guarded(app: ASGIApp, config: GuardConfig | None = None) -> LocalGuard:
    """`app` behind `LocalGuard` (default: 127.0.0.1, no key)."""
    return LocalGuard(app, config or GuardConfig())
