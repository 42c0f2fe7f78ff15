#!/bin/sh
# Browser test of the web UI: starts `tycho api` (simulated cluster, the
# bundled registry plus an app whose image cannot be pulled) on a loopback
# port with tokens for alice, bob and an admin, a second one in trusted-proxy
# mode and a third with no tokens (the anonymous loopback mode), then runs
# ui_test.mjs in headless Chromium through playwright-core, with axe-core
# checking every view.  Screenshots go to $TY_BUILD_DIR/screenshots.  Exit 77
# (skipped) only when Chromium or npm is missing.
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
    if [ ! -d "$pw/node_modules/playwright-core" ] || [ ! -d "$pw/node_modules/axe-core" ]; then
        npm install --prefix "$pw" playwright-core@1 axe-core@4 --no-audit --no-fund \
            --loglevel=error
    fi
) 9>"$pw/.lock"

tmp=$(mktemp -d /tmp/ty-browser-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    if [ "${keep:-0}" = 1 ]; then echo "server logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# The bundled registry, plus a context "browser" that adds an app whose image
# the simulated cluster cannot pull (it fails the launch).
cp -R "$TY_SOURCE_DIR/registry" "$tmp/registry"
mkdir -p "$tmp/registry/app-specs/broken"
cat >"$tmp/registry/app-specs/broken/docker-compose.yaml" <<'EOF'
version: "3"
services:
  broken:
    image: "{{ third_party_registry }}/library/invalid-image:1"
    ports:
      - "8080:8080"
    deploy:
      resources:
        limits:
          cpus: "1"
          memory: 1Gi
        reservations:
          cpus: "0.25"
          memory: 256Mi
EOF
cat >>"$tmp/registry/app-registry.yaml" <<'EOF'
  browser:
    name: Browser test
    extends:
      - default
    apps:
      broken:
        name: Broken
        description: An app whose image cannot be pulled.
        docs: https://example.org/broken
        spec: $bundled/broken/docker-compose.yaml
        services:
          broken: "8080"
        count: -1
EOF

# start_server NAME CONFIG: runs `tycho api` on a free loopback port with the
# database $tmp/NAME.db and the config text CONFIG; sets $url.
start_server() {
    printf '%s\n' "$2" >"$tmp/$1.yaml"
    "$TYCHO_BIN" api --listen 127.0.0.1:0 --port-file "$tmp/$1.port" --db "$tmp/$1.db" \
        --config "$tmp/$1.yaml" --registry "$tmp/registry" --context browser \
        >"$tmp/$1.log" 2>&1 &
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
# so "My sessions" shows the culler's notice; a launch that cannot start fails
# after 8 s.
start_server main "culling:
  idle_timeout: 10m
  warning: 10m
  interval: 500ms
sessions:
  start_deadline: 8s"
TYCHO_URL=$url

# A second server behind a (pretend) trusted proxy that names the user in
# X-Remote-User.  It has a token, so the loopback no-token mode is off: a
# browser without the header must sign in.
"$TYCHO_BIN" token create --db "$tmp/proxy.db" --role admin --name unused >/dev/null
start_server proxy "auth:
  proxy_user_header: X-Remote-User
  trusted_proxies: 127.0.0.1"
PROXY_URL=$url

# A third with no tokens at all: loopback callers are anonymous admins.
start_server anon ""
ANON_URL=$url

export TYCHO_URL PROXY_URL ANON_URL
export ALICE BOB ADMIN CHROMIUM
export SHOTS="$TY_BUILD_DIR/screenshots"
mkdir -p "$SHOTS"
if ! PW_DIR="$pw" node "$here/ui_test.mjs"; then
    keep=1
    tail -n 40 "$tmp/main.log" "$tmp/proxy.log" "$tmp/anon.log"
    exit 1
fi
