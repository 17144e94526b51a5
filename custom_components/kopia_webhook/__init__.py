"""Kopia Webhook Status: Home Assistant's own URL for every backup report.

The add-on (or the engine beside Home Assistant Container) receives backup tools' reports
on the LAN. This integration registers each monitor's webhook ID with Home Assistant and
relays what arrives at `https://<Home Assistant>/api/webhook/<id>` to it unchanged, so
reports reach the add-on from anywhere Home Assistant is reachable. It takes over the
entries of the HACS integration of the same domain, keeping their webhook URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from . import issues
from .api import EngineClient, EngineError
from .const import (
    CONF_HISTORY_LIMIT,
    CONF_KEY,
    CONF_LEGACY,
    CONF_SYSTEM_USER,
    CONF_URL,
    CONF_WEBHOOK_ID,
    DOMAIN,
    ENTRY_VERSION,
    LOGGER,
    OPTION_CLOUDHOOKS,
    OPTION_REPAIRS,
)
from .engine import EngineLink
from .hub import async_get_hub
from .panel import async_hide_panel, async_setup_panel
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """The sidebar panel's proxy, and the pause and resume actions."""
    await async_setup_panel(hass)
    await async_setup_services(hass)
    return True


@dataclass(slots=True)
class KopiaRuntime:
    """What a loaded entry holds.

    The link to the add-on (none for a legacy entry), and the options it was set up with.
    """

    link: EngineLink | None
    options: dict[str, object] = field(default_factory=dict)


type KopiaConfigEntry = ConfigEntry[KopiaRuntime]


async def async_setup_entry(hass: HomeAssistant, entry: KopiaConfigEntry) -> bool:
    """Set up the add-on's entry, or hold an entry of the replaced integration."""
    hub = await async_get_hub(hass)
    if entry.data.get(CONF_LEGACY):
        return await _async_setup_legacy(hass, entry)
    client = EngineClient(async_get_clientsession(hass), entry.data[CONF_URL], entry.data[CONF_KEY])
    link = EngineLink(
        hass,
        hub,
        client,
        repairs=entry.options.get(OPTION_REPAIRS, True),
        cloudhook_keys=set(entry.options.get(OPTION_CLOUDHOOKS, [])),
        on_wrong_key=lambda: entry.async_start_reauth(hass),
        make_token=lambda: _async_engine_token(hass, entry),
    )
    hub.engine = link
    entry.runtime_data = KopiaRuntime(link=link, options=dict(entry.options))
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    link.start()
    return True


async def _async_setup_legacy(hass: HomeAssistant, entry: KopiaConfigEntry) -> bool:
    """Hold an entry of the replaced integration until the add-on's entry takes it over.

    Its webhook keeps answering (reports are held); its "snapshot slot" sensors are gone.
    """
    hub = await async_get_hub(hass)
    _remove_old_entities(hass, entry)
    hub.legacy[str(entry.data[CONF_WEBHOOK_ID])] = entry.entry_id
    hub.sync_webhooks()
    entry.runtime_data = KopiaRuntime(link=None)
    if hub.engine is None:
        waiting = sum(
            1 for e in hass.config_entries.async_entries(DOMAIN) if e.data.get(CONF_LEGACY)
        )
        issues.sync_waiting_for_addon(hass, waiting)
    elif hub.engine.connected:
        entry.async_create_background_task(
            hass, hub.engine.async_take_over_legacy_entries(), "kopia_webhook take over"
        )
    return True


def _remove_old_entities(hass: HomeAssistant, entry: KopiaConfigEntry) -> None:
    """The replaced integration's sensors: the add-on's entities take their place."""
    entities = er.async_get(hass)
    old = er.async_entries_for_config_entry(entities, entry.entry_id)
    for entity in old:
        entities.async_remove(entity.entity_id)
    if old:
        # Their entity IDs hold the webhook ID: counted, not named.
        LOGGER.info("Removed %d sensors of the replaced Kopia integration", len(old))
    devices = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(devices, entry.entry_id):
        devices.async_remove_device(device.id)


async def async_unload_entry(hass: HomeAssistant, entry: KopiaConfigEntry) -> bool:
    """Unload an entry."""
    hub = await async_get_hub(hass)
    if entry.data.get(CONF_LEGACY):
        hub.legacy.pop(str(entry.data[CONF_WEBHOOK_ID]), None)
        hub.sync_webhooks()
        return True
    link = entry.runtime_data.link
    if link is not None:
        await link.stop()
        async_hide_panel(hass)
    if hub.engine is link:
        hub.engine = None
        hub.monitor_ids = set()
        hub.sync_webhooks()
    return True


async def async_remove_entry(hass: HomeAssistant, entry: KopiaConfigEntry) -> None:
    """The add-on's entry removed: its Repairs, and the engine's user and token, go with it."""
    if entry.data.get(CONF_LEGACY):
        return
    issues.sync_monitor_problems(hass, [])
    user_id = entry.data.get(CONF_SYSTEM_USER)
    if not user_id:
        return
    client = EngineClient(async_get_clientsession(hass), entry.data[CONF_URL], entry.data[CONF_KEY])
    try:
        await client.take_back_core()
    except EngineError as err:
        LOGGER.info("The engine was not told to forget Home Assistant's connection: %s", err)
    if (user := await hass.auth.async_get_user(str(user_id))) is not None:
        await hass.auth.async_remove_user(user)


async def async_migrate_entry(hass: HomeAssistant, entry: KopiaConfigEntry) -> bool:
    """Entries of the replaced integration (version 2: webhook_id, history_limit)."""
    if entry.version > ENTRY_VERSION:
        return False
    if entry.version < ENTRY_VERSION:
        data = dict(entry.data)
        if CONF_WEBHOOK_ID in data:
            data[CONF_LEGACY] = True
            data.setdefault(CONF_HISTORY_LIMIT, 10)
        # Its title holds the webhook ID, a secret: the entry is named by its ID only.
        LOGGER.info("Taking over entry %s of the replaced Kopia integration", entry.entry_id)
        hass.config_entries.async_update_entry(
            entry, data=data, version=ENTRY_VERSION, minor_version=1
        )
    return True


async def _async_options_updated(hass: HomeAssistant, entry: KopiaConfigEntry) -> None:
    # The entry's data changes too (the engine's user): only new options reload it.
    if dict(entry.options) != entry.runtime_data.options:
        await hass.config_entries.async_reload(entry.entry_id)


async def _async_engine_token(hass: HomeAssistant, entry: KopiaConfigEntry) -> str:
    """A token for the engine's entities.

    Of a system user of its own (an administrator, as setting states and firing events need),
    made once and removed with this entry. Each call replaces the user's earlier tokens.
    """
    user = None
    if user_id := entry.data.get(CONF_SYSTEM_USER):
        user = await hass.auth.async_get_user(str(user_id))
    if user is None:
        user = await hass.auth.async_create_system_user(
            "Kopia Webhook Status", group_ids=[GROUP_ID_ADMIN]
        )
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_SYSTEM_USER: user.id}
        )
    for old in list(user.refresh_tokens.values()):
        hass.auth.async_remove_refresh_token(old)
    refresh = await hass.auth.async_create_refresh_token(
        user, access_token_expiration=timedelta(days=3650)
    )
    return hass.auth.async_create_access_token(refresh)
