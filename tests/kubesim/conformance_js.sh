#!/bin/sh
# conformance_js.sh - installs the official JavaScript client,
# @kubernetes/client-node, into "$TY_NPM_CACHE/k8sclient" (once; reused when
# present; the marker file is written only after a complete install) and runs
# conformance_js.mjs with it against `tycho kube-sim`.
set -eu
cache="${TY_NPM_CACHE:?TY_NPM_CACHE is not set}/k8sclient"
version=1.4.0
if [ ! -f "$cache/installed-$version" ]; then
    rm -rf "$cache"
    mkdir -p "$cache"
    (cd "$cache" && npm init -y >/dev/null &&
        npm install --no-audit --no-fund --silent "@kubernetes/client-node@$version" >/dev/null)
    touch "$cache/installed-$version"
fi
K8S_CLIENT_DIR="$cache" exec node "$(dirname "$0")/conformance_js.mjs"
