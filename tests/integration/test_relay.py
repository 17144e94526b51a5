"""Reports sent to Home Assistant's own URL reach the add-on as they were sent."""

from __future__ import annotations

from functools import partial
import hashlib
import hmac
import json
import logging

import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.kopia_webhook.const import DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .conftest import (
    FIXTURES,
    Engine,
    assert_no_secret_logged,
    connected,
    eventually,
    in_executor,
    kopia_message,
    registered,
)


async def test_a_kopia_report_reaches_the_add_on_with_its_subject(
    hass: HomeAssistant, engine: Engine, hass_client_no_auth: ClientSessionGenerator
) -> None:
    entry = await connected(hass, engine)
    # Created after the integration connected: registered within moments, not polled.
    monitor = await in_executor(hass, engine.create_monitor, "Laptop")
    webhook_id = monitor["webhook_id"]
    await eventually("registered", lambda: registered(hass, webhook_id))

    headers, body = kopia_message("snapshot-report.txt.default.expected")
    client = await hass_client_no_auth()
    response = await client.post(f"/api/webhook/{webhook_id}", data=body, headers=headers)
    assert response.status == 200, await response.text()
    answer = await response.json()
    events = await in_executor(hass, engine.events, "laptop")
    assert answer == {"ok": True, "events": len(events)}
    assert events[0]["sender"] == "kopia"
    assert events[0]["host"] == "some-host", "the Subject went through"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_signed_report_is_verified_by_the_add_on(
    hass: HomeAssistant, engine: Engine, hass_client_no_auth: ClientSessionGenerator
) -> None:
    entry = await connected(hass, engine)
    secret = "simplebackups-signing-secret"
    monitor = await in_executor(hass, partial(engine.create_monitor, "SB", secret=secret))
    await eventually("registered", lambda: registered(hass, monitor["webhook_id"]))
    body = (FIXTURES / "simplebackups" / "success.json").read_bytes()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    client = await hass_client_no_auth()
    url = f"/api/webhook/{monitor['webhook_id']}"
    good = await client.post(
        url, data=body, headers={"Content-Type": "application/json", "SB-Signature": signature}
    )
    assert good.status == 200, await good.text()
    events = await in_executor(hass, engine.events, "sb")
    assert events[0]["sender"] == "simplebackups"
    forged = await client.post(
        url, data=body, headers={"Content-Type": "application/json", "SB-Signature": "0" * 64}
    )
    assert forged.status == 401, "the add-on's own refusal goes back to the sender"
    assert "signature" in await forged.text()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_pings_and_pushes_keep_their_query_string(
    hass: HomeAssistant, engine: Engine, hass_client_no_auth: ClientSessionGenerator
) -> None:
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "Cron")
    webhook_id = monitor["webhook_id"]
    await eventually("registered", lambda: registered(hass, webhook_id))
    client = await hass_client_no_auth()
    start = await client.get(f"/api/webhook/{webhook_id}?event=start")
    assert (start.status, await start.text()) == (200, "OK")
    down = await client.get(f"/api/webhook/{webhook_id}?status=down&msg=disk%20full")
    assert down.status == 200
    assert await down.json() == {"ok": True}
    events = await in_executor(hass, engine.events, "cron")
    assert [(e["kind"], e["status"]) for e in events] == [("run", "failed"), ("start", "unknown")]
    assert events[0]["error"] == "disk full"
    assert events[0]["duration_ms"] is not None, "paired with its start"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_deleted_monitor_is_no_longer_answered(hass: HomeAssistant, engine: Engine) -> None:
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "Old")
    await eventually("registered", lambda: registered(hass, monitor["webhook_id"]))
    status, _ = await in_executor(hass, engine.api, "DELETE", "/api/monitors/old")
    assert status == 204
    await eventually("unregistered", lambda: not registered(hass, monitor["webhook_id"]))
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reports_are_held_while_the_add_on_is_away(
    hass: HomeAssistant,
    engine: Engine,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.kopia_webhook")
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "Away")
    webhook_id = monitor["webhook_id"]
    await eventually("registered", lambda: registered(hass, webhook_id))

    await in_executor(hass, engine.stop)
    client = await hass_client_no_auth()
    sent_at = dt_util.utcnow()
    held = await client.post(f"/api/webhook/{webhook_id}?event=fail", data=b"disk full")
    assert held.status == 200, "Kopia and friends do not retry: Home Assistant keeps it"
    assert (await held.json())["held"] is True
    assert registered(hass, webhook_id), "still answered while the add-on is away"
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, "addon_unreachable")
    assert issue is not None, "a Repair says reports wait"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["held"] == "1"

    await in_executor(hass, engine.start)
    events = await eventually(
        "the held report handed over",
        lambda: hass.async_add_executor_job(engine.events, "away"),
        seconds=30,
    )
    assert events[0]["status"] == "failed"
    await eventually(
        "the Repair gone", lambda: issues.async_get_issue(DOMAIN, "addon_unreachable") is None
    )
    arrived = dt_util.parse_datetime(events[0]["received_at"])
    assert arrived is not None
    assert abs((arrived - sent_at).total_seconds()) < 2, "the time it reached Home Assistant"
    await hass.config_entries.async_unload(entry.entry_id)
    assert_no_secret_logged(caplog, webhook_id, entry.data["key"])


async def test_a_large_report_arrives_whole(
    hass: HomeAssistant, engine: Engine, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """A body in many network chunks (what matters last) reaches the add-on in full."""
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "Big")
    await eventually("registered", lambda: registered(hass, monitor["webhook_id"]))
    body = json.dumps(
        {"log": "x" * 600_000, "source": "db", "status": "failed", "error": "at the very end"}
    ).encode()
    client = await hass_client_no_auth()
    answer = await client.post(
        f"/api/webhook/{monitor['webhook_id']}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 200, await answer.text()
    events = await in_executor(hass, engine.events, "big")
    assert events[0]["status"] == "failed", events[0]
    assert events[0]["error"] == "at the very end"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_new_url_moves_the_registration(hass: HomeAssistant, engine: Engine) -> None:
    """ "New URL" in the panel: the old ID stops answering and the new one answers."""
    entry = await connected(hass, engine)
    monitor = await in_executor(hass, engine.create_monitor, "Rotated")
    old_id = monitor["webhook_id"]
    await eventually("registered", lambda: registered(hass, old_id))
    await in_executor(hass, engine.post_form, "/monitors/rotated/rotate")
    _, rotated = await in_executor(hass, engine.api, "GET", "/api/monitors/rotated")
    new_id = rotated["webhook_id"]
    assert new_id != old_id
    await eventually("the new ID registered", lambda: registered(hass, new_id))
    assert not registered(hass, old_id), "the old URL stops at once"
    await hass.config_entries.async_unload(entry.entry_id)
