#!/usr/bin/env bash
# lafov motion detection at full Quadra scale (docs/motion.md): the torso (0.3 MBq/kg x 70 kg, 60 min
# uptake, 20 min scan, no CT) moved along z by S mm at 600 s, for several S; `lafov motion` on each.
# Reports per S: the change points found, the detection time error against 600 s, the estimated shift
# (z by profile registration, and the z centroid step), and false positives (change points further
# than 5 s from 600 s, or any change point when S = 0).
# Usage: scripts/validate_motion.sh [WORKDIR]   (default: a temporary folder, removed at the end)
# Environment: LAFOV_MOTION_FRACTION (count fraction F of the simulation, 0.01: ~2.5 min per
# simulation on 2 cores; the real full-statistics data, F = 1, have 10x lower centroid noise),
# LAFOV_MOTION_SHIFTS (the shifts S in mm, "0 2 5 10"), LAFOV_MOTION_ARGS (extra `lafov motion`
# options), LAFOV_BIN (an already built lafov: skips the build).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_lafov_binary
export LAFOV_SCANNER_DIR="${LAFOV_SCANNER_DIR:-$LAFOV_ROOT/data/scanners}"
FRAC="${LAFOV_MOTION_FRACTION:-0.01}"
SHIFTS="${LAFOV_MOTION_SHIFTS:-0 2 5 10}"
if [ $# -ge 1 ]; then
    W=$1
    mkdir -p "$W"
else
    W=$(mktemp -d "${TMPDIR:-/tmp}/lafov_motion.XXXXXX")
    trap 'rm -rf "$W"' EXIT
fi
T_MOVE=600
summary=$W/summary.txt
: >"$summary"
for S in $SHIFTS; do
    lf_say "torso, count fraction $FRAC, shift 0,0,$S mm at $T_MOVE s"
    sim=$W/torso_$S
    t0=$(date +%s)
    "$LAFOV" simulate --phantom torso --scanner quadra --activity-mbq-per-kg 0.3 --weight-kg 70 --uptake-s 3600 \
        --duration-s 1200 --count-fraction "$FRAC" --no-ct --seed 11 --motion "$T_MOVE:0,0,$S" --out "$sim" \
        >"$sim.log" 2>&1 || { cat "$sim.log"; lf_die "simulate failed (S = $S)"; }
    t1=$(date +%s)
    # shellcheck disable=SC2086
    "$LAFOV" motion "$sim/acq.l" --out "$sim/motion" ${LAFOV_MOTION_ARGS:-} | tee "$sim/motion.log"
    t2=$(date +%s)
    python3 - "$sim/motion/motion.json" "$S" "$T_MOVE" "$FRAC" "$((t1 - t0))" "$((t2 - t1))" <<'PY' | tee -a "$summary"
import json, sys
d = json.load(open(sys.argv[1])); S = float(sys.argv[2]); T = float(sys.argv[3])
cps = d["change_points"]; noise = d["noise"]["noise_mm_per_bin"]
near = [c for c in cps if abs(c["time_s"] - T) <= 5] if S > 0 else []
fp = len(cps) - len(near)
line = "F=%s S=%4.1f mm: %d change point(s), false positives %d, noise/bin z centroid %.2f, z profile %.2f mm, sim %s s, motion %s s" % (
    sys.argv[4], S, len(cps), fp, noise[2], noise[3] if noise[3] is not None else float("nan"), sys.argv[5], sys.argv[6])
if near:
    c = near[0]
    line += "; detected at %.1f s (error %+.1f s), shift z %+.2f mm (centroid %+.2f), x %+.2f, y %+.2f" % (
        c["time_s"], c["time_s"] - T, c["shift_mm"][2], c["centroid_shift_mm"][2], c["shift_mm"][0], c["shift_mm"][1])
elif S > 0:
    line += "; NOT detected"
print(line)
PY
done
lf_say "summary"
cat "$summary"
