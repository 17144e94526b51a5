"""Set up the connection to the Kopia Webhook Status add-on.

With a Supervisor, the add-on announces itself (discovery) and one click adds it. Without
one (Home Assistant Container), the user gives the add-on's webhook address and the
integration key its panel shows.
"""

from __future__ import annotations

from typing import Any

import probatio as vol

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.service_info.hassio import HassioServiceInfo

from . import KopiaConfigEntry, cloud
from .api import EngineClient, EngineError, EngineUnreachable, NotTheEngine, WrongKey
from .const import (
    CONF_KEY,
    CONF_URL,
    DOMAIN,
    ENGINE_UNIQUE_ID,
    ENTRY_VERSION,
    LOGGER,
    OPTION_CLOUDHOOKS,
    OPTION_REPAIRS,
)

TITLE = "Kopia Webhook Status"


class KopiaWebhookConfigFlow(ConfigFlow, domain=DOMAIN):
    """The add-on's entry."""

    VERSION = ENTRY_VERSION
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Initialize the flow."""
        self._discovered: dict[str, str] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: KopiaConfigEntry) -> OptionsFlow:
        """The options: Repairs for monitors with a problem."""
        return KopiaWebhookOptionsFlow()

    async def _async_errors(self, url: str, key: str) -> dict[str, str]:
        """Asks the add-on once; the form's errors, if any."""
        client = EngineClient(async_get_clientsession(self.hass), url, key)
        try:
            await client.monitors()
        except WrongKey:
            return {CONF_KEY: "invalid_auth"}
        except NotTheEngine:
            return {CONF_URL: "not_the_addon"}
        except EngineUnreachable:
            return {CONF_URL: "cannot_connect"}
        except EngineError:
            LOGGER.exception("Unexpected answer from the add-on")
            return {"base": "unknown"}
        return {}

    async def _async_checked(
        self, user_input: dict[str, Any]
    ) -> tuple[dict[str, str] | None, dict[str, str]]:
        """The form's address and key, tried on the add-on: the entry's data, or the errors."""
        url = _normalized(user_input[CONF_URL])
        if url is None:
            return None, {CONF_URL: "invalid_url"}
        key = user_input[CONF_KEY].strip()
        errors = await self._async_errors(url, key)
        return (None if errors else {CONF_URL: url, CONF_KEY: key}), errors

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Set up by hand: the add-on's webhook address and the integration key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = await self._async_checked(user_input)
            if data is not None:
                await self.async_set_unique_id(ENGINE_UNIQUE_ID)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=TITLE, data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_hassio(self, discovery_info: HassioServiceInfo) -> ConfigFlowResult:
        """The add-on announced itself through the Supervisor."""
        config = discovery_info.config
        url = f"http://{config['host']}:{config['port']}"
        key = str(config["key"])
        await self.async_set_unique_id(ENGINE_UNIQUE_ID)
        # A new key (made in the panel) or address reaches the existing entry by itself.
        self._abort_if_unique_id_configured(updates={CONF_URL: url, CONF_KEY: key})
        self._discovered = {CONF_URL: url, CONF_KEY: key, "addon": discovery_info.name}
        return await self.async_step_hassio_confirm()

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One click to add the discovered add-on."""
        errors: dict[str, str] = {}
        if user_input is not None:
            url, key = self._discovered[CONF_URL], self._discovered[CONF_KEY]
            errors = await self._async_errors(url, key)
            if not errors:
                return self.async_create_entry(title=TITLE, data={CONF_URL: url, CONF_KEY: key})
        return self.async_show_form(
            step_id="hassio_confirm",
            description_placeholders={"addon": self._discovered.get("addon", TITLE)},
            errors={"base": next(iter(errors.values()))} if errors else {},
        )

    async def async_step_reauth(self, entry_data: dict[str, Any]) -> ConfigFlowResult:
        """The add-on refused the key (a new one was made in its panel)."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the key the add-on's panel shows now."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            key = user_input[CONF_KEY].strip()
            errors = await self._async_errors(entry.data[CONF_URL], key)
            if not errors:
                return self.async_update_reload_and_abort(entry, data_updates={CONF_KEY: key})
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_KEY): str}),
            description_placeholders={"url": entry.data[CONF_URL]},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new address or key for the add-on."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = await self._async_checked(user_input)
            if data is not None:
                return self.async_update_reload_and_abort(entry, data_updates=data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _SCHEMA, user_input or {CONF_URL: entry.data[CONF_URL]}
            ),
            errors=errors,
        )


class KopiaWebhookOptionsFlow(OptionsFlow):
    """Repairs for monitors with a problem; with Home Assistant Cloud, cloud webhooks."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The only step."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        options = self.config_entry.options
        fields: dict[Any, Any] = {
            vol.Required(OPTION_REPAIRS, default=options.get(OPTION_REPAIRS, True)): bool
        }
        link = getattr(self.config_entry.runtime_data, "link", None)
        if cloud.available(self.hass) and link is not None and link.monitors:
            names = {str(m["key"]): str(m["name"]) for m in link.monitors}
            chosen = [key for key in options.get(OPTION_CLOUDHOOKS, []) if key in names]
            fields[vol.Optional(OPTION_CLOUDHOOKS, default=chosen)] = cv.multi_select(names)
        return self.async_show_form(step_id="init", data_schema=vol.Schema(fields))


_SCHEMA = vol.Schema({vol.Required(CONF_URL): str, vol.Required(CONF_KEY): str})


def _normalized(raw: str) -> str | None:
    """`192.168.1.10:8098` or `http://host:8098/` → `http://host:8098`; `None` if no URL."""
    url = raw.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest or "/" in rest or " " in rest:
        return None
    return url
