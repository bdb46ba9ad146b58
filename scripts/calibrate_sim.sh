#!/usr/bin/env bash
# lafov simulator calibration check (docs/simulator.md): simulates the NEMA NU 2-2018 sensitivity
# geometry — a 700 mm line source in air on the axis, centred — at MRD 322 and 85 and prints the
# sensitivity (trues cps/MBq) against the published Quadra values (176 and 83 kcps/MBq, Prenosil 2022),
# and the 'photopeak fraction' that would make MRD 322 exact (sensitivity scales with its square).
# Usage: scripts/calibrate_sim.sh [SCANNER (default quadra)] [SECONDS (default 10)]
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_deps
LAFOV_BUILD_TARGETS=lafov_cli lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
    lf_die "the build failed (see above)"
SCANNER="${1:-quadra}"
T="${2:-10}"
work="$(mktemp -d "${TMPDIR:-/tmp}/lafov_calib.XXXXXX")"
trap 'rm -rf "$work"' EXIT
pp=$(sed -n 's/^photopeak fraction *:= *//p' "data/scanners/$SCANNER.scanner")
for mrd in 322 85; do
    out=$(build/lafov simulate --scanner "$SCANNER" --phantom line --activity-mbq 1 --duration-s "$T" --mrd "$mrd" \
        --no-randoms --no-lu --no-ct --uniform-efficiency --truth-voxel-mm 8 --out "$work/m$mrd" --json)
    s=$(sed -n 's/.*"trues_cps_per_mbq": \([0-9.e+]*\).*/\1/p' <<<"$out")
    n=$(sed -n 's/.*"trues": \([0-9]*\).*/\1/p' <<<"$out")
    if [ "$mrd" = 322 ]; then ref=176000; else ref=83000; fi
    awk -v s="$s" -v n="$n" -v ref="$ref" -v mrd="$mrd" -v pp="$pp" 'BEGIN {
        printf "MRD %3d: %.1f kcps/MBq (published %.0f; ratio %.3f; +- %.1f %% statistical)\n", mrd, s/1000, ref/1000, s/ref, 100/sqrt(n)
        if (mrd == 322) printf "         photopeak fraction now %s; for exactly 176 kcps/MBq: %.4f\n", pp, pp*sqrt(ref/s) }'
done
