"""The panel in Home Assistant's sidebar, where there is no Supervisor (Home Assistant Container).

The add-on has ingress: Home Assistant's login, a place in the sidebar. The engine beside Home
Assistant Container has neither, so this integration gives them: a sidebar panel whose frame
loads the engine's pages through a proxy here, for a live session of an administrator only
(`panel.js` asks for the session over the websocket and keeps it in a cookie of the proxy's
path). The engine serves those pages only with the integration key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
import probatio as vol

from homeassistant.components import panel_custom, websocket_api
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import require_admin, websocket_command
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .api import PANEL_PATH, EngineError, read_bounded
from .const import DOMAIN, LOGGER

if TYPE_CHECKING:
    from .engine import EngineLink

PROXY_PATH = PANEL_PATH
STATIC_PATH = "/api/kopia_webhook/static"
PANEL_URL_PATH = "kopia-backups"
SESSION_COOKIE = "kopia_webhook_session"
# The panel renews its session every five minutes while it is open.
SESSION_LIFETIME = 15 * 60
# The largest body a page sends (its forms); the engine refuses more itself.
MAX_BODY = 64 * 1024

DATA_PANEL: HassKey[PanelState] = HassKey(f"{DOMAIN}_panel")


@dataclass
class PanelState:
    """The sessions of open panels, and the add-on they show."""

    link: EngineLink | None = None
    shown: bool = False
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)

    def session_for(self, user_id: str, renewed: str | None) -> str:
        """A session for this user: the one being renewed if it is theirs, else a new one."""
        now = time.monotonic()
        self.sessions = {t: s for t, s in self.sessions.items() if s[1] > now}
        if renewed is not None and self.sessions.get(renewed, ("", 0.0))[0] == user_id:
            token = renewed
        else:
            token = secrets.token_urlsafe(32)
        self.sessions[token] = (user_id, now + SESSION_LIFETIME)
        return token

    def user_of(self, token: str | None) -> str | None:
        """The user whose live session this is."""
        if token is None:
            return None
        user_id, until = self.sessions.get(token, ("", 0.0))
        return user_id if until > time.monotonic() else None


async def async_setup_panel(hass: HomeAssistant) -> None:
    """The proxy, its session command and the panel's script: once per Home Assistant run."""
    hass.data[DATA_PANEL] = PanelState()
    hass.http.register_view(PanelProxyView())
    websocket_api.async_register_command(hass, ws_panel_session)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STATIC_PATH, str(Path(__file__).parent / "www"), cache_headers=False)]
    )


async def async_show_panel(hass: HomeAssistant, link: EngineLink) -> None:
    """The "Backups" panel in the sidebar, for administrators."""
    state = hass.data[DATA_PANEL]
    state.link = link
    if state.shown or "frontend" not in hass.config.components:
        return
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=PANEL_URL_PATH,
        webcomponent_name="kopia-webhook-panel",
        sidebar_title="Backups",
        sidebar_icon="mdi:backup-restore",
        module_url=f"{STATIC_PATH}/panel.js",
        require_admin=True,
    )
    state.shown = True


@callback
def async_hide_panel(hass: HomeAssistant) -> None:
    """No panel, no sessions (the add-on's entry was unloaded)."""
    state = hass.data.get(DATA_PANEL)
    if state is None:
        return
    state.link = None
    state.sessions.clear()
    if state.shown:
        from homeassistant.components import frontend  # noqa: PLC0415

        frontend.async_remove_panel(hass, PANEL_URL_PATH, warn_if_unknown=False)
        state.shown = False


@websocket_command(
    {vol.Required("type"): "kopia_webhook/panel_session", vol.Optional("session"): str}
)
@require_admin
@callback
def ws_panel_session(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """A session for the signed-in administrator's panel (or the one it renews)."""
    state = hass.data[DATA_PANEL]
    if state.link is None:
        connection.send_error(
            msg["id"], "not_found", "The Kopia Webhook Status engine is not set up here"
        )
        return
    token = state.session_for(connection.user.id, msg.get("session"))
    connection.send_result(msg["id"], {"session": token})


class PanelProxyView(HomeAssistantView):
    """The engine's pages, for an administrator's live panel session."""

    url = PROXY_PATH + "/{path:.*}"
    name = "api:kopia_webhook:panel"
    # A frame sends no token: the session cookie is checked instead.
    requires_auth = False

    async def _handle(self, request: web.Request, path: str) -> web.StreamResponse:
        hass = request.app[KEY_HASS]
        state = hass.data[DATA_PANEL]
        user_id = state.user_of(request.cookies.get(SESSION_COOKIE))
        user = await hass.auth.async_get_user(user_id) if user_id else None
        if user is None or not user.is_active or not user.is_admin:
            return web.Response(
                status=401,
                text="Open Backups from Home Assistant's sidebar, signed in as an administrator.\n",
            )
        if state.link is None:
            return web.Response(status=404, text="The Kopia Webhook Status engine is not set up.\n")
        body = await read_bounded(request.content, MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.Response(status=413, text="The form is too large.\n")
        try:
            answer = await state.link.client.panel(
                request.method,
                path,
                request.rel_url.raw_query_string,
                list(request.headers.items()),
                body,
                forwarded_host=request.host,
            )
        except EngineError as err:
            LOGGER.debug("The panel could not reach the engine: %s", err)
            return web.Response(
                status=502,
                text="Home Assistant cannot reach the Kopia Webhook Status engine right now.\n",
            )
        headers = dict(answer.headers)
        if answer.content_type:
            headers["Content-Type"] = answer.content_type
        return web.Response(status=answer.status, body=answer.body, headers=headers)

    get = _handle
    head = _handle
    post = _handle
