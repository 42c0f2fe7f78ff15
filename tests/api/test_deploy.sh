#!/bin/sh
# test_deploy.sh - deploy/tycho.yaml: schema-checked with kubernetes-models
# (installed once into $TY_NPM_CACHE/kmodels, the same folder the compose
# tests use), plus RBAC/selector rules (validate_deploy.mjs); then the
# ConfigMap's tycho.yaml is loaded by the real server (only the cluster,
# address and paths overridden) to prove every key in it is valid.
set -eu
cache="${TY_NPM_CACHE:?TY_NPM_CACHE is not set}/kmodels"
install() {
    if [ ! -f "$cache/node_modules/kubernetes-models/package.json" ] ||
       [ ! -f "$cache/node_modules/js-yaml/package.json" ]; then
        mkdir -p "$cache"
        (cd "$cache" && { [ -f package.json ] || npm init -y >/dev/null; } &&
            npm install --no-audit --no-fund --silent kubernetes-models@4.5.1 js-yaml@4 >/dev/null)
    fi
}
# Other tests share the folder (ctest -j): install under a lock when flock exists.
mkdir -p "$TY_NPM_CACHE"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$TY_NPM_CACHE/kmodels.lock"
    flock 9
    install
    flock -u 9
else
    install
fi
tmp=$(mktemp -d)
trap 'if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
pid=
K8S_MODELS_DIR="$cache" node "$TY_SOURCE_DIR/tests/api/validate_deploy.mjs" \
    "$TY_SOURCE_DIR/deploy/tycho.yaml" > "$tmp/out"
cat "$tmp/out"
grep '^CONFIG ' "$tmp/out" | sed 's/^CONFIG //' |
    python3 -c 'import json,sys; sys.stdout.write(json.loads(sys.stdin.read()))' > "$tmp/tycho.yaml"
"$TYCHO_BIN" api --config "$tmp/tycho.yaml" --cluster sim --listen 127.0.0.1:0 \
    --db "$tmp/t.db" --registry "$TY_SOURCE_DIR/registry" --port-file "$tmp/port" \
    --set auth.bootstrap_admin_token=tyt_0123456789abcdef0123456789abcdef > "$tmp/stdout" 2> "$tmp/log" &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$tmp/port" ]; then cat "$tmp/log"; echo "FAIL: server did not start with the ConfigMap's config"; exit 1; fi
port=$(cat "$tmp/port")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/apps")
[ "$code" = 401 ] || { echo "FAIL: anonymous /v1/apps gave $code, want 401"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer tyt_0123456789abcdef0123456789abcdef" \
    "http://127.0.0.1:$port/v1/apps")
[ "$code" = 200 ] || { echo "FAIL: bootstrap token gave $code, want 200"; exit 1; }
kill $pid; wait $pid || true
pid=
echo ok
