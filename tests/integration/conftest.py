"""Fixtures: the real engine (this repository's binary) beside Home Assistant's test instance.

`tools/integration-tests.sh` copies the binary next to these tests and names it in
KOPIA_ENGINE_BIN; each test gets an engine of its own on free ports, with its own data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
import contextlib
import inspect
import json
import os
from pathlib import Path
import socket
import subprocess
import time
from typing import Any
import urllib.error
import urllib.request

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kopia_webhook.const import CONF_KEY, CONF_URL, DOMAIN, ENGINE_UNIQUE_ID
from homeassistant.components import webhook
from homeassistant.core import HomeAssistant

ENGINE_BIN = os.environ.get("KOPIA_ENGINE_BIN", "")
FIXTURES = Path(__file__).parent.parent / "fixtures"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Engine:
    """The add-on's engine as a process: its webhook port and its panel's API."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.webhook_port = _free_port()
        self.ui_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "engine.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    def start(self) -> None:
        assert ENGINE_BIN, "KOPIA_ENGINE_BIN names the engine (tools/integration-tests.sh)"
        env = {
            "KOPIA_WEBHOOK_DATA_DIR": str(self.data_dir),
            "KOPIA_WEBHOOK_LISTEN": f"127.0.0.1:{self.webhook_port}",
            "KOPIA_WEBHOOK_UI_LISTEN": f"127.0.0.1:{self.ui_port}",
            "NO_COLOR": "1",
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([ENGINE_BIN], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1),
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"the engine did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The panel's JSON API (as the panel calls it, from the same origin)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ui_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read()
            return err.code, json.loads(text) if text else None

    def post_form(self, path: str) -> None:
        """A button of the panel (a form's POST, its redirect followed)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ui_port}{path}", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, "the panel after its redirect"

    def rotate_key(self) -> str:
        """Makes a new integration key, as the panel's button does; the new key."""
        self.post_form("/integration-key/rotate")
        return self.key()

    def key(self) -> str:
        _, status = self.api("GET", "/api/status")
        return str(status["integration_key"])

    def create_monitor(self, name: str, **fields: Any) -> dict[str, Any]:
        status, monitor = self.api("POST", "/api/monitors", {"name": name, **fields})
        assert status == 201, monitor
        return dict(monitor)

    def events(self, key: str) -> list[dict[str, Any]]:
        status, events = self.api("GET", f"/api/monitors/{key}/events")
        assert status == 200, events
        return list(events)


def kopia_message(fixture: str) -> tuple[dict[str, str], bytes]:
    """A Kopia notification as Kopia sends it: its Subject line as a header, then the body."""
    rendered = (FIXTURES / "kopia" / fixture).read_text()
    head, body = rendered.split("\n\n", 1)
    headers = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    return headers, body.rstrip("\n").encode()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Home Assistant loads custom_components/kopia_webhook in every test."""


async def connected(hass: HomeAssistant, engine: Engine) -> MockConfigEntry:
    """The add-on's entry, set up and following the engine."""
    key = await in_executor(hass, engine.key)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Kopia Webhook Status",
        data={CONF_URL: engine.url, CONF_KEY: key},
        unique_id=ENGINE_UNIQUE_ID,
        version=3,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await eventually("connected", lambda: entry.runtime_data.link.connected)
    return entry


def registered(hass: HomeAssistant, webhook_id: str) -> bool:
    """Whether Home Assistant answers for this webhook ID, and for this integration."""
    handler = hass.data.get(webhook.DOMAIN, {}).get(webhook_id)
    return handler is not None and handler.domain == DOMAIN


@pytest.fixture
def engine(tmp_path: Path, socket_enabled: None) -> Generator[Engine]:
    """A running engine on 127.0.0.1 (Home Assistant's test plugin blocks other sockets)."""
    running = Engine(tmp_path)
    running.start()
    yield running
    running.stop()


async def eventually(what: str, check: Any, seconds: float = 15) -> Any:
    """Waits until `check()` (or what it returns, awaited) is truthy, Home Assistant running
    meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def in_executor(hass: HomeAssistant, call: Any, *args: Any) -> Any:
    """A blocking call (the engine's API) off Home Assistant's event loop."""
    return await hass.async_add_executor_job(call, *args)


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """None of `secrets` (webhook IDs, the key) in what this integration logged."""
    ours = [r for r in caplog.records if r.name.startswith("custom_components.kopia_webhook")]
    assert ours, "the integration logged something"
    for record in ours:
        message = record.getMessage()
        for secret in secrets:
            assert secret not in message, f"{secret[:4]}… logged: {message}"
