#!/bin/sh
# cli.sh - `tycho compile` end to end: usage errors, positioned spec errors,
# the .env beside the spec, env_file, determinism with --id, yaml and json output.
set -u
T="${TYCHO_BIN:?}"
D="${TY_SOURCE_DIR:?}/tests/data/compose"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME COND...
    name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}

"$T" compile --help >/dev/null 2>&1
check "help exits 0" [ $? -eq 0 ]
"$T" compile -f "$D/cli-basic/docker-compose.yaml" >/dev/null 2>&1
check "missing --username is a usage error" [ $? -eq 2 ]

"$T" compile -f "$D/cli-bad/docker-compose.yaml" --username alice >"$tmp/out" 2>"$tmp/err"
rc=$?
check "bad port fails" [ $rc -eq 1 ]
check "bad port error has file:line:col" \
    grep -q "cli-bad/docker-compose.yaml:5:9: invalid port '80:http'" "$tmp/err"
check "nothing on stdout on failure" [ ! -s "$tmp/out" ]

set -- -f "$D/cli-basic/docker-compose.yaml" --username alice@example.org \
    --settings "$D/cli-basic/settings.json"
"$T" compile "$@" --id 0123456789abcdef0123456789abcdef >"$tmp/a.yaml" 2>"$tmp/err"
check "compile succeeds" [ $? -eq 0 ]
"$T" compile "$@" --id 0123456789abcdef0123456789abcdef >"$tmp/b.yaml" 2>/dev/null
check "deterministic with --id" cmp -s "$tmp/a.yaml" "$tmp/b.yaml"
"$T" compile "$@" >"$tmp/c.yaml" 2>/dev/null
check "a new id without --id" sh -c "! cmp -s '$tmp/a.yaml' '$tmp/c.yaml'"
check "is a List" grep -q '^kind: List$' "$tmp/a.yaml"
check ".env beside the spec and {{ }}" \
    grep -q 'image: containers.renci.org/demo/app:1.2' "$tmp/a.yaml"
check "env_file read" grep -q 'name: FROM_FILE' "$tmp/a.yaml"
check "username slug label" grep -q 'username: alice-example-org---7a64adf2' "$tmp/a.yaml"
check "raw username annotation" grep -q 'tycho.renci.org/username: alice@example.org' "$tmp/a.yaml"

"$T" compile "$@" --id 0123456789abcdef0123456789abcdef -o json >"$tmp/a.json" 2>/dev/null
check "json output parses" python3 -c "
import json, sys
d = json.load(open('$tmp/a.json'))
kinds = [i['kind'] for i in d['items']]
assert d['kind'] == 'List' and kinds == ['Deployment', 'Service', 'NetworkPolicy'], kinds
c = d['items'][0]['spec']['template']['spec']['containers'][0]
assert c['args'] == ['--port', '8080'], c['args']
"
printf 'PORT=9999\n' >"$tmp/other.env"
"$T" compile "$@" --env-file "$tmp/other.env" --id 0123456789abcdef0123456789abcdef \
    >"$tmp/d.yaml" 2>/dev/null
check "--env-file replaces .env" grep -q 'containerPort: 9999' "$tmp/d.yaml"
exit $fail
