"""The pause and resume actions: a monitor paused from Home Assistant shows `paused`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.kopia_webhook.const import DOMAIN
from custom_components.kopia_webhook.services import monitor_key
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .conftest import Engine, connected, in_executor


def test_any_entity_of_a_monitor_names_it() -> None:
    assert monitor_key("sensor.kopia_nas") == "nas"
    assert monitor_key("binary_sensor.kopia_nas_photos_problem") == "nas_photos"
    assert monitor_key("nas") == "nas"


async def test_pause_and_resume_from_home_assistant(hass: HomeAssistant, engine: Engine) -> None:
    entry = await connected(hass, engine)
    await in_executor(hass, engine.create_monitor, "NAS")
    await hass.services.async_call(
        DOMAIN,
        "pause",
        {"monitor": "sensor.kopia_nas", "duration": timedelta(hours=4)},
        blocking=True,
    )
    status, monitor = await in_executor(hass, engine.api, "GET", "/api/monitors/nas")
    assert status == 200
    assert monitor["status"] == "paused"
    assert monitor["paused_until"] is not None

    await hass.services.async_call(DOMAIN, "resume", {"monitor": "sensor.kopia_nas"}, blocking=True)
    _, monitor = await in_executor(hass, engine.api, "GET", "/api/monitors/nas")
    assert monitor["paused_until"] is None
    assert monitor["status"] != "paused"

    # A monitor the add-on does not have: the add-on's reason, as a validation error.
    with pytest.raises(ServiceValidationError, match="nowhere"):
        await hass.services.async_call(
            DOMAIN,
            "pause",
            {"monitor": "sensor.kopia_nowhere", "duration": {"hours": 1}},
            blocking=True,
        )
    await hass.config_entries.async_unload(entry.entry_id)
