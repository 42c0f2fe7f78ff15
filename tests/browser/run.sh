#!/bin/sh
# Browser test of the web UI: starts `tycho api` (simulated cluster, bundled
# registry) on a loopback port with tokens for alice, bob and an admin, and a
# second one in trusted-proxy mode, then runs ui_test.mjs in headless Chromium
# through playwright-core.  Screenshots
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
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    if [ "${keep:-0}" = 1 ]; then echo "server logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# start_server NAME CONFIG: runs `tycho api` on a free loopback port with the
# database $tmp/NAME.db and the config text CONFIG; sets $url.
start_server() {
    printf '%s\n' "$2" >"$tmp/$1.yaml"
    "$TYCHO_BIN" api --listen 127.0.0.1:0 --port-file "$tmp/$1.port" --db "$tmp/$1.db" \
        --config "$tmp/$1.yaml" --registry "$TY_SOURCE_DIR/registry" >"$tmp/$1.log" 2>&1 &
    pid=$!
    pids="$pids $pid"
    i=0
    while [ ! -s "$tmp/$1.port" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
            cat "$tmp/$1.log"
            echo "browser.ui: the $1 server did not start"
            exit 1
        fi
        sleep 0.05
    done
    url="http://127.0.0.1:$(cat "$tmp/$1.port")"
}

ALICE=$("$TYCHO_BIN" token create --db "$tmp/main.db" --role user --user alice)
BOB=$("$TYCHO_BIN" token create --db "$tmp/main.db" --role user --user bob)
ADMIN=$("$TYCHO_BIN" token create --db "$tmp/main.db" --role admin --name browser-test)
# Sessions are warned as soon as they are idle (and culled only after 10 min),
# so "My sessions" shows the culler's notice.
start_server main "culling:
  idle_timeout: 10m
  warning: 10m
  interval: 500ms"
TYCHO_URL=$url

# A second server behind a (pretend) trusted proxy that names the user in
# X-Remote-User.  It has a token, so the loopback no-token mode is off: a
# browser without the header must sign in.
"$TYCHO_BIN" token create --db "$tmp/proxy.db" --role admin --name unused >/dev/null
start_server proxy "auth:
  proxy_user_header: X-Remote-User
  trusted_proxies: 127.0.0.1"
PROXY_URL=$url

export TYCHO_URL PROXY_URL
export ALICE BOB ADMIN CHROMIUM
export SHOTS="$TY_BUILD_DIR/screenshots"
mkdir -p "$SHOTS"
if ! PW_DIR="$pw" node "$here/ui_test.mjs"; then
    keep=1
    tail -40 "$tmp/main.log" "$tmp/proxy.log"
    exit 1
fi
