"""Home Assistant Cloud: an opt-in cloud webhook per monitor, and the remote URL.

Home Assistant Cloud cannot be reached from a test; its four entry points in this
integration (`cloud.py`) stand in for it, everything else is real.
"""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .conftest import Engine, connected, eventually, in_executor

MODULE = "custom_components.kopia_webhook.cloud"


async def test_a_chosen_monitor_gets_a_cloud_webhook_shown_in_the_panel(
    hass: HomeAssistant, engine: Engine
) -> None:
    made: list[str] = []
    removed: list[str] = []

    async def make(_hass: HomeAssistant, webhook_id: str) -> str:
        made.append(webhook_id)
        return f"https://hooks.nabu.casa/{webhook_id}-cloud"

    async def remove(_hass: HomeAssistant, webhook_id: str) -> None:
        removed.append(webhook_id)

    with (
        patch(f"{MODULE}.available", return_value=True),
        patch(f"{MODULE}.remote_url", return_value="https://abc.ui.nabu.casa"),
        patch(f"{MODULE}.async_webhook_url", side_effect=make),
        patch(f"{MODULE}.async_remove_webhook", side_effect=remove),
    ):
        entry = await connected(hass, engine)
        monitor = await in_executor(hass, engine.create_monitor, "NAS")
        webhook_id = monitor["webhook_id"]
        await eventually("listed", lambda: entry.runtime_data.link.monitors)

        options = await hass.config_entries.options.async_init(entry.entry_id)
        assert "cloudhooks" in options["data_schema"].schema
        options = await hass.config_entries.options.async_configure(
            options["flow_id"], {"repairs": True, "cloudhooks": ["nas"]}
        )
        assert options["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()

        async def shown() -> dict | None:
            status, seen = await in_executor(hass, engine.api, "GET", "/api/monitors/nas")
            return seen if status == 200 and seen["cloud_webhook_url"] else None

        seen = await eventually("the cloud webhook in the panel", shown)
        assert seen["cloud_webhook_url"] == f"https://hooks.nabu.casa/{webhook_id}-cloud"
        assert seen["url_from_anywhere"] == f"https://abc.ui.nabu.casa/api/webhook/{webhook_id}"
        assert made == [webhook_id]

        options = await hass.config_entries.options.async_init(entry.entry_id)
        await hass.config_entries.options.async_configure(
            options["flow_id"], {"repairs": True, "cloudhooks": []}
        )
        await hass.async_block_till_done()
        await eventually("removed", lambda: removed == [webhook_id])

        async def gone() -> bool:
            _, seen = await in_executor(hass, engine.api, "GET", "/api/monitors/nas")
            return seen["cloud_webhook_url"] is None

        await eventually("gone from the panel", gone)
        await hass.config_entries.async_unload(entry.entry_id)


async def test_without_home_assistant_cloud_the_options_do_not_offer_it(
    hass: HomeAssistant, engine: Engine
) -> None:
    entry = await connected(hass, engine)
    await in_executor(hass, engine.create_monitor, "NAS")
    await eventually("listed", lambda: entry.runtime_data.link.monitors)
    options = await hass.config_entries.options.async_init(entry.entry_id)
    assert "cloudhooks" not in options["data_schema"].schema
    hass.config_entries.options.async_abort(options["flow_id"])
    await hass.config_entries.async_unload(entry.entry_id)
