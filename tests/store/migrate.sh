#!/bin/sh
# `tycho migrate`: a fresh file goes from 0 to the latest version, a second run
# changes nothing, a database from a newer tycho is refused (exit 1, message
# names both versions), and usage errors exit 2.
set -eu
: "${TYCHO_BIN:?}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$TYCHO_BIN" migrate --db "$dir/t.db")
case "$out" in
"from 0 to "[1-9]*) ;;
*) fail "fresh migrate printed '$out'" ;;
esac
latest=${out##* }
out=$("$TYCHO_BIN" migrate --db="$dir/t.db")
[ "$out" = "from $latest to $latest" ] || fail "second migrate printed '$out'"

# Make the file look as if a newer tycho wrote it.
python3 - "$dir/t.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA user_version = 999")
c.close()
PY
set +e
"$TYCHO_BIN" migrate --db "$dir/t.db" >"$dir/out" 2>"$dir/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "newer database: exit $rc"
grep -q "schema version 999" "$dir/err" || fail "newer database: $(cat "$dir/err")"
grep -q "newer tycho" "$dir/err" || fail "newer database: $(cat "$dir/err")"
[ ! -s "$dir/out" ] || fail "newer database printed to stdout"

set +e
"$TYCHO_BIN" migrate >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "missing --db: exit $rc"
"$TYCHO_BIN" migrate --help | grep -q "tycho migrate --db FILE" || fail "--help"
echo "ok"
