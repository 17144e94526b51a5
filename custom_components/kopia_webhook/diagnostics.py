"""Diagnostics download: the connection, the monitors and their latest runs, secrets redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from . import KopiaConfigEntry
from .const import CONF_KEY, CONF_WEBHOOK_ID
from .hub import async_get_hub

# Webhook IDs and every URL that holds one are secrets like the key.
TO_REDACT = {
    CONF_KEY,
    CONF_WEBHOOK_ID,
    "webhook_url",
    "url_from_anywhere",
    "slug",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: KopiaConfigEntry
) -> dict[str, Any]:
    """What support needs to see, without what lets anyone post reports."""
    hub = await async_get_hub(hass)
    link = entry.runtime_data.link
    return {
        "entry": async_redact_data(dict(entry.data), TO_REDACT),
        "options": dict(entry.options),
        "connection": None
        if link is None
        else {
            "connected": link.connected,
            "last_error": link.last_error,
            "repairs": link.repairs,
        },
        "relay": {
            "registered_webhooks": hub.registered,
            "held_reports": len(hub.held),
            "legacy_entries_waiting": len(hub.legacy),
        },
        "monitors": [] if link is None else async_redact_data(link.monitors, TO_REDACT),
    }
