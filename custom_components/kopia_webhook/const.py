"""Constants of the Kopia Webhook Status integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "kopia_webhook"
LOGGER = logging.getLogger(__package__)

# Entries of this integration: the add-on it relays to (data: url, key), version 3. The
# integration this one replaces made version 2 entries, one per webhook (data: webhook_id,
# history_limit); they are migrated to version 3 with "legacy" set and handed to the add-on.
ENTRY_VERSION: Final = 3
CONF_URL: Final = "url"
CONF_KEY: Final = "key"
CONF_WEBHOOK_ID: Final = "webhook_id"
CONF_HISTORY_LIMIT: Final = "history_limit"
CONF_LEGACY: Final = "legacy"
ENGINE_UNIQUE_ID: Final = "kopia_webhook_engine"
# The system user whose token the engine (without a Supervisor) pushes entities with.
CONF_SYSTEM_USER: Final = "system_user_id"

OPTION_REPAIRS: Final = "repairs"
# Monitors (their keys) that get a Home Assistant Cloud webhook.
OPTION_CLOUDHOOKS: Final = "cloudhooks"

# Headers of the relay: the key (not Authorization: the sender's own goes through), the
# sender's address and, for a report held while the add-on was away, when it arrived.
KEY_HEADER: Final = "X-Kopia-Webhook-Key"
CLIENT_HEADER: Final = "X-Kopia-Webhook-Client"
RECEIVED_HEADER: Final = "X-Kopia-Webhook-Received"
# On the add-on's answer: the relay itself was refused (a wrong key), not the sender.
REFUSED_HEADER: Final = "X-Kopia-Webhook-Refused"

# The add-on refuses bodies over 1 MiB; one byte more tells it so.
MAX_BODY: Final = 1024 * 1024 + 1

# Reports held while the add-on cannot be reached (restarting, not installed yet).
HELD_MAX_REPORTS: Final = 500
HELD_MAX_BYTES: Final = 20 * 1024 * 1024
HELD_MAX_AGE_DAYS: Final = 14

# Monitor statuses the add-on reports that are problems.
PROBLEM_STATUSES: Final = frozenset({"failed", "overdue"})
