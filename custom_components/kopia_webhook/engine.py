"""The connection to the add-on: follows its monitors, tells it Home Assistant's URLs.

The add-on answers the monitor list at once when something changed (a monitor created,
given a new URL, deleted, a report, a status), else after 25 s; the link asks again right
away, so webhook IDs are registered within a moment of a change and Repairs follow the
monitors' problems.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from datetime import timedelta
from typing import Any

from homeassistant.const import EVENT_CORE_CONFIG_UPDATE, __version__ as HA_VERSION
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.storage import Store

from . import cloud, issues, panel
from .api import EngineClient, EngineError, WrongKey
from .const import (
    CONF_HISTORY_LIMIT,
    CONF_LEGACY,
    CONF_WEBHOOK_ID,
    DOMAIN,
    LOGGER,
    PROBLEM_STATUSES,
)
from .hub import KopiaHub

FIRST_RETRY = 2.0
LONGEST_RETRY = 60.0
# How long the add-on may be away before a Repair says so (an update takes a minute).
UNREACHABLE_AFTER = timedelta(minutes=5)


class EngineLink:
    """One add-on, as one config entry reaches it."""

    def __init__(
        self,
        hass: HomeAssistant,
        hub: KopiaHub,
        client: EngineClient,
        *,
        repairs: bool,
        cloudhook_keys: set[str],
        on_wrong_key: Callable[[], None],
        make_token: Callable[[], Awaitable[str]],
    ) -> None:
        """Initialize the link; `start` begins following the add-on."""
        self.hass = hass
        self.hub = hub
        self.client = client
        self.repairs = repairs
        # Monitors (by key) with a Home Assistant Cloud webhook, and those made: webhook ID
        # -> URL, kept so one is removed when its monitor goes or is deselected.
        self.cloudhook_keys = cloudhook_keys
        self.cloudhooks: dict[str, str] = {}
        self._cloudhook_store: Store[dict[str, str]] = Store(
            hass, 1, f"{DOMAIN}.cloudhooks", private=True
        )
        self.monitors: list[dict[str, Any]] = []
        self.connected = False
        self.last_error: str | None = None
        self._on_wrong_key = on_wrong_key
        self._make_token = make_token
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._away_since: float | None = None
        self._urls_told = False

    @callback
    def start(self) -> None:
        """Follows the add-on until `stop`."""
        self._task = self.hass.async_create_background_task(
            self._follow(), "kopia_webhook follow the add-on"
        )
        self._unsubscribe.append(
            self.hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, self._config_updated)
        )
        if "cloud" in self.hass.config.components:
            from homeassistant.components import cloud as ha_cloud  # noqa: PLC0415

            self._unsubscribe.append(
                ha_cloud.async_listen_connection_change(self.hass, self._cloud_changed)
            )

    async def stop(self) -> None:
        """Stops following; the webhook IDs stay with the hub until it is told otherwise."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @callback
    def held_changed(self) -> None:
        """A report was held: the Repair about the add-on says how many."""
        if not self.connected:
            self._update_unreachable_issue()

    async def _follow(self) -> None:
        """Follows the add-on; a bug in a round is logged and the round tried again."""
        self.cloudhooks = await self._cloudhook_store.async_load() or {}
        while True:
            try:
                await self._follow_rounds()
            except WrongKey:
                return
            except Exception:
                LOGGER.exception("Following the add-on failed; trying again in a minute")
                await asyncio.sleep(LONGEST_RETRY)

    async def _follow_rounds(self) -> None:
        version: int | None = None
        retry = FIRST_RETRY
        while True:
            try:
                listed = await self.client.monitors(version)
            except WrongKey:
                self._went_away("the add-on refused the integration key")
                LOGGER.error(
                    "The Kopia Webhook Status add-on refused the integration key: set it up "
                    "again with the key its panel shows"
                )
                self._on_wrong_key()
                raise
            except EngineError as err:
                self._went_away(str(err))
                await asyncio.sleep(retry)
                retry = min(retry * 2, LONGEST_RETRY)
                continue
            retry = FIRST_RETRY
            first = not self.connected
            self._came_back()
            self.monitors = listed.monitors
            self._apply(listed.monitors)
            if not listed.ingress:
                await panel.async_show_panel(self.hass, self)
                if not listed.pushes:
                    await self._hand_over_core()
            if await self._sync_cloudhooks(listed.monitors):
                self._urls_told = False
            if first or not self._urls_told:
                await self._tell_urls()
                await self.async_take_over_legacy_entries()
                await self.hub.async_deliver_held(self.client)
                self._update_unreachable_issue()
            version = listed.version

    async def async_take_over_legacy_entries(self) -> None:
        """Each entry of the replaced integration becomes a monitor with its webhook ID."""
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            if not entry.data.get(CONF_LEGACY):
                continue
            webhook_id = str(entry.data[CONF_WEBHOOK_ID])
            try:
                monitor = await self.client.adopt_legacy(
                    webhook_id, entry.title, entry.data.get(CONF_HISTORY_LIMIT)
                )
            except EngineError as err:
                LOGGER.warning(
                    "Could not hand entry %s of the replaced integration to the add-on: %s",
                    entry.entry_id,
                    err,
                )
                issues.legacy_refused(self.hass, entry.entry_id, entry.title, str(err))
                continue
            # Registered as a monitor's ID before the old entry lets go of it.
            self.hub.monitor_ids.add(webhook_id)
            issues.legacy_migrated(
                self.hass, entry.entry_id, entry.title, str(monitor.get("name", ""))
            )
            await self.hass.config_entries.async_remove(entry.entry_id)
        issues.sync_waiting_for_addon(self.hass, 0)

    @callback
    def _apply(self, monitors: list[dict[str, Any]]) -> None:
        self.hub.monitor_ids = {str(m["webhook_id"]) for m in monitors}
        self.hub.sync_webhooks()
        issues.sync_monitor_problems(
            self.hass,
            [m for m in monitors if m.get("status") in PROBLEM_STATUSES] if self.repairs else [],
        )

    def _went_away(self, why: str) -> None:
        self.last_error = why
        if self.connected:
            LOGGER.warning(
                "Lost the Kopia Webhook Status add-on (%s); reports are held meanwhile", why
            )
        self.connected = False
        self._urls_told = False
        loop_time = self.hass.loop.time()
        if self._away_since is None:
            self._away_since = loop_time
        self._update_unreachable_issue()

    def _came_back(self) -> None:
        if not self.connected:
            LOGGER.info("Connected to the Kopia Webhook Status add-on at %s", self.client.url)
        self.connected = True
        self.last_error = None
        self._away_since = None

    @callback
    def _update_unreachable_issue(self) -> None:
        away = self._away_since
        long_away = (
            away is not None and self.hass.loop.time() - away >= UNREACHABLE_AFTER.total_seconds()
        )
        if self.connected or not (long_away or len(self.hub.held)):
            ir.async_delete_issue(self.hass, DOMAIN, issues.UNREACHABLE)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issues.UNREACHABLE,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=issues.UNREACHABLE,
            translation_placeholders={
                "url": self.client.url,
                "held": str(len(self.hub.held)),
                "error": self.last_error or "",
            },
        )

    async def _hand_over_core(self) -> None:
        """Give the engine (without a Supervisor) Core's address and a token.

        The token is of a user made for the engine, so its entities need no token pasted (the
        user goes with this entry).
        """
        # The local address as set (even a loopback one: an engine on the same host's network,
        # as compose.yaml runs it, reaches Core there), else the one Core works out.
        url = self.hass.config.internal_url
        if url is None:
            try:
                url = get_url(
                    self.hass, allow_external=False, allow_cloud=False, prefer_external=False
                )
            except NoURLAvailableError:
                issues.no_internal_url(self.hass)
                return
        issues.no_internal_url(self.hass, resolved=True)
        try:
            await self.client.hand_over_core(url, await self._make_token())
        except EngineError as err:
            LOGGER.warning("Could not give the engine Home Assistant's connection: %s", err)
            return
        LOGGER.info("The engine now sends its entities to Home Assistant at %s", url)

    async def _sync_cloudhooks(self, monitors: list[dict[str, Any]]) -> bool:
        """Makes and removes cloud webhooks as chosen; whether any changed."""
        wanted = {str(m["webhook_id"]) for m in monitors if m.get("key") in self.cloudhook_keys}
        changed = False
        for webhook_id in set(self.cloudhooks) - wanted:
            await cloud.async_remove_webhook(self.hass, webhook_id)
            del self.cloudhooks[webhook_id]
            changed = True
        for webhook_id in wanted - set(self.cloudhooks):
            if url := await cloud.async_webhook_url(self.hass, webhook_id):
                self.cloudhooks[webhook_id] = url
                changed = True
        if changed:
            await self._cloudhook_store.async_save(self.cloudhooks)
        return changed

    async def _tell_urls(self) -> None:
        external = self.hass.config.external_url
        try:
            await self.client.tell_urls(
                external, cloud.remote_url(self.hass), HA_VERSION, self.cloudhooks
            )
        except EngineError as err:
            LOGGER.debug("Could not tell the add-on Home Assistant's URLs: %s", err)
            return
        self._urls_told = True

    @callback
    def _config_updated(self, _event: Event) -> None:
        self._retell()

    @callback
    def _cloud_changed(self, _state: Any) -> None:
        self._retell()

    @callback
    def _retell(self) -> None:
        if self.connected:
            self.hass.async_create_task(self._tell_urls(), eager_start=True)
