"""Home Assistant's webhook URLs of every monitor, relayed to the add-on.

One hub per Home Assistant: it registers the webhook ID of each monitor of the add-on (and
of each entry of the replaced integration still waiting for it) and hands every request to
the add-on as it came, or holds it while the add-on cannot take it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from homeassistant.components import webhook
from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .api import EngineAnswer, EngineClient, EngineError, RelayedRequest, read_bounded
from .const import DOMAIN, LOGGER, MAX_BODY
from .held import HeldFull, HeldReports

if TYPE_CHECKING:
    from .engine import EngineLink

DATA_HUB: HassKey[KopiaHub] = HassKey(DOMAIN)


async def async_get_hub(hass: HomeAssistant) -> KopiaHub:
    """The hub, made (and its held reports read) on first use."""
    if (hub := hass.data.get(DATA_HUB)) is None:
        hub = KopiaHub(hass)
        hass.data[DATA_HUB] = hub
        await hub.held.async_load()
        hub.sync_webhooks()
    return hub


class KopiaHub:
    """The webhook IDs Home Assistant answers for, and where their requests go."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Initialize the hub."""
        self.hass = hass
        self.engine: EngineLink | None = None
        # Webhook IDs of the add-on's monitors, as it last listed them.
        self.monitor_ids: set[str] = set()
        # Entries of the replaced integration waiting for the add-on: webhook ID -> entry ID.
        self.legacy: dict[str, str] = {}
        self.held = HeldReports(hass)
        self._registered: set[str] = set()
        self._taken: set[str] = set()

    @property
    def registered(self) -> int:
        """How many webhook IDs Home Assistant answers for."""
        return len(self._registered)

    @callback
    def sync_webhooks(self) -> None:
        """Registers what should be registered, and nothing else."""
        wanted = self.monitor_ids | set(self.legacy) | self.held.webhook_ids()
        for webhook_id in self._registered - wanted:
            webhook.async_unregister(self.hass, webhook_id)
        registered = self._registered & wanted
        for webhook_id in wanted - self._registered:
            try:
                webhook.async_register(
                    self.hass,
                    DOMAIN,
                    "Kopia Webhook Status",
                    webhook_id,
                    self._async_handle,
                    local_only=False,
                    allowed_methods=webhook.SUPPORTED_METHODS,
                )
            except ValueError:
                if webhook_id not in self._taken:
                    self._taken.add(webhook_id)
                    LOGGER.warning(
                        "Webhook %s… is already registered by another integration: its "
                        "reports do not reach the add-on",
                        webhook_id[:4],
                    )
                continue
            registered.add(webhook_id)
        self._registered = registered

    async def _async_handle(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        body = await read_bounded(request.content, MAX_BODY)
        # A cloud webhook's request (Home Assistant Cloud) is a stand-in with only the query.
        rel_url = getattr(request, "rel_url", None)
        query = rel_url.raw_query_string if rel_url is not None else request.query_string
        relayed = RelayedRequest(
            webhook_id=webhook_id,
            method=request.method,
            query=query,
            headers=list(request.headers.items()),
            body=body,
            client=request.remote,
        )
        client = self.engine.client if self.engine is not None else None
        if client is not None:
            try:
                answer = await client.relay(relayed)
            except EngineError as err:
                LOGGER.debug("Holding a report for webhook %s…: %s", webhook_id[:4], err)
            else:
                # Busy or out of disk: held here instead (senders rarely retry).
                if answer.status not in (503, 507):
                    return _response(answer)
        if len(body) >= MAX_BODY:
            return web.Response(status=413, text="the body is larger than 1 MiB\n")
        try:
            await self.held.async_add(relayed)
        except HeldFull:
            return web.Response(
                status=503,
                headers={"Retry-After": "300"},
                text="the Kopia Webhook Status add-on is not reachable and Home Assistant holds "
                "too many reports already; try again later\n",
            )
        self.sync_webhooks()
        if self.engine is not None:
            self.engine.held_changed()
        return web.json_response({"ok": True, "events": 0, "held": True})

    async def async_deliver_held(self, client: EngineClient) -> None:
        """Hands the held reports to the add-on."""
        await self.held.async_deliver(client)
        self.sync_webhooks()


def _response(answer: EngineAnswer) -> web.Response:
    headers = dict(answer.headers)
    if answer.content_type:
        headers["Content-Type"] = answer.content_type
    return web.Response(status=answer.status, body=answer.body, headers=headers)
