"""The Backups panel in the sidebar for an engine without a Supervisor, behind Home
Assistant's login: a session only for administrators, the engine's pages through the proxy."""

from __future__ import annotations

from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.kopia_webhook.panel import PANEL_URL_PATH, SESSION_COOKIE
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from .conftest import Engine, connected, eventually, in_executor


async def session(ws_client: WebSocketGenerator, token: str | None = None) -> dict:
    client = await ws_client() if token is None else await ws_client(access_token=token)
    await client.send_json_auto_id({"type": "kopia_webhook/panel_session"})
    return dict(await client.receive_json())


async def test_an_administrators_panel_shows_the_engines_pages(
    hass: HomeAssistant,
    engine: Engine,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    hass_read_only_access_token: str,
) -> None:
    assert await async_setup_component(hass, "frontend", {})
    entry = await connected(hass, engine)
    await eventually(
        "the panel in the sidebar", lambda: PANEL_URL_PATH in hass.data.get("frontend_panels", {})
    )
    panel = hass.data["frontend_panels"][PANEL_URL_PATH]
    assert panel.require_admin is True
    assert panel.sidebar_title == "Backups"

    refused = await session(hass_ws_client, hass_read_only_access_token)
    assert refused["success"] is False, "a user who is not an administrator gets no session"
    answer = await session(hass_ws_client)
    assert answer["success"] is True
    token = answer["result"]["session"]

    client = await hass_client_no_auth()
    anonymous = await client.get("/api/kopia_webhook/panel/")
    assert anonymous.status == 401
    forged = await client.get("/api/kopia_webhook/panel/", cookies={SESSION_COOKIE: "forged"})
    assert forged.status == 401

    page = await client.get("/api/kopia_webhook/panel/", cookies={SESSION_COOKIE: token})
    assert page.status == 200
    html = await page.text()
    assert '<base href="/api/kopia_webhook/panel/">' in html
    assert "Backups" in html
    style = await client.get(
        "/api/kopia_webhook/panel/static/app.css", cookies={SESSION_COOKIE: token}
    )
    assert style.status == 200

    # A form of the panel: a monitor made from the sidebar, the redirect under the proxy.
    created = await client.post(
        "/api/kopia_webhook/panel/monitors",
        data={"name": "From the sidebar"},
        cookies={SESSION_COOKIE: token},
        headers={"Origin": f"http://{page.url.host}:{page.url.port}"},
        allow_redirects=False,
    )
    assert created.status == 303, await created.text()
    assert created.headers["Location"].startswith("/api/kopia_webhook/panel/monitors/")
    status, monitors = await in_executor(hass, engine.api, "GET", "/api/monitors")
    assert status == 200
    assert monitors[0]["name"] == "From the sidebar"

    # Live updates: the page's long poll goes through the proxy too.
    changes = await client.get(
        "/api/kopia_webhook/panel/api/changes", cookies={SESSION_COOKIE: token}
    )
    assert changes.status == 200
    assert "version" in await changes.json()

    await hass.config_entries.async_unload(entry.entry_id)
    assert PANEL_URL_PATH not in hass.data.get("frontend_panels", {})
    after = await client.get("/api/kopia_webhook/panel/", cookies={SESSION_COOKIE: token})
    assert after.status == 401, "sessions end with the entry"
