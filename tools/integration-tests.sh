#!/usr/bin/env bash
# The companion integration's tests (tests/integration/) under pytest with Home Assistant's
# own test plugin, pytest-homeassistant-custom-component. Home Assistant 2026 needs Python
# 3.14, which Debian 12 does not have: the tests run in a venv inside the realha chroot
# (tools/realha builds it; the first run here adds the venv, about two minutes). Its newest
# release pins Home Assistant 2026.10.4; the real Core 2026.11 suites (real_core_integration)
# cover the rest. First mypy --strict on the integration. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
DIR="${REALHA_DIR:-/tmp/realha}"
ROOT="${REALHA_CHROOT_DIR:-$DIR/forky}"
PHCC="${KOPIA_PHCC_VERSION:-0.13.375}"
VENV="$DIR/pytest-$PHCC"
RUN="$DIR/pytest-run"

if [ ! -x "$ROOT/usr/bin/python3.14" ]; then
  echo "tools/integration-tests.sh: building the realha chroot first" >&2
  tools/realha/start.sh >/dev/null
  tools/realha/stop.sh >/dev/null
fi

# As tools/realha/start.sh does: a private mount namespace, $DIR at the same path inside.
# shellcheck disable=SC2016
CHROOT_SH='set -e
root=$1; dir=$2; shift 2
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --bind "$dir" "$root$dir"
exec chroot "$root" "$@"'
env_in=(PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1)
if [ -s "$ROOT/etc/realha/host-ca.crt" ]; then
  env_in+=(SSL_CERT_FILE=/etc/realha/host-ca.crt PIP_CERT=/etc/realha/host-ca.crt)
fi
for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL UV_INDEX_URL UV_DEFAULT_INDEX http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && env_in+=("$v=${!v}")
done
[ -n "${PIP_INDEX_URL:-}" ] && [ -z "${UV_INDEX_URL:-}" ] && env_in+=("UV_INDEX_URL=$PIP_INDEX_URL")
in_chroot() {
  unshare --mount --propagation private -- sh -c "$CHROOT_SH" kopia-pytest "$ROOT" "$DIR" \
    /usr/bin/env -i "${env_in[@]}" "$@"
}

if [ ! -x "$VENV/bin/pytest" ]; then
  echo "tools/integration-tests.sh: installing pytest-homeassistant-custom-component $PHCC" >&2
  rm -rf "$VENV"
  in_chroot python3.14 -m venv "$VENV"
  in_chroot "$VENV/bin/pip" install --quiet uv
  in_chroot "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" \
    "pytest-homeassistant-custom-component==$PHCC"
fi
[ -x "$VENV/bin/mypy" ] || in_chroot "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" mypy
# The sidebar panel's test sets up Home Assistant's frontend: the release its manifest pins.
if ! in_chroot "$VENV/bin/python" -c 'import hass_frontend' 2>/dev/null; then
  frontend=$(in_chroot "$VENV/bin/python" -c 'import json, homeassistant.components.frontend as f, pathlib; print(json.loads((pathlib.Path(f.__file__).parent / "manifest.json").read_text())["requirements"][0])')
  in_chroot "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" "$frontend"
fi

# The tests run the real engine (this repository's binary) beside Home Assistant.
cargo build --locked --quiet
# The chroot sees only $DIR: the integration, its tests and the engine are copied there.
rm -rf "$RUN"
mkdir -p "$RUN/tests" "$RUN/bin"
touch "$RUN/tests/__init__.py"
cp "${CARGO_TARGET_DIR:-$REPO/target}/debug/kopia-webhook" "$RUN/bin/"
cp -r "$REPO/custom_components" "$RUN/"
cp -r "$REPO/tests/integration" "$REPO/tests/fixtures" "$RUN/tests/"
cp "$REPO/tests/integration/pytest.ini" "$RUN/pytest.ini"
cd "$RUN"
# Typed as Home Assistant's own components: mypy --strict against Home Assistant's types.
in_chroot sh -c 'cd "$1" && exec "$2/bin/mypy" --strict --python-version 3.14 custom_components/kopia_webhook' \
  mypy "$RUN" "$VENV"
# shellcheck disable=SC2016
exec unshare --mount --propagation private -- sh -c "$CHROOT_SH" kopia-pytest "$ROOT" "$DIR" \
  /usr/bin/env -i "${env_in[@]}" KOPIA_ENGINE_BIN="$RUN/bin/kopia-webhook" \
  sh -c 'cd "$0"; venv=$1; shift; [ $# -gt 0 ] || set -- tests/integration; exec "$venv/bin/pytest" "$@"' \
  "$RUN" "$VENV" "$@"
