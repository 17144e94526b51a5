"""Home Assistant Cloud (Nabu Casa), when it is set up: its remote URL and cloud webhooks.

A cloud webhook (`https://hooks.nabu.casa/…`) reaches Home Assistant without any port or
domain of the user's: an opt-in per monitor.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from .const import LOGGER


def _loaded(hass: HomeAssistant) -> bool:
    return "cloud" in hass.config.components


def available(hass: HomeAssistant) -> bool:
    """Whether cloud webhooks can be made: logged in with a subscription."""
    if not _loaded(hass):
        return False
    from homeassistant.components import cloud  # noqa: PLC0415

    return cloud.async_active_subscription(hass)


def remote_url(hass: HomeAssistant) -> str | None:
    """Home Assistant Cloud's remote URL, while remote access is on."""
    if not available(hass):
        return None
    from homeassistant.components import cloud  # noqa: PLC0415

    try:
        return cloud.async_remote_ui_url(hass)
    except cloud.CloudNotAvailable:
        return None


async def async_webhook_url(hass: HomeAssistant, webhook_id: str) -> str | None:
    """The cloud webhook of this webhook ID, made if there is none; `None` if it cannot be."""
    if not available(hass):
        return None
    from homeassistant.components import cloud  # noqa: PLC0415

    try:
        return await cloud.async_get_or_create_cloudhook(hass, webhook_id)
    except (cloud.CloudNotAvailable, cloud.CloudNotConnected) as err:
        LOGGER.warning("No cloud webhook for %s…: %s", webhook_id[:4], type(err).__name__)
        return None


async def async_remove_webhook(hass: HomeAssistant, webhook_id: str) -> None:
    """Removes the cloud webhook of this webhook ID, if Home Assistant Cloud is there."""
    if not _loaded(hass):
        return
    from homeassistant.components import cloud  # noqa: PLC0415

    try:
        await cloud.async_delete_cloudhook(hass, webhook_id)
    except (cloud.CloudNotAvailable, ValueError) as err:
        LOGGER.debug("Cloud webhook %s… not removed: %s", webhook_id[:4], type(err).__name__)
