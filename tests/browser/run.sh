#!/bin/sh
# Browser test of the web UI: starts `tycho api` (simulated cluster, bundled
# registry) on a loopback port with tokens for alice, bob and an admin, then
# runs ui_test.mjs in headless Chromium through playwright-core.  Screenshots
# go to $TY_BUILD_DIR/screenshots.  Exit 77 (skipped) only when Chromium or npm
# is missing.
set -eu
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! command -v npm >/dev/null 2>&1; then
    echo "browser.ui: skipped: needs $CHROMIUM and npm (.ci/install-deps --test installs them)"
    exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
pw="$TY_NPM_CACHE/playwright"
mkdir -p "$pw"
(
    flock 9
    if [ ! -d "$pw/node_modules/playwright-core" ]; then
        npm install --prefix "$pw" playwright-core@1 --no-audit --no-fund --loglevel=error
    fi
) 9>"$pw/.lock"

tmp=$(mktemp -d /tmp/ty-browser-XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    if [ "${keep:-0}" = 1 ]; then echo "server log kept in $tmp/server.log"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

db="$tmp/tycho.db"
ALICE=$("$TYCHO_BIN" token create --db "$db" --role user --user alice)
BOB=$("$TYCHO_BIN" token create --db "$db" --role user --user bob)
ADMIN=$("$TYCHO_BIN" token create --db "$db" --role admin --name browser-test)
# Sessions are warned as soon as they are idle (and culled only after 10 min),
# so "My sessions" shows the culler's notice.
cat >"$tmp/tycho.yaml" <<'EOF'
culling:
  idle_timeout: 10m
  warning: 10m
  interval: 500ms
EOF
"$TYCHO_BIN" api --listen 127.0.0.1:0 --port-file "$tmp/port" --db "$db" \
    --config "$tmp/tycho.yaml" --registry "$TY_SOURCE_DIR/registry" >"$tmp/server.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
        cat "$tmp/server.log"
        echo "browser.ui: the server did not start"
        exit 1
    fi
    sleep 0.05
done
export TYCHO_URL="http://127.0.0.1:$(cat "$tmp/port")"
export ALICE BOB ADMIN CHROMIUM
export SHOTS="$TY_BUILD_DIR/screenshots"
mkdir -p "$SHOTS"
if ! PW_DIR="$pw" node "$here/ui_test.mjs"; then
    keep=1
    tail -40 "$tmp/server.log"
    exit 1
fi
