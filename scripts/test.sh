#!/usr/bin/env bash
# lafov: every test, the way CI runs it (`bash .ci/run` calls this).
#   1. build/       Release (CUDA AUTO), ctest
#   2. build-asan/  Debug, ASan + UBSan, CPU only, ctest (any sanitizer report fails the test)
#   3. build-fuzz/  clang + libFuzzer, every fuzz target for LAFOV_FUZZ_SECONDS (default 15) on a
#                   copy of its seed corpus
# Ends with one line "lafov: N passed, M failed" (test programs of both ctest runs plus fuzzers; a
# stage that does not configure or build counts as one failure) and exits non-zero on any failure.
# Environment: LAFOV_JOBS (default 2), LAFOV_FUZZ_SECONDS (default 15), LAFOV_SKIP_ASAN=1,
# LAFOV_SKIP_FUZZ=1 (local shortcuts; CI runs everything).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

FUZZ_SECONDS="${LAFOV_FUZZ_SECONDS:-15}"
PASSED=0
FAILED=0
FAILURES=()
T0=$SECONDS

lf_deps

fail_stage() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); }

# run_ctest DIR LABEL: runs ctest in DIR and adds its counts.
run_ctest() {
    local dir="$1" label="$2" log rc=0
    log="$(mktemp "${TMPDIR:-/tmp}/lafov_ctest.XXXXXX")"
    lf_say "ctest $dir"
    ctest --test-dir "$dir" --output-on-failure -j "$LAFOV_JOBS" 2>&1 | tee "$log" || rc=$?
    local line total failed
    line="$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
    if [ -n "$line" ]; then
        failed="${line%% *}"
        total="${line##* }"
        PASSED=$((PASSED + total - failed))
        FAILED=$((FAILED + failed))
        [ "$failed" -gt 0 ] && FAILURES+=("$label: $failed of $total tests")
    elif grep -q 'No tests were found' "$log"; then
        echo "lafov: warning: no tests registered in $dir"
    else
        fail_stage "$label: ctest did not run (exit $rc)"
    fi
    rm -f "$log"
}

# 1. Release
if lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO; then
    run_ctest build release
else
    fail_stage "release build"
fi

# 2. ASan + UBSan. Leak checking only where LeakSanitizer works (it does not under ptrace, e.g. some
# containers): probed with a tiny program.
lsan=0
probe_dir="$(mktemp -d "${TMPDIR:-/tmp}/lafov_lsan.XXXXXX")"
if printf 'int main(void) { return 0; }\n' >"$probe_dir/p.c" &&
    "${CC:-gcc}" -fsanitize=address "$probe_dir/p.c" -o "$probe_dir/p" 2>/dev/null &&
    ASAN_OPTIONS=detect_leaks=1 "$probe_dir/p" >/dev/null 2>&1; then
    lsan=1
fi
rm -rf "$probe_dir"
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=$lsan:print_stacktrace=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
if [ "${LAFOV_SKIP_ASAN:-0}" = 1 ]; then
    echo "lafov: LAFOV_SKIP_ASAN=1: skipping the sanitizer build"
elif lf_build build-asan -DCMAKE_BUILD_TYPE=Debug -DLAFOV_SANITIZE=ON -DLAFOV_CUDA=OFF -DLAFOV_MPI=OFF; then
    run_ctest build-asan asan
else
    fail_stage "asan build"
fi

# 3. Fuzzers
run_fuzzers() {
    local list="build-fuzz/fuzz_targets.txt" exe seeds name work log rc stats
    [ -s "$list" ] || { fail_stage "fuzz: $list missing"; return; }
    local artifacts="$LAFOV_ROOT/build-fuzz/crashes"
    mkdir -p "$artifacts"
    while read -r exe seeds; do
        name="$(basename "$exe")"
        work="$(mktemp -d "${TMPDIR:-/tmp}/lafov_$name.XXXXXX")"
        mkdir -p "$work/corpus"
        [ -d "$seeds" ] && cp -R "$seeds/." "$work/corpus/"
        log="$work/log"
        lf_say "fuzz $name for ${FUZZ_SECONDS} s"
        rc=0
        # max_total_time bounds the run; timeout only guards against a hang at start or exit.
        (cd "$work" && timeout -k 10 $((FUZZ_SECONDS + 120)) "$exe" -max_total_time="$FUZZ_SECONDS" -timeout=20 \
            -rss_limit_mb=2048 -detect_leaks="$lsan" -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
            corpus >"$log" 2>&1) || rc=$?
        stats="$(awk '/stat::number_of_executed_units/ {n=$2} /stat::average_exec_per_sec/ {s=$2}
                      END {if (n != "") printf "%s runs, %s exec/s", n, s}' "$log")"
        if [ "$rc" -eq 0 ]; then
            PASSED=$((PASSED + 1))
            echo "$name: ok (${stats:-no stats})"
        else
            tail -n 60 "$log"
            fail_stage "fuzz $name (exit $rc; inputs in $artifacts)"
            echo "$name: FAILED (exit $rc; reproducer in $artifacts)"
        fi
        rm -rf "$work"
    done <"$list"
}
if [ "${LAFOV_SKIP_FUZZ:-0}" = 1 ]; then
    echo "lafov: LAFOV_SKIP_FUZZ=1: skipping the fuzzers"
elif CC=clang CXX=clang++ lf_build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAFOV_FUZZ=ON -DLAFOV_TESTS=OFF \
    -DLAFOV_CUDA=OFF; then
    run_fuzzers
else
    fail_stage "fuzz build"
fi

echo
for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do echo "FAILED: $f"; done
echo "(took $((SECONDS - T0)) s)"
echo "lafov: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
