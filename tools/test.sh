#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine it first installs what the tests
# need (Debian's Chromium and ChromeDriver for the browser test, Mosquitto for the MQTT
# tests), then runs every test.
# Extra arguments go to `cargo test` (e.g. `tools/test.sh --test api`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
if [ -z "${CHROMEDRIVER:-}" ] && { ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; }; then
  missing="chromium chromium-driver"
fi
# The MQTT tests start Debian's broker themselves.
[ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
if [ -n "$missing" ]; then
  echo "tools/test.sh: installing$missing (apt-get)" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq $missing >/dev/null
fi

exec cargo test --locked "$@"
