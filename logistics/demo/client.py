"""The simulator's HTTP side: users with locally minted tokens, and one call that never raises
for what the server answers: a refusal is counted (and the first few printed) unless the
caller expects it, and the caller decides what to do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from logistics.auth import mint_token
from logistics.config import Settings
from logistics.demo.board import Console, Stats

REST = "/client/logistics"
# Long enough that an evening's demo never sees its tokens expire.
TOKEN_TTL = timedelta(hours=12)


@dataclass
class User:
    sub: str
    name: str
    phone: str
    roles: list[str] = field(default_factory=list)
    token: str = ""

    def mint(self, settings: Settings) -> User:
        self.token = mint_token(
            settings, self.sub, name=self.name, phone=self.phone, roles=self.roles or None, ttl=TOKEN_TTL
        )
        return self


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no answer (connection refused, timeout)
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        """The API's error code (``OFFER_TAKEN``, ...) of a refusal."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None


class Api:
    def __init__(self, base_url: str, stats: Stats, console: Console) -> None:
        self.base_url = base_url
        self.stats, self.console = stats, console
        # One pool for the whole fleet: each driver polls about once a second, so keep its
        # connections alive rather than opening one per request.
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(20.0, connect=5.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )
        # Set while stopping: the clean-up's failures are counted but no longer printed.
        self.quiet = False

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self,
        user: User | None,
        method: str,
        path: str,
        *,
        expect: tuple[str, ...] = (),
        rest: bool = True,
        **kwargs: Any,
    ) -> Reply:
        """``method path`` as ``user``; a refusal whose code is in ``expect`` is not an error."""
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {user.token}"
        url = REST + path if rest else path
        try:
            response = await self.http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self._error(f"{method} {url}: {type(exc).__name__} {exc}".strip())
            return Reply(0)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        reply = Reply(response.status_code, body)
        if not reply.ok and reply.code not in expect:
            error = reply.body.get("error", {}) if isinstance(reply.body, dict) else {}
            message = str(error.get("message") or reply.body or "")[:160]
            self._error(f"{method} {url} -> {reply.status} {reply.code or ''}: {message}")
        return reply

    async def graphql(self, user: User, query: str, variables: dict[str, Any]) -> Any:
        """A GraphQL operation's ``data``, or None (its errors counted)."""
        reply = await self.call(
            user, "POST", "/graphql", rest=False, json={"query": query, "variables": variables}
        )
        if not reply.ok or not isinstance(reply.body, dict):
            return None
        if reply.body.get("errors"):
            self._error(f"POST /graphql: {reply.body['errors'][0].get('message', '')[:160]}")
            return None
        return reply.body.get("data")

    def _error(self, text: str) -> None:
        if self.quiet:
            self.stats.errors += 1
        else:
            self.console.error(text, self.stats)
