#!/usr/bin/env bash
# Replays kopia_webhook/Dockerfile natively (no Docker engine here): checks that every COPY
# source exists in the build context (the repository root), runs the build stage's cargo
# command, lays the runtime files out as the image would, starts the binary with the
# image's CMD and environment, runs the HEALTHCHECK command and the backup_pre command from
# config.yaml, and checks the image name CI publishes.
set -euo pipefail
cd "$(dirname "$0")/.."
dockerfile=kopia_webhook/Dockerfile
config=kopia_webhook/config.yaml
fail() { echo "replay-dockerfile: $*" >&2; exit 1; }

# 1. The build stage sees only what its COPY lines bring: copy exactly that into an empty
#    directory, so a file the build needs but the Dockerfile forgets fails here too.
stage=$(mktemp -d)
for path in $(awk '/^COPY / && $2 !~ /^--/ { for (i = 2; i < NF; i++) print $i }' "$dockerfile"); do
  [ -e "$path" ] || fail "COPY source '$path' is missing from the build context"
  cp -r "$path" "$stage/"
  echo "context ok: $path"
done

# 2. The build stage's `RUN cargo build … && cp … /kopia-webhook`, in that directory: the
#    cargo command as written (the target directory is shared only to reuse compiled
#    dependencies), then the copy to where the runtime stage takes the binary from.
run_line=$(grep -E '^RUN cargo build' "$dockerfile" -A1 | tr -d '\\\n')
build_cmd=${run_line#RUN }
build_cmd=${build_cmd%%&&*}
[ -n "$build_cmd" ] || fail "no 'RUN cargo build' in the build stage"
repo=$PWD
echo "+ (in the COPY'd context) $build_cmd"
(cd "$stage" && export CARGO_TARGET_DIR="$repo/target" && eval "$build_cmd")
[[ "$run_line" == *"cp target/release/kopia-webhook /kopia-webhook"* ]] || fail "the build stage does not put the binary at /kopia-webhook"
# build.rs packs the relative relocations (0.5 MiB less idle RSS) where the binary's libc
# reads them: always for the image's musl, for glibc from 2.36 (this machine's, here).
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //')
if [ -n "$glibc" ] && [ "$(printf '2.36\n%s\n' "$glibc" | sort -V | head -1)" = 2.36 ]; then
  readelf -d target/release/kopia-webhook | grep -q '(RELR)' || fail "the binary's relative relocations are not packed (build.rs)"
  echo "packed relocations ok (glibc $glibc)"
fi
# .cargo/config.toml leaves SQLite's full-text search and R*Tree out: their SQL functions'
# names are not in the binary.
if grep -aq -e fts5_source_id -e rtreenode target/release/kopia-webhook; then
  fail "SQLite was built with FTS5 or R*Tree: the build did not read .cargo/config.toml"
fi
echo "SQLite options ok (.cargo/config.toml)"

# 3. The runtime layout: the binary where CMD and backup_pre expect it.
root=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$root" "$stage"' EXIT
cmd=$(grep -E '^CMD ' "$dockerfile" | sed -E 's/^CMD \["([^"]+)"\]/\1/')
[ "$cmd" = /usr/bin/kopia-webhook ] || fail "CMD is '$cmd'"
grep -q "COPY --from=build /kopia-webhook $cmd" "$dockerfile" || fail "the runtime stage does not copy the binary to $cmd"
mkdir -p "$root/usr/bin" "$root/data"
cp target/release/kopia-webhook "$root$cmd"
echo '{"log_level":"info","history_limit":10,"retention_days":365,"monitors":[]}' > "$root/data/options.json"

# 4. Start it as the image would (data in /data, webhooks on 8098) and run the HEALTHCHECK.
KOPIA_WEBHOOK_DATA_DIR="$root/data" KOPIA_WEBHOOK_UI_LISTEN=127.0.0.1:0 "$root$cmd" > "$root/log" 2>&1 &
pid=$!
health=$(grep -A1 '^HEALTHCHECK' "$dockerfile" | grep -oE 'http://127\.0\.0\.1:[0-9]+/healthz')
for _ in $(seq 50); do
  if curl -fsS "$health" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "$health" | grep -q '"ok"' || { cat "$root/log"; fail "HEALTHCHECK $health failed"; }
echo "healthcheck ok: $health"

# 5. backup_pre from config.yaml, run beside the live process as `docker exec` would.
backup_pre=$(grep -E '^backup_pre:' "$config" | sed -E 's/^backup_pre: *//')
[ -n "$backup_pre" ] || fail "config.yaml has no backup_pre"
KOPIA_WEBHOOK_DATA_DIR="$root/data" ${backup_pre/\/usr\/bin\/kopia-webhook/$root$cmd} >/dev/null
[ -s "$root/data/kopia_webhook.backup.db" ] || fail "backup_pre wrote no snapshot"
echo "backup_pre ok: $backup_pre"

# 6. The image config.yaml names is the one the builder workflow publishes.
image=$(grep -E '^image:' "$config" | sed -E 's/^image: *//')
name=$(grep -E '^  IMAGE_NAME:' .github/workflows/builder.yaml | sed -E 's/^  IMAGE_NAME: *//')
[ "${image##*/}" = "$name" ] || fail "config.yaml image '$image' is not what the builder publishes ('$name')"
echo "image ok: $image"
echo "replay-dockerfile: all steps passed"
