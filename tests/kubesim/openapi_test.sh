#!/bin/sh
# openapi_test.sh - src/kubesim/openapi/schemas.json is what generate.mjs makes
# from kubernetes-models 3.1.0: installs it into "$TY_NPM_CACHE/kmodels3" (once;
# reused when present), regenerates into a temporary file and compares.
set -eu
cache="${TY_NPM_CACHE:?TY_NPM_CACHE is not set}/kmodels3"
src="${TY_SOURCE_DIR:?TY_SOURCE_DIR is not set}/src/kubesim/openapi"
if [ ! -f "$cache/node_modules/kubernetes-models/package.json" ]; then
    mkdir -p "$cache"
    (cd "$cache" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund --silent kubernetes-models@3.1.0 >/dev/null)
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
K8S_MODELS_3_DIR="$cache" node "$src/generate.mjs" "$out"
if ! cmp -s "$out" "$src/schemas.json"; then
    echo "FAIL: src/kubesim/openapi/schemas.json differs from what generate.mjs makes:" >&2
    diff "$src/schemas.json" "$out" | head -40 >&2
    exit 1
fi
echo "ok: schemas.json matches kubernetes-models 3.1.0 ($(wc -c < "$out") bytes)"
