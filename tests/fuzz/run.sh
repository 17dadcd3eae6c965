#!/bin/sh
# Run the fuzzers (build them first: cmake --preset fuzz &&
# cmake --build --preset fuzz).
#
#   run.sh smoke [BUILD_DIR]   each target for $ANYSOCK_FUZZ_SECONDS (30) s
#   run.sh long  [BUILD_DIR]   each target for $ANYSOCK_FUZZ_RUNS (10^7)
#                              executions; prints executions, cov, ft, time
#   run.sh one FUZZER SEEDS WORKDIR [libFuzzer flags...]   (used by ctest)
#
# Every run starts from a fresh copy of the committed seeds in
# WORKDIR/corpus (under the build tree); crash inputs land in
# WORKDIR/artifacts. Targets run one at a time, in-process (no -jobs): the
# machine is small and shared. Exit status is non-zero if any target fails.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
targets="parse_ipv4 parse_ipv6 parse_address parse_hostport unpack_sockaddr
roundtrip diff_inet_pton dns_reply"

one() {
    fuzzer=$1 seeds=$2 work=$3
    shift 3
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp "$seeds"/* "$work/corpus/"
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
        "$fuzzer" -max_len=256 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$@" "$work/corpus"
}

all() {
    mode=$1 build=$2
    shift 2
    fail=0
    [ "$mode" = long ] &&
        printf '%-16s %12s %6s %7s %9s\n' target executions cov ft seconds
    for t in $targets; do
        work=$build/tests/fuzz/$mode/$t
        mkdir -p "$work"
        log=$work.log
        start=$(date +%s)
        if one "$build/tests/fuzz/fuzz_$t" "$here/corpus/$t" "$work" "$@" \
            >"$log" 2>&1; then
            status=ok
        else
            status=FAILED
            fail=1
        fi
        secs=$(($(date +%s) - start))
        if [ "$mode" = long ]; then
            execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
            covft=$(grep 'cov: ' "$log" | tail -n 1 |
                sed 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/')
            # shellcheck disable=SC2086
            printf '%-16s %12s %6s %7s %9s %s\n' "$t" "${execs:-?}" \
                $covft "$secs" "$status"
        else
            printf '%-16s %s (%ss, log %s)\n' "$t" "$status" "$secs" "$log"
        fi
        [ "$status" = ok ] || tail -n 40 "$log"
    done
    return $fail
}

mode=${1:-smoke}
case $mode in
one)
    shift
    one "$@"
    ;;
smoke)
    all smoke "${2:-$top/build/fuzz}" \
        -max_total_time="${ANYSOCK_FUZZ_SECONDS:-30}"
    ;;
long)
    all long "${2:-$top/build/fuzz}" -runs="${ANYSOCK_FUZZ_RUNS:-10000000}"
    ;;
*)
    echo "usage: $0 smoke|long [BUILD_DIR]" >&2
    exit 2
    ;;
esac
