"""Home Assistant actions: pause a monitor for a while, and resume it.

While paused, a monitor shows `paused`: nothing is overdue, a problem or notified, and it
resumes by itself when the time is up.
"""

from __future__ import annotations

from datetime import timedelta

import probatio as vol

from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .api import EngineError, EngineUnreachable
from .const import DOMAIN
from .hub import async_get_hub

SERVICE_PAUSE = "pause"
SERVICE_RESUME = "resume"
ATTR_MONITOR = "monitor"
ATTR_DURATION = "duration"

_MONITOR = vol.All(cv.string, vol.Length(min=1, max=200))
PAUSE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_MONITOR): _MONITOR,
        vol.Required(ATTR_DURATION): vol.All(
            cv.time_period, vol.Range(min=timedelta(minutes=1), max=timedelta(days=366))
        ),
    }
)
RESUME_SCHEMA = vol.Schema({vol.Required(ATTR_MONITOR): _MONITOR})


def monitor_key(monitor: str) -> str:
    """`sensor.kopia_nas` (any of its entities) or `nas`: the monitor's key."""
    name = monitor.strip().split(".", 1)[-1].removeprefix("kopia_")
    for suffix in ("_problem", "_last_success", "_size", "_duration", "_runs"):
        name = name.removesuffix(suffix)
    return name


async def async_setup_services(hass: HomeAssistant) -> None:
    """Registers `kopia_webhook.pause` and `kopia_webhook.resume`."""

    async def pause_or_resume(call: ServiceCall) -> None:
        hub = await async_get_hub(hass)
        link = hub.engine
        if link is None:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_connected")
        key = monitor_key(call.data[ATTR_MONITOR])
        duration: timedelta | None = call.data.get(ATTR_DURATION)
        try:
            await link.client.pause(key, duration)
        except EngineUnreachable as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="addon_unreachable",
                translation_placeholders={"error": str(err)},
            ) from err
        except EngineError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="refused",
                translation_placeholders={"monitor": key, "error": str(err)},
            ) from err

    hass.services.async_register(
        DOMAIN, SERVICE_PAUSE, pause_or_resume, PAUSE_SCHEMA, SupportsResponse.NONE
    )
    hass.services.async_register(
        DOMAIN, SERVICE_RESUME, pause_or_resume, RESUME_SCHEMA, SupportsResponse.NONE
    )
