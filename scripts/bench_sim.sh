#!/usr/bin/env bash
# lafov simulator benchmark: builds build/ (Release) and times `lafov simulate` with all physics on,
# printing detected coincidences (prompts + delayeds) per second of wall time for the torso at the
# seed's low dose (0.3 MBq/kg, 60 min uptake), the IEC phantom and the line source. The figures are
# printed, never asserted. Environment: LAFOV_BENCH_SECONDS (simulated seconds per case, default 2),
# LAFOV_JOBS (threads, default 2).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_deps
LAFOV_BUILD_TARGETS=lafov_cli lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
    lf_die "the build failed (see above)"
T="${LAFOV_BENCH_SECONDS:-2}"
work="$(mktemp -d "${TMPDIR:-/tmp}/lafov_bench_sim.XXXXXX")"
trap 'rm -rf "$work"' EXIT

run() { # run NAME ARGS...
    local name=$1
    shift
    local out
    out=$(build/lafov simulate "$@" --duration-s "$T" --no-ct --truth-voxel-mm 8 --threads "$LAFOV_JOBS" \
        --out "$work/$name" --json)
    local rate frac sf
    rate=$(sed -n 's/.*"coincidences_per_s": \([0-9.e+]*\).*/\1/p' <<<"$out")
    sf=$(sed -n 's/.*"scatter_fraction": \([0-9.e+-]*\).*/\1/p' <<<"$out")
    frac=$(sed -n 's/.*"randoms_fraction": \([0-9.e+-]*\).*/\1/p' <<<"$out")
    printf '%-28s %12.0f coincidences/s   scatter fraction %5.1f %%   randoms %5.1f %% of prompts\n' \
        "$name" "$rate" "$(awk "BEGIN{print 100*$sf}")" "$(awk "BEGIN{print 100*$frac}")"
}

lf_say "lafov simulate, $T s simulated per case, $LAFOV_JOBS threads"
run torso_0.3MBq_per_kg --phantom torso --activity-mbq-per-kg 0.3
run torso_1.5MBq_per_kg --phantom torso --activity-mbq-per-kg 1.5
run iec_53MBq --phantom iec --activity-mbq 53
run line_5MBq_air --phantom line --activity-mbq 5
