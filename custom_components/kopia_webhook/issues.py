"""Repairs: what the user should know and do, in Settings → System → Repairs."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

UNREACHABLE = "addon_unreachable"
WAITING_FOR_ADDON = "addon_missing"
MONITOR_PREFIX = "monitor_problem_"
MIGRATED_PREFIX = "migrated_"
LEGACY_REFUSED_PREFIX = "migration_refused_"


@callback
def sync_monitor_problems(hass: HomeAssistant, problems: list[dict[str, Any]]) -> None:
    """One Repair per monitor with a problem (failed, overdue); gone when it recovers."""
    wanted = {MONITOR_PREFIX + str(m["key"]): m for m in problems}
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.startswith(MONITOR_PREFIX) and issue_id not in wanted:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
    for issue_id, monitor in wanted.items():
        status = str(monitor["status"])
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR if status == "failed" else ir.IssueSeverity.WARNING,
            translation_key=f"monitor_{status}",
            translation_placeholders={
                "name": str(monitor["name"]),
                "reason": str(monitor.get("error") or status),
            },
        )


@callback
def sync_waiting_for_addon(hass: HomeAssistant, waiting: int) -> None:
    """While entries of the replaced integration wait for the add-on: install it."""
    if waiting == 0:
        ir.async_delete_issue(hass, DOMAIN, WAITING_FOR_ADDON)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        WAITING_FOR_ADDON,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=WAITING_FOR_ADDON,
        translation_placeholders={"count": str(waiting)},
        learn_more_url="https://github.com/kopia-webhook-status/kopia-webhook",
    )


@callback
def legacy_migrated(hass: HomeAssistant, entry_id: str, title: str, monitor: str) -> None:
    """An entry of the replaced integration is now a monitor of the add-on."""
    ir.async_delete_issue(hass, DOMAIN, LEGACY_REFUSED_PREFIX + entry_id)
    ir.async_create_issue(
        hass,
        DOMAIN,
        MIGRATED_PREFIX + entry_id,
        is_fixable=False,
        is_persistent=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="migrated",
        translation_placeholders={"title": title, "monitor": monitor},
    )


@callback
def legacy_refused(hass: HomeAssistant, entry_id: str, title: str, why: str) -> None:
    """The add-on would not take an entry of the replaced integration."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        LEGACY_REFUSED_PREFIX + entry_id,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="migration_refused",
        translation_placeholders={"title": title, "error": why},
    )


NO_INTERNAL_URL = "no_internal_url"


@callback
def no_internal_url(hass: HomeAssistant, *, resolved: bool = False) -> None:
    """The engine cannot be told where Home Assistant is: set its local address."""
    if resolved:
        ir.async_delete_issue(hass, DOMAIN, NO_INTERNAL_URL)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        NO_INTERNAL_URL,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=NO_INTERNAL_URL,
    )
