"""Home Assistant Container: the engine's entities with no token to paste. The integration
makes a user of the engine's own, hands its token to the engine, and removes it with the
entry."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

from custom_components.kopia_webhook.const import CONF_SYSTEM_USER, DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.core_config import async_process_ha_core_config
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.network import NoURLAvailableError

from .conftest import Engine, connected, eventually, in_executor


async def engine_pushes(hass: HomeAssistant, engine: Engine) -> bool:
    _, status = await in_executor(hass, engine.api, "GET", "/api/status")
    return bool(status["home_assistant"]["enabled"])


async def test_the_engine_gets_a_token_of_its_own_user_removed_with_the_entry(
    hass: HomeAssistant, engine: Engine
) -> None:
    await async_process_ha_core_config(hass, {"internal_url": "http://127.0.0.1:8123"})
    assert not await engine_pushes(hass, engine)
    entry = await connected(hass, engine)
    await eventually("the engine pushes", lambda: engine_pushes(hass, engine))
    link = entry.runtime_data.link

    user_id = entry.data[CONF_SYSTEM_USER]
    user = await hass.auth.async_get_user(user_id)
    assert user is not None
    assert user.system_generated
    assert user.is_admin, "setting states and firing events need an administrator"
    (token,) = user.refresh_tokens.values()
    assert token.access_token_expiration == timedelta(days=3650)
    await hass.async_block_till_done()
    assert entry.runtime_data.link is link, "keeping the user's ID did not reload the entry"
    _, status = await in_executor(hass, engine.api, "GET", "/api/status")
    assert "127.0.0.1:8123" not in str(status.get("integration")), status

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.auth.async_get_user(user_id) is None, "the user and its token are gone"
    assert not await engine_pushes(hass, engine), "the engine forgot the connection"


async def test_without_a_local_address_a_repair_says_what_to_set(
    hass: HomeAssistant, engine: Engine
) -> None:
    # A Home Assistant whose address on the network is not known (the test's own falls back
    # to the machine's).
    with patch("custom_components.kopia_webhook.engine.get_url", side_effect=NoURLAvailableError):
        entry = await connected(hass, engine)
        issue = await eventually(
            "a Repair", lambda: ir.async_get(hass).async_get_issue(DOMAIN, "no_internal_url")
        )
    assert issue.severity is ir.IssueSeverity.ERROR
    assert not await engine_pushes(hass, engine)
    await hass.config_entries.async_unload(entry.entry_id)
