#!/bin/sh
# validate.sh - installs kubernetes-models and js-yaml into "$TY_NPM_CACHE/kmodels"
# (once; reused when present) and runs validate_compile.mjs over every launch
# `tycho compile` makes for the corpus and the bundled registry.
set -eu
cache="${TY_NPM_CACHE:?TY_NPM_CACHE is not set}/kmodels"
if [ ! -f "$cache/node_modules/kubernetes-models/package.json" ] ||
   [ ! -f "$cache/node_modules/js-yaml/package.json" ]; then
    mkdir -p "$cache"
    (cd "$cache" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund --silent kubernetes-models@4.5.1 js-yaml@4 >/dev/null)
fi
K8S_MODELS_DIR="$cache" exec node "$(dirname "$0")/validate_compile.mjs"
