"""Installed over the HACS integration it replaces: every Kopia URL keeps working."""

from __future__ import annotations

import logging

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.kopia_webhook.const import DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir

from .conftest import (
    Engine,
    assert_no_secret_logged,
    connected,
    eventually,
    in_executor,
    kopia_message,
    registered,
)

OLD_ID = "server_1_backup"


def old_entry(hass: HomeAssistant) -> MockConfigEntry:
    """An entry as the replaced integration made it, with its "snapshot slot" sensors."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Kopia Status ({OLD_ID})",
        data={"webhook_id": OLD_ID, "history_limit": 12},
        version=2,
    )
    entry.add_to_hass(hass)
    entities = er.async_get(hass)
    for slot in (1, 2):
        entities.async_get_or_create(
            "sensor",
            DOMAIN,
            f"{OLD_ID}_snapshot_{slot}",
            config_entry=entry,
            suggested_object_id=f"kopia_status_server_1_backup_snapshot_slot_{slot}",
        )
    return entry


async def test_old_entries_wait_for_the_add_on_then_become_monitors(
    hass: HomeAssistant,
    engine: Engine,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.kopia_webhook")
    old = old_entry(hass)
    assert await hass.config_entries.async_setup(old.entry_id)
    await hass.async_block_till_done()
    assert old.version == 3
    assert old.data["legacy"] is True
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, "addon_missing") is not None
    assert not er.async_entries_for_config_entry(er.async_get(hass), old.entry_id)
    assert registered(hass, OLD_ID), "Kopia's URL keeps answering"

    # A report before the add-on is there: kept, not lost.
    headers, body = kopia_message("snapshot-report.txt.default.expected")
    client = await hass_client_no_auth()
    held = await client.post(f"/api/webhook/{OLD_ID}", data=body, headers=headers)
    assert held.status == 200

    # The add-on is installed and connected: the entry becomes a monitor with the same ID.
    entry = await connected(hass, engine)
    await eventually(
        "the old entry taken over", lambda: not hass.config_entries.async_get_entry(old.entry_id)
    )
    await hass.async_block_till_done()
    status, monitor = await in_executor(hass, engine.api, "GET", "/api/monitors/backup")
    assert status == 200, monitor
    assert monitor["webhook_id"] == OLD_ID
    assert monitor["history_limit"] == 12
    assert issues.async_get_issue(DOMAIN, "addon_missing") is None
    assert issues.async_get_issue(DOMAIN, f"migrated_{old.entry_id}") is not None
    assert registered(hass, OLD_ID)
    held_events = await eventually(
        "the held report handed over",
        lambda: hass.async_add_executor_job(engine.events, "backup"),
    )

    # Kopia posts to the very same URL, nothing changed on its side.
    headers, body = kopia_message("generic-error.txt.default.expected")
    again = await client.post(f"/api/webhook/{OLD_ID}", data=body, headers=headers)
    assert again.status == 200, await again.text()
    assert (await again.json())["events"] == 1
    events = await in_executor(hass, engine.events, "backup")
    assert len(events) == len(held_events) + 1
    await hass.config_entries.async_unload(entry.entry_id)
    assert_no_secret_logged(caplog, OLD_ID, entry.data["key"])
