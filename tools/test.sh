#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine it first installs what the tests
# need (Debian's Chromium and ChromeDriver, for the browser test), then runs every test.
# Extra arguments go to `cargo test` (e.g. `tools/test.sh --test api`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CHROMEDRIVER:-}" ] && { ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; }; then
  echo "tools/test.sh: installing Chromium and ChromeDriver for the browser test (apt-get)" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

exec cargo test --locked "$@"
