#!/usr/bin/env bash
# lafov sensitivity benchmark: builds build/ (Release, CUDA AUTO) and runs lafov_bench_sensitivity: wall
# times of the Quadra sensitivity image at 3.3 mm (213x213x322; geometric at MRD 322 and 85, the attenuation
# / efficiency pass with a body-like μ map) and the errors against the exact brute force on the Quadra cut
# down to one axial unit of a few rings (and other --case's). Nothing is asserted. Arguments go to
# lafov_bench_sensitivity, e.g. `scripts/bench_sensitivity.sh --threads 2 --rings 8`, `--skip-quadra`,
# `--skip-error`, `--case small --case oblique --ref-dir /tmp`, `--coarse 4 4 3`.
# Method and reference figures: docs/sensitivity.md.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_deps
LAFOV_BUILD_TARGETS=lafov_bench_sensitivity lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
    lf_die "the build failed (see above)"
lf_say "lafov_bench_sensitivity $*"
build/lafov_bench_sensitivity "$@"
