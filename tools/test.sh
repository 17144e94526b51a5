#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine it first installs what the tests
# need (Debian's Chromium and ChromeDriver for the browser test, Mosquitto for the MQTT
# tests, borg for borgmatic; from PyPI the apprise and borgmatic clients), then runs every
# test.
# Extra arguments go to `cargo test` (e.g. `tools/test.sh --test api`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
if [ -z "${CHROMEDRIVER:-}" ] && { ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; }; then
  missing="chromium chromium-driver"
fi
# The MQTT tests start Debian's broker themselves.
[ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
# borgmatic drives Debian's borg in the notification-client tests; curl sends Gotify's
# documented `curl -F` example.
command -v borg >/dev/null 2>&1 || missing="$missing borgbackup"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
  echo "tools/test.sh: installing$missing (apt-get)" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq $missing >/dev/null
fi

# The real notification clients (tests/api/clients.rs).
if ! command -v apprise >/dev/null 2>&1 || ! command -v borgmatic >/dev/null 2>&1; then
  echo "tools/test.sh: installing apprise and borgmatic (pip)" >&2
  python3 -m pip install --quiet apprise borgmatic
  # pyenv's shims for the new commands.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  hash -r
fi

exec cargo test --locked "$@"
