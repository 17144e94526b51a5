"""Setting up the connection: by hand, by Supervisor discovery, a new key, a new address."""

from __future__ import annotations

from custom_components.kopia_webhook.const import CONF_KEY, CONF_URL, DOMAIN
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo

from .conftest import Engine, _free_port, connected, eventually, in_executor


async def test_set_up_by_hand_with_clear_errors(hass: HomeAssistant, engine: Engine) -> None:
    key = await in_executor(hass, engine.key)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    for url, given_key, errors in [
        (f"http://127.0.0.1:{_free_port()}", key, {CONF_URL: "cannot_connect"}),
        (engine.url, "wrong-key", {CONF_KEY: "invalid_auth"}),
        (f"http://127.0.0.1:{engine.ui_port}", key, {CONF_URL: "not_the_addon"}),
        (f"{engine.url}/api/webhook/x", key, {CONF_URL: "invalid_url"}),
    ]:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_URL: url, CONF_KEY: given_key}
        )
        assert result["type"] is FlowResultType.FORM, url
        assert result["errors"] == errors, url

    # Without the scheme, as people type it.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_URL: f"127.0.0.1:{engine.webhook_port}/", CONF_KEY: f" {key} "},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_URL: engine.url, CONF_KEY: key}
    await hass.async_block_till_done()

    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    again = await hass.config_entries.flow.async_configure(
        again["flow_id"], {CONF_URL: engine.url, CONF_KEY: key}
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)


async def test_discovered_add_on_is_one_click_and_a_new_key_follows(
    hass: HomeAssistant, engine: Engine
) -> None:
    key = await in_executor(hass, engine.key)
    discovery = HassioServiceInfo(
        config={"host": "127.0.0.1", "port": engine.webhook_port, "key": key},
        name="Kopia Webhook Status",
        slug="abc12345_kopia_webhook",
        uuid="0123456789abcdef",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_HASSIO}, data=discovery
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    (entry,) = hass.config_entries.async_entries(DOMAIN)

    # A new key made in the panel: the add-on announces itself again with it.
    new_key = "n" * 43
    discovery.config = {**discovery.config, "key": new_key}
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_HASSIO}, data=discovery
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"
    assert entry.data[CONF_KEY] == new_key
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_options_turn_repairs_off(hass: HomeAssistant, engine: Engine) -> None:
    key = await in_executor(hass, engine.key)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: engine.url, CONF_KEY: key}
    )
    entry = result["result"]
    await hass.async_block_till_done()
    options = await hass.config_entries.options.async_init(entry.entry_id)
    options = await hass.config_entries.options.async_configure(
        options["flow_id"], {"repairs": False}
    )
    assert options["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {"repairs": False}
    assert entry.runtime_data.link is not None
    assert entry.runtime_data.link.repairs is False
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_new_key_made_in_the_panel_is_asked_for_and_relaying_resumes(
    hass: HomeAssistant, engine: Engine
) -> None:
    entry = await connected(hass, engine)
    new_key = await in_executor(hass, engine.rotate_key)

    def reauth_flows() -> list[dict]:
        return [
            flow
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["source"] == config_entries.SOURCE_REAUTH
        ]

    (flow,) = await eventually("Home Assistant asks for the new key", reauth_flows)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_KEY: "not-the-new-key"}
    )
    assert result["errors"] == {CONF_KEY: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_KEY: new_key})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_KEY] == new_key
    await eventually("connected again", lambda: entry.runtime_data.link.connected)
    await hass.config_entries.async_unload(entry.entry_id)
