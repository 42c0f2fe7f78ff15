#!/bin/sh
# Validates the bundled registry and every corpus registry against
# schema/registry.schema.json with ajv (npm).  YAML is turned into JSON by
# `tycho registry dump-json`, the loader the registry itself uses.  Skips (77)
# only when npm is absent; the corpus part is skipped when
# TYCHO_CONFORMANCE_CORPUS is unset, except under CI=true where that fails.
set -eu
: "${TYCHO_BIN:?}" "${TY_SOURCE_DIR:?}" "${TY_NPM_CACHE:?}"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "SKIP: npm/node not installed"
    exit 77
fi
ajv_dir="$TY_NPM_CACHE/ajv"
if [ ! -f "$ajv_dir/node_modules/ajv/package.json" ]; then
    mkdir -p "$ajv_dir"
    npm install --prefix "$ajv_dir" ajv@8 --no-audit --no-fund --loglevel=error >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
"$TYCHO_BIN" registry dump-json "$TY_SOURCE_DIR/registry/app-registry.yaml" > "$work/bundled.json"
# Registries of tests/data that the schema must reject.
for c in extends-not-list mixin-item-not-name app-not-mapping apps-not-mapping \
         context-not-mapping contexts-missing repository-without-url spec-not-string \
         settings-not-mapping repositories-not-mapping root-not-mapping; do
    "$TYCHO_BIN" registry dump-json "$TY_SOURCE_DIR/tests/data/registry/invalid/$c/app-registry.yaml" \
        > "$work/invalid__$c.json"
done
corpus="${TYCHO_CONFORMANCE_CORPUS:-}"
if [ -n "$corpus" ] && [ -d "$corpus/helx-apps" ]; then
    n=0
    for f in "$corpus"/helx-apps/*/app-registry.yaml "$corpus"/tycho/tycho/conf/app-registry.yaml; do
        [ -f "$f" ] || continue
        label=$(echo "${f#"$corpus"/}" | sed 's#/#__#g')
        "$TYCHO_BIN" registry dump-json "$f" > "$work/$label.json"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { echo "FAIL: no registries under $corpus"; exit 1; }
elif [ "${CI:-}" = "true" ]; then
    echo "FAIL: TYCHO_CONFORMANCE_CORPUS is not set; CI validates the corpus registries too"
    exit 1
else
    echo "note: TYCHO_CONFORMANCE_CORPUS not set; validating the bundled registry only"
fi
AJV_MODULE="$ajv_dir/node_modules/ajv" node "$TY_SOURCE_DIR/tests/registry/validate_schema.js" \
    "$TY_SOURCE_DIR/schema/registry.schema.json" "$work"
