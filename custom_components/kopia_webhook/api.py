"""The add-on's (the engine's) API for this integration, on its webhook port.

Every call presents the integration key. The engine answers JSON; a wrong key is 401.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from .const import CLIENT_HEADER, KEY_HEADER, RECEIVED_HEADER, REFUSED_HEADER

# The engine holds a monitor-list request up to 25 s when nothing changes.
LIST_TIMEOUT = aiohttp.ClientTimeout(total=40, connect=10)
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)

# Headers that describe the hop to Home Assistant, not the sender's request.
HOP_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "cookie",
        "accept-encoding",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "forwarded",
        "x-ingress-path",
        "x-hass-source",
    }
)


# Where Home Assistant serves the panel (the engine's pages link relative to it).
PANEL_PATH = "/api/kopia_webhook/panel"
# The engine's answer headers a page needs in the browser.
PANEL_HEADERS = (
    "Content-Type",
    "Location",
    "Cache-Control",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Retry-After",
    "Allow",
)


class EngineError(Exception):
    """The add-on could not be asked."""


class EngineUnreachable(EngineError):
    """No answer: the add-on is stopped, restarting or at another address."""


class WrongKey(EngineError):
    """The add-on refused the integration key."""


class NotTheEngine(EngineError):
    """Something answered that is not the add-on's webhook port."""


@dataclass(slots=True)
class RelayedRequest:
    """A sender's request to Home Assistant's webhook URL, as it will reach the add-on."""

    webhook_id: str
    method: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    client: str | None
    # When Home Assistant received it (ISO 8601), for a report held and sent later.
    received: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The request as stored while held."""
        return {
            "webhook_id": self.webhook_id,
            "method": self.method,
            "query": self.query,
            "headers": [list(pair) for pair in self.headers],
            "body": self.body.hex(),
            "client": self.client,
            "received": self.received,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RelayedRequest:
        """A held request, read back."""
        return cls(
            webhook_id=str(data["webhook_id"]),
            method=str(data["method"]),
            query=str(data["query"]),
            headers=[(str(k), str(v)) for k, v in data["headers"]],
            body=bytes.fromhex(str(data["body"])),
            client=data.get("client"),
            received=data.get("received"),
        )


@dataclass(slots=True)
class EngineAnswer:
    """The add-on's answer to a relayed request, returned to the sender as it is."""

    status: int
    content_type: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class MonitorList:
    """Every monitor of the add-on, and the version to wait for changes after."""

    version: int
    monitors: list[dict[str, Any]]
    # The add-on has Home Assistant ingress (a Supervisor): no sidebar panel of ours.
    ingress: bool
    # Its entities reach Home Assistant; else it waits for a connection from us.
    pushes: bool


class EngineClient:
    """Calls the add-on at `url` (its webhook address) with `key`."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str) -> None:
        """Initialize the client."""
        self._session = session
        self._base = URL(url.rstrip("/"))
        self._key = key

    @property
    def url(self) -> str:
        """The add-on's webhook address."""
        return str(self._base)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        limits: aiohttp.ClientTimeout = CALL_TIMEOUT,
    ) -> tuple[int, Any]:
        try:
            async with self._session.request(
                method,
                self._base.with_path(path),
                params=params,
                json=json,
                headers={KEY_HEADER: self._key},
                timeout=limits,
            ) as response:
                if response.status == 401:
                    raise WrongKey
                if response.status == 204:
                    return response.status, None
                if response.content_type != "application/json":
                    raise NotTheEngine(f"answered {response.status} {response.content_type}")
                return response.status, await response.json()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise EngineUnreachable(str(err) or type(err).__name__) from err

    async def monitors(self, since: int | None = None) -> MonitorList:
        """Every monitor; with `since`, once something changed after that version (or 25 s)."""
        params = None if since is None else {"since": str(since)}
        status, data = await self._call(
            "GET", "/api/integration/monitors", params=params, limits=LIST_TIMEOUT
        )
        if status != 200 or not isinstance(data, dict):
            raise NotTheEngine(f"the monitor list answered {status}")
        return MonitorList(
            version=int(data["version"]),
            monitors=list(data["monitors"]),
            ingress=bool(data.get("ingress", True)),
            pushes=bool(data.get("pushes", True)),
        )

    async def tell_urls(
        self,
        external: str | None,
        cloud: str | None,
        version: str,
        cloudhooks: dict[str, str],
    ) -> None:
        """Tells the add-on the URLs Home Assistant is reached at (and its cloud webhooks)."""
        status, _ = await self._call(
            "PUT",
            "/api/integration/home-assistant",
            json={
                "external": external,
                "cloud": cloud,
                "version": version,
                "cloudhooks": cloudhooks,
            },
        )
        if status != 204:
            raise NotTheEngine(f"telling the URLs answered {status}")

    async def hand_over_core(self, url: str, token: str) -> None:
        """Gives the add-on Home Assistant's address and a token for its entities."""
        status, data = await self._call(
            "PUT", "/api/integration/core", json={"url": url, "token": token}
        )
        if status != 204:
            message = data.get("error") if isinstance(data, dict) else None
            raise EngineError(message or f"the add-on answered {status}")

    async def take_back_core(self) -> None:
        """The add-on forgets Home Assistant's connection (the integration is removed)."""
        await self._call("DELETE", "/api/integration/core")

    async def adopt_legacy(
        self, webhook_id: str, name: str | None, history_limit: int | None
    ) -> dict[str, Any]:
        """Makes an entry of the replaced integration a monitor with the same webhook ID."""
        status, data = await self._call(
            "POST",
            "/api/integration/legacy",
            json={"webhook_id": webhook_id, "name": name, "history_limit": history_limit},
        )
        if status not in (200, 201):
            message = data.get("error") if isinstance(data, dict) else None
            raise EngineError(message or f"the add-on answered {status}")
        return dict(data)

    async def pause(self, monitor: str, duration: timedelta | None) -> None:
        """Pauses the monitor for `duration`, or resumes it (`None`)."""
        if duration is None:
            status, data = await self._call(
                "POST", "/api/integration/resume", json={"monitor": monitor}
            )
        else:
            seconds = int(duration.total_seconds())
            status, data = await self._call(
                "POST",
                "/api/integration/pause",
                json={"monitor": monitor, "for": f"{seconds}s"},
            )
        if status != 200:
            message = data.get("error") if isinstance(data, dict) else None
            raise EngineError(message or f"the add-on answered {status}")

    async def panel(
        self,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        forwarded_host: str,
    ) -> EngineAnswer:
        """A page of the panel, as Home Assistant's proxy asks for it for the browser."""
        sent = [
            (name, value)
            for name, value in headers
            if name.lower() not in HOP_HEADERS
            and name.lower() not in ("authorization", "x-forwarded-host")
            and not name.lower().startswith("x-kopia-webhook-")
        ]
        sent += [
            (KEY_HEADER, self._key),
            ("X-Ingress-Path", PANEL_PATH),
            ("X-Forwarded-Host", forwarded_host),
        ]
        raw = f"{self._base}/api/integration/panel/{quote(path)}"
        url = URL(f"{raw}?{query}" if query else raw, encoded=True)
        try:
            async with self._session.request(
                method,
                url,
                headers=sent,
                data=body or None,
                timeout=LIST_TIMEOUT,
                allow_redirects=False,
            ) as response:
                if response.status == 401 and response.content_type == "application/json":
                    raise WrongKey
                return EngineAnswer(
                    status=response.status,
                    content_type=response.headers.get("Content-Type"),
                    body=await response.read(),
                    headers={
                        name: response.headers[name]
                        for name in PANEL_HEADERS
                        if name in response.headers
                    },
                )
        except (aiohttp.ClientError, TimeoutError) as err:
            raise EngineUnreachable(str(err) or type(err).__name__) from None

    async def relay(self, request: RelayedRequest) -> EngineAnswer:
        """Hands a sender's request to the add-on; its answer is the sender's."""
        headers = [
            (name, value)
            for name, value in request.headers
            if name.lower() not in HOP_HEADERS and not name.lower().startswith("x-kopia-webhook-")
        ]
        headers.append((KEY_HEADER, self._key))
        if request.client:
            headers.append((CLIENT_HEADER, request.client))
        if request.received:
            headers.append((RECEIVED_HEADER, request.received))
        # The query as the sender encoded it (Uptime Kuma's msg, Healthchecks' rid).
        raw = f"{self._base}/api/integration/relay/{quote(request.webhook_id, safe='')}"
        url = URL(f"{raw}?{request.query}" if request.query else raw, encoded=True)
        try:
            async with self._session.request(
                request.method,
                url,
                headers=headers,
                data=request.body,
                timeout=CALL_TIMEOUT,
                allow_redirects=False,
            ) as response:
                if response.headers.get(REFUSED_HEADER) == "integration-key":
                    raise WrongKey
                body = await response.read()
                passed = {
                    name: response.headers[name]
                    for name in ("Retry-After", "Ping-Body-Limit", "Allow")
                    if name in response.headers
                }
                return EngineAnswer(
                    status=response.status,
                    content_type=response.headers.get("Content-Type"),
                    body=body,
                    headers=passed,
                )
        except (aiohttp.ClientError, TimeoutError) as err:
            why = _without(str(err), request.webhook_id) or type(err).__name__
            raise EngineUnreachable(why) from None


def _without(text: str, secret: str) -> str:
    """An error's text with a webhook ID it may quote (in a URL) shortened."""
    return text.replace(secret, f"{secret[:4]}…") if secret else text


async def read_bounded(content: Any, limit: int) -> bytes:
    """A request's whole body, or its first `limit` bytes when it is longer.

    A stream's `read(n)` returns what has arrived so far, not n bytes.
    """
    body = bytearray()
    while len(body) < limit:
        chunk = await content.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)
