"""Reports held in Home Assistant's storage while the add-on cannot take them.

A backup tool rarely retries: a report that reached Home Assistant while the add-on was
restarting (or before it was installed) is written here, answered as received, and handed
to the add-on with the time it arrived once the add-on answers again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import EngineClient, EngineError, EngineUnreachable, RelayedRequest, WrongKey
from .const import DOMAIN, HELD_MAX_AGE_DAYS, HELD_MAX_BYTES, HELD_MAX_REPORTS, LOGGER

STORAGE_VERSION = 1


class HeldFull(Exception):
    """No room for another report: the sender is told to try again."""


class HeldReports:
    """Reports waiting for the add-on, in the order they arrived."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Initialize the queue; `async_load` reads what an earlier run left."""
        self._store: Store[dict[str, list[dict[str, object]]]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.held_reports", private=True
        )
        self._reports: list[RelayedRequest] = []
        self._lock = asyncio.Lock()

    async def async_load(self) -> None:
        """Reads the reports held before Home Assistant restarted."""
        data = await self._store.async_load()
        if data:
            self._reports = [RelayedRequest.from_dict(r) for r in data.get("reports", [])]
        if self._reports:
            LOGGER.info("%d reports wait for the Kopia Webhook Status add-on", len(self._reports))

    def __len__(self) -> int:
        """How many reports wait."""
        return len(self._reports)

    def webhook_ids(self) -> set[str]:
        """The webhook IDs reports wait for (they stay registered meanwhile)."""
        return {report.webhook_id for report in self._reports}

    async def async_add(self, report: RelayedRequest) -> None:
        """Keeps a report; returns once it is on disk."""
        async with self._lock:
            size = sum(len(r.body) for r in self._reports)
            if len(self._reports) >= HELD_MAX_REPORTS or size + len(report.body) > HELD_MAX_BYTES:
                raise HeldFull
            report.received = dt_util.utcnow().isoformat()
            self._reports.append(report)
            await self._save()

    async def async_deliver(self, client: EngineClient) -> None:
        """Hands the held reports to the add-on, oldest first, until it stops answering."""
        async with self._lock:
            if not self._reports:
                return
            self._drop_stale()
            delivered = 0
            while self._reports:
                report = self._reports[0]
                try:
                    answer = await client.relay(report)
                except EngineUnreachable, WrongKey:
                    break
                except EngineError as err:
                    LOGGER.warning("A held report could not be handed over: %s", err)
                    break
                if answer.status >= 500:
                    break
                if answer.status >= 300:
                    LOGGER.warning(
                        "The add-on refused a held report for webhook %s… (%d): %s",
                        report.webhook_id[:4],
                        answer.status,
                        answer.body[:200].decode(errors="replace").strip(),
                    )
                self._reports.pop(0)
                delivered += 1
            if delivered:
                LOGGER.info("Handed %d held reports to the add-on", delivered)
                await self._save()

    def _drop_stale(self) -> None:
        cutoff = dt_util.utcnow() - timedelta(days=HELD_MAX_AGE_DAYS)
        kept = [
            r
            for r in self._reports
            if (at := dt_util.parse_datetime(r.received or "")) is None or at >= cutoff
        ]
        if len(kept) != len(self._reports):
            LOGGER.warning(
                "Dropped %d reports held longer than %d days: the add-on never came back",
                len(self._reports) - len(kept),
                HELD_MAX_AGE_DAYS,
            )
            self._reports = kept

    async def _save(self) -> None:
        await self._store.async_save({"reports": [r.as_dict() for r in self._reports]})
