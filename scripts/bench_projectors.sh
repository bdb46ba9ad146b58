#!/usr/bin/env bash
# lafov projector benchmark: builds build/ (Release, CUDA AUTO) and runs lafov_bench_projectors: events/s
# of TOF and non-TOF Joseph forward and back projection on the Quadra geometry (random pairs within
# MRD 322 crossing the image), 220x220x320 @ 3.3 mm and 440x440x640 @ 1.65 mm: 1e6 events on the CPU
# with 2 threads, printed with the ratio to parallelproj v1.10.2 (issue 4's reference figures, same
# machine type), then 1e8 events on the GPU where one is usable. Nothing is asserted.
# Arguments go to lafov_bench_projectors, e.g. `scripts/bench_projectors.sh --siddon --repeat 3`,
# `--grid 3.3`, `--events 2e5`, `--no-gpu`. The 1.65 mm image takes 0.5 GB, the GPU run ~3.5 GB of RAM.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_deps
LAFOV_BUILD_TARGETS=lafov_bench_projectors lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
    lf_die "the build failed (see above)"
lf_say "lafov_bench_projectors $*"
build/lafov_bench_projectors "$@"
