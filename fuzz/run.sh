#!/bin/sh
# fuzz/run.sh - runs the fuzz targets (docs/security.md, "Fuzzing").
#
#   fuzz/run.sh replay BIN TARGET
#       Replays TARGET's seeds with BIN (a fuzz_TARGET_replay built by any
#       compiler): the test fuzz.TARGET of every build.
#   fuzz/run.sh ci BUILD [TARGET...]
#       The bounded run of `make test`: each libFuzzer target of BUILD
#       (build-fuzz/) for a fixed number of runs from a fixed seed, at most
#       FUZZ_CI_SECONDS (25) each.  Fails on any finding and prints where the
#       crash input is and how to replay it.
#   fuzz/run.sh fuzz BUILD SECONDS [TARGET...]
#       The open-ended run of `make fuzz`: each target for SECONDS, keeping
#       what it finds in BUILD/fuzz/corpus/TARGET and crashes in
#       BUILD/fuzz/crashes/TARGET.
#   fuzz/run.sh merge BUILD TARGET
#       Adds to fuzz/corpus/TARGET the inputs of BUILD/fuzz/corpus/TARGET that
#       reach new coverage (libFuzzer -merge=1), to commit them as seeds.
#
# Seeds: fuzz/corpus/TARGET (hand-written inputs and every past finding),
# the project's own test data, and the HeLx corpus when
# TYCHO_CONFORMANCE_CORPUS names it (it is read there, never copied).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
all_targets="doc registry compose kube kubesim"

# The runs of the CI run, per target: sized so that all of them take about
# two minutes on two busy cores (docs/security.md has the figures).
ci_runs() {
    case $1 in
    doc) echo 30000 ;;
    registry) echo 6000 ;;
    compose) echo 20000 ;;
    kube) echo 2000 ;;
    kubesim) echo 5000 ;;
    *) echo 1000 ;;
    esac
}

# The seed directories of target $1, one per line (those that exist).
seeds() {
    c=${TYCHO_CONFORMANCE_CORPUS:-}
    {
        echo "$src/fuzz/corpus/$1"
        case $1 in
        doc)
            echo "$src/tests/data"
            echo "$src/registry"
            if [ -n "$c" ]; then echo "$c/helx-apps"; echo "$c/tycho"; fi
            ;;
        registry)
            echo "$src/tests/data/registry"
            if [ -n "$c" ]; then echo "$c/helx-apps"; echo "$c/tycho/tycho/conf"; fi
            ;;
        compose)
            echo "$src/tests/data/compose"
            echo "$src/tests/data/session/app-specs"
            echo "$src/registry/app-specs"
            if [ -n "$c" ]; then echo "$c/helx-apps"; echo "$c/tycho/tycho/sample"; fi
            ;;
        kube)
            if [ -n "$c" ]; then echo "$c/expected/manifests"; fi
            ;;
        esac
    } | while read -r d; do
        if [ -d "$d" ]; then echo "$d"; fi
    done
}

# Options every libFuzzer run of target $1 takes.  The targets that keep a
# server running (kube, kubesim) hold state from one input to the next, which
# libFuzzer's leak check after each input takes for leaks and pays a full
# memory scan for: their leaks are left to the replay tests (fuzz.TARGET under
# ASan, which checks at exit).
fuzz_opts() {
    opts="-timeout=30 -rss_limit_mb=4096 -print_final_stats=1"
    case $1 in
    kube | kubesim | api) opts="$opts -detect_leaks=0" ;;
    esac
    if [ -f "$src/fuzz/$1.dict" ]; then opts="$opts -dict=$src/fuzz/$1.dict"; fi
    echo "$opts"
}

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# Prints "target: runs, seconds, cov, ft, corpus" from a libFuzzer log.
summary() {
    t=$1 log=$2 secs=$3
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
    cov=$(echo "$line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$line" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
    printf 'fuzz: %-8s %7s runs in %4s s  cov %5s  ft %6s  corpus %s%s\n' "$t" "${runs:-?}" \
        "$secs" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${4:-}"
}

# Runs target $1 of build $2 under libFuzzer: $3 is "ci" or "fuzz", $4 the
# seconds (fuzz) ; returns nonzero on a finding.
run_target() {
    t=$1 build=$2 mode=$3 secs=$4
    bin=$build/fuzz/${t}_fuzzer
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin is missing: run make build-fuzz first" >&2
        return 1
    fi
    if [ "$mode" = ci ]; then
        work=$build/fuzz/ci/$t
        rm -rf "$work"
        mkdir -p "$work/corpus" "$work/crashes"
        limits="-runs=$(ci_runs "$t") -seed=1 -max_total_time=${FUZZ_CI_SECONDS:-25}"
    else
        work=$build/fuzz
        mkdir -p "$work/corpus/$t" "$work/crashes/$t" "$work/logs"
        limits="-max_total_time=$secs"
    fi
    if [ "$mode" = ci ]; then
        corpus=$work/corpus crashes=$work/crashes log=$work/log
    else
        corpus=$work/corpus/$t crashes=$work/crashes/$t log=$work/logs/$t.log
    fi
    # shellcheck disable=SC2046
    set -- $(seeds "$t")
    stamp=$work/.started-$t
    touch "$stamp"
    start=$(date +%s)
    rc=0
    # shellcheck disable=SC2046,SC2086
    "$bin" $limits $(fuzz_opts "$t") -artifact_prefix="$crashes/" "$corpus" "$@" \
        >"$log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    found=$(find "$crashes" -type f -newer "$stamp" | head -n 1)
    rm -f "$stamp"
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
        echo "fuzz: $t: FINDING (exit $rc); the end of $log:" >&2
        tail -n 60 "$log" >&2
        if [ -n "$found" ]; then
            echo "fuzz: $t: the crash input is $found" >&2
            echo "fuzz: replay it with: $bin $found" >&2
        fi
        return 1
    fi
    note=""
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$mode" = ci ] && [ "${done_runs:-0}" -lt "$(ci_runs "$t")" ]; then
        note=" (cut short at ${FUZZ_CI_SECONDS:-25} s)"
    fi
    summary "$t" "$log" "$took" "$note"
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case $cmd in
replay)
    [ $# -eq 2 ] || usage
    bin=$1 t=$2
    # shellcheck disable=SC2046
    exec "$bin" $(seeds "$t")
    ;;
ci | fuzz)
    [ $# -ge 1 ] || usage
    build=$1
    shift
    secs=0
    if [ "$cmd" = fuzz ]; then
        [ $# -ge 1 ] || usage
        secs=$1
        shift
    fi
    targets=${*:-$all_targets}
    failed=""
    for t in $targets; do
        run_target "$t" "$build" "$cmd" "$secs" || failed="$failed $t"
    done
    if [ -n "$failed" ]; then
        echo "fuzz: findings in:$failed" >&2
        exit 1
    fi
    ;;
merge)
    [ $# -eq 2 ] || usage
    build=$1 t=$2
    # shellcheck disable=SC2046
    "$build/fuzz/${t}_fuzzer" -merge=1 $(fuzz_opts "$t") "$src/fuzz/corpus/$t" \
        "$build/fuzz/corpus/$t"
    ;;
*)
    usage
    ;;
esac
