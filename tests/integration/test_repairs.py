"""Repairs follow the monitors' problems; diagnostics keep the secrets out."""

from __future__ import annotations

import json
import urllib.request

from custom_components.kopia_webhook.const import DOMAIN
from custom_components.kopia_webhook.diagnostics import async_get_config_entry_diagnostics
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .conftest import Engine, connected, eventually, in_executor


def report(url: str, status: str, error: str = "") -> None:
    """A generic JSON report to the monitor's LAN URL, as a script sends it."""
    body = json.dumps({"status": status, "source": "db", "error": error}).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


async def test_a_failed_backup_raises_a_repair_until_it_recovers(
    hass: HomeAssistant, engine: Engine
) -> None:
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "NAS")
    issues = ir.async_get(hass)
    await in_executor(hass, report, monitor["webhook_url"], "failed", "repository full")
    issue = await eventually(
        "a Repair", lambda: issues.async_get_issue(DOMAIN, "monitor_problem_nas")
    )
    assert issue.translation_key == "monitor_failed"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == "NAS"
    assert "repository full" in issue.translation_placeholders["reason"]

    await in_executor(hass, report, monitor["webhook_url"], "success")
    await eventually(
        "the Repair gone", lambda: issues.async_get_issue(DOMAIN, "monitor_problem_nas") is None
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_repairs_can_be_turned_off(hass: HomeAssistant, engine: Engine) -> None:
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "NAS")
    hass.config_entries.async_update_entry(entry, options={"repairs": False})
    await hass.async_block_till_done()
    await eventually("reloaded", lambda: entry.runtime_data.link.connected)
    await in_executor(hass, report, monitor["webhook_url"], "failed", "repository full")
    status, seen = await in_executor(hass, engine.api, "GET", "/api/monitors/nas")
    assert status == 200
    assert seen["status"] == "failed"
    # The link has listed the failed monitor by now: it answers at once on a change.
    await eventually(
        "the failure listed",
        lambda: any(m["status"] == "failed" for m in entry.runtime_data.link.monitors),
    )
    assert ir.async_get(hass).async_get_issue(DOMAIN, "monitor_problem_nas") is None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics_hold_no_key_and_no_webhook_id(
    hass: HomeAssistant, engine: Engine
) -> None:
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "NAS")
    await in_executor(hass, report, monitor["webhook_url"], "success")
    await eventually(
        "the run listed",
        lambda: any(m["status"] == "success" for m in entry.runtime_data.link.monitors),
    )
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    assert entry.data["key"] not in text
    assert monitor["webhook_id"] not in text
    assert diagnostics["connection"]["connected"] is True
    (listed,) = diagnostics["monitors"]
    assert listed["name"] == "NAS"
    assert listed["webhook_id"] == "**REDACTED**"
    assert listed["sources"][0]["source"] == "db", "recent runs are in"
    await hass.config_entries.async_unload(entry.entry_id)
