#!/usr/bin/env bash
# lafov reconstruction benchmark: the time of each stage of `lafov recon` (reading the events, CT ->
# mu-map, sensitivity (computed, not cached), each OSEM iteration) and the OSEM rate in events x
# iterations per second, for
#   1. the demo case (the seed's torso at 1 % statistic, scripts/demo.sh's voxel size), and
#   2. the full Quadra at 3.3 mm (the same events on the full-FOV grid, MRD 322, then MRD 85),
# on the CPU with the threads OpenMP gives (LAFOV_THREADS, default: all), and with --device cuda when a
# GPU is usable (automatic), then the CUDA / CPU ratio of the OSEM time. The sensitivity is computed on
# the CPU whatever the device, so a CUDA run reuses the cache of its CPU twin (its sensitivity time is
# then a cache read). Figures only: nothing here asserts a time.
# Measured on an H100 (2026-11-23, docs/projectors.md, full Quadra at 3.3 mm, 2.34 M events, 16 threads): OSEM
# 9.6 s on the CPU, 1.8 s with --device cuda (device-resident OSEM; 4.5 s before it, projections only on the GPU).
# The per-iteration seconds include recon's checkpoint write (~0.4 s, host): most of a CUDA iteration now;
# lf_osem_run alone takes ~0.03 s per iteration there on CUDA.
# Usage: scripts/bench_recon.sh [WORKDIR]   (the simulated case is kept there for re-runs)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_deps
LAFOV_BUILD_TARGETS=lafov_cli lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
    lf_die "the build failed (see above)"
LAFOV=$LAFOV_ROOT/build/lafov
W="${1:-$LAFOV_ROOT/demo_out/bench_recon}"
mkdir -p "$W"
THREADS=()
[ -n "${LAFOV_THREADS:-}" ] && THREADS=(--threads "$LAFOV_THREADS")
DEMO_VOXEL_MM="${LAFOV_DEMO_VOXEL_MM:-4}"

if [ ! -s "$W/case/acq.l" ]; then
    lf_say "simulating the demo case (torso 0.3 MBq/kg, 60 min uptake, 20 min, 1 % statistic)"
    "$LAFOV" simulate --phantom torso --scanner quadra --activity-mbq-per-kg 0.3 --weight-kg 70 --uptake-s 3600 \
        --duration-s 1200 --motion 600:0,0,15 --count-fraction 0.01 --seed 1 --out "$W/case" >"$W/sim.log"
fi

json_num() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" "$2"; }
declare -A OSEM_S
run() { # run LABEL ARGS...: one reconstruction with a fresh sensitivity cache (SENS_FROM=LABEL: that
    # run's cache instead); prints its stage times
    local label=$1 cache
    shift
    cache="$W/cache_${SENS_FROM:-$label}"
    [ -n "${SENS_FROM:-}" ] || rm -rf "$cache"
    LAFOV_CACHE_DIR="$cache" "$LAFOV" recon "$W/case/acq.l" --ct "$W/case/ct.nii.gz" "${THREADS[@]}" \
        --out "$W/rec_$label" --force --json "$@" >"$W/$label.json" 2>"$W/$label.log" ||
        { tail -5 "$W/$label.log"; echo "  $label: failed"; return 0; }
    local n it
    n=$(json_num prompts_used "$W/$label.json")
    it=$(sed -n 's/.*"seconds_iteration": \[\([^]]*\)\].*/\1/p' "$W/$label.json")
    grep -o 'grid: [^;]*' "$W/$label.log" | head -1 | sed "s/^/  $label: /"
    printf "  %-14s read %6.1f s | mu-map %5.1f s | sensitivity %7.1f s | iterations [%s] s\n" "$label" \
        "$(json_num seconds_read "$W/$label.json")" "$(json_num seconds_mumap "$W/$label.json")" \
        "$(json_num seconds_sensitivity "$W/$label.json")" "$it"
    OSEM_S[$label]=$(json_num seconds_osem "$W/$label.json")
    awk -v n="$n" -v t="$(json_num seconds_osem "$W/$label.json")" -v l="$label" \
        'BEGIN { if (t > 0) printf "  %-14s OSEM %.3g event-iterations/s (%d events, 4 iterations, %.1f s)\n", l, 4 * n / t, n, t }'
}

lf_say "CPU: $(nproc) cores, ${LAFOV_THREADS:-all} threads"
run demo_cpu --voxel-mm "$DEMO_VOXEL_MM"
run quadra33_322 --voxel-mm 3.3
run quadra33_85 --voxel-mm 3.3 --mrd 85
if "$LAFOV" project --help 2>/dev/null | grep -q cuda && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    lf_say "GPU: $(nvidia-smi -L | head -1)"
    SENS_FROM=demo_cpu run demo_cuda --voxel-mm "$DEMO_VOXEL_MM" --device cuda
    SENS_FROM=quadra33_322 run quadra33_cuda --voxel-mm 3.3 --device cuda
    for pair in demo_cpu:demo_cuda quadra33_322:quadra33_cuda; do
        c=${OSEM_S[${pair%%:*}]:-} g=${OSEM_S[${pair#*:}]:-}
        [ -n "$c" ] && [ -n "$g" ] &&
            awk -v c="$c" -v g="$g" -v l="${pair#*:}" \
                'BEGIN { if (g > 0) printf "  %-14s OSEM CUDA / CPU: %.1fx faster (%.1f s vs %.1f s)\n", l, c / g, g, c }'
    done
else
    lf_say "no usable GPU: CUDA runs skipped"
fi
