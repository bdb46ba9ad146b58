#!/usr/bin/env bash
# lafov projector benchmark: builds build/ (Release, CUDA AUTO) and runs lafov_bench_projectors: events/s
# of TOF and non-TOF Joseph forward and back projection on the Quadra geometry (random pairs within
# MRD 322 crossing the image), 220x220x320 @ 3.3 mm and 440x440x640 @ 1.65 mm: 1e6 events on the CPU
# with 2 threads, printed with the ratio to parallelproj v1.10.2 (issue 4's reference figures, same
# machine type), then 1e8 events on the GPU where one is usable (CUDA built and a device found: the
# CUDA runs are automatic), followed by the CUDA / CPU speed-up of every operation. Nothing is asserted.
# Arguments go to lafov_bench_projectors, e.g. `scripts/bench_projectors.sh --siddon --repeat 3`,
# `--grid 3.3`, `--events 2e5`, `--threads 16`, `--gpu-events 3e7`, `--no-gpu`. The 1.65 mm image takes
# 0.5 GB, the GPU run ~3.5 GB of RAM. LAFOV_BENCH_BIN=path runs a prebuilt binary (no build), as on a
# GPU machine without the build dependencies (scripts/gpu_bundle.sh).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BIN=${LAFOV_BENCH_BIN:-}
if [ -z "$BIN" ]; then
    lf_deps
    LAFOV_BUILD_TARGETS=lafov_bench_projectors lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
        lf_die "the build failed (see above)"
    BIN=build/lafov_bench_projectors
fi
lf_say "lafov_bench_projectors $*"
OUTF=$(mktemp)
trap 'rm -f "$OUTF"' EXIT
"$BIN" "$@" | tee "$OUTF"
# the speed-up table, from rows "dev NxNxN @ V mm kind operation(2 words) events/s ..."
awk '($1 == "cpu" || $1 == "cuda") && $3 == "@" && NF >= 9 {
        key = $2 " @ " $4 " mm|" $6 "|" $7 " " $8; r[$1 "|" key] = $9
        if ($1 == "cpu") order[++n] = key
     }
     END {
        shown = 0
        for (i = 1; i <= n; i++) {
            k = order[i]
            if (!(("cuda|" k) in r)) continue
            if (!shown) {
                printf "\nCUDA / CPU speed-up (events/s of each device, with its own event count and threads)\n"
                printf "%-22s %-7s %-13s %10s %10s %8s\n", "image", "kind", "operation", "cpu", "cuda", "speed-up"
                shown = 1
            }
            split(k, p, "|")
            printf "%-22s %-7s %-13s %10.3g %10.3g %7.1fx\n", p[1], p[2], p[3], r["cpu|" k], r["cuda|" k], r["cuda|" k] / r["cpu|" k]
        }
     }' "$OUTF"
