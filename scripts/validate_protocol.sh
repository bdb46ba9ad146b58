#!/usr/bin/env bash
# lafov dose / time protocol validation at full Quadra scale (issue 8): is 0.3 MBq/kg × 20 min as good as
# 1.5 MBq/kg × 5 min (the same activity × time), and how does the noise fall with activity × time?
#   1. the torso (70 kg, 60 min uptake) simulated twice on the Quadra, each protocol with its own count rates,
#      randoms and dead time: `lafov simulate --phantom torso --activity-mbq-per-kg 0.3 --duration-s 1200` ("low")
#      and `--activity-mbq-per-kg 1.5 --duration-s 300` ("std"), scatter, randoms and 176Lu on, uniform crystal
#      efficiencies (no normalisation needed), both at count fraction FRACTION (each coincidence kept with that
#      probability: FRACTION of a real scan's statistic, the count rates of the full activity).
#   2. one `lafov study` (WORKDIR/study): "low" thinned to FRACTIONS (disjoint replicates, at most REPLICATES
#      per fraction) × truncated to DURATIONS; "std" at fractions 1 and 0.5 × 300 s; every virtual scan
#      reconstructed with its CT (randoms and scatter corrected), ROI statistics of the SUV image over the
#      truth labels (erosion 4 mm): liver SUVmean and COV, the 20 mm liver lesion's contrast and CNR against
#      the liver; the comparison low 0.5 × 1200 s vs std 0.5 × 300 s (two disjoint replicates each, so with a
#      spread) in WORKDIR/study/report.md.
#   3. printed: liver COV and lesion CNR of both protocols (p = 1, one realisation each, and p = 0.5, mean ± SD
#      of the two halves); the curve of liver COV versus activity × time from the thinned 20-minute scan
#      (WORKDIR/study/plots/cov_pct.png); the total wall time. Verdicts: liver COV falls with activity × time;
#      the half-dose liver SUVmean within 3 % of the full scan's; the two protocols' liver COV ratio (low / std)
#      within 15 % of sqrt(activity × time of std / of low) = sqrt(7.5 / 6 MBq/kg·min) = 1.118 — the protocols
#      are not equal in activity × time; the 20-minute scan has fewer randoms from the tracer (∝ A²) but more
#      from 176Lu (∝ time) and 6 % more decay, hence the tolerance. (A trial at count fraction 0.0005, 8 mm
#      voxels, 1 iteration × 2 subsets, 1146 s on 2 cores: liver COV low 57.5 %, std 49.4 %, ratio 1.166.)
#   Measured (count fraction 0.005, fractions 1, 0.5 × durations 1200, 300, 2 replicates, 6 mm voxels, 4 × 5, 6 mm
#   post-filter; 13 jobs, 1621 s on 2 shared cores): liver COV low 54.9 %, std 49.8 % (ratio 1.103 against 1.118),
#   lesion CNR 3.8 vs 6.7; half-dose liver SUVmean 2.900 vs 2.907; every verdict PASS.
# Usage: scripts/validate_protocol.sh [WORKDIR]   (default: a temporary folder, removed at the end)
# Environment: LAFOV_PROTOCOL_FRACTION (count fraction of both simulations, 0.05), LAFOV_STUDY_FRACTIONS
# ("1, 0.5, 0.25"), LAFOV_STUDY_DURATIONS ("1200, 600, 300, 120"), LAFOV_STUDY_REPLICATES (2), LAFOV_VOXEL_MM (4),
# LAFOV_ITERATIONS (4), LAFOV_SUBSETS (5), LAFOV_POSTFILTER_MM (5), LAFOV_DEVICES (cpu; e.g. cuda:0,cuda:1),
# LAFOV_WORKERS (1 per device), LAFOV_SEED (31), LAFOV_BIN (an already built lafov: skips the build).
# Re-running with the same WORKDIR keeps the simulations and every finished reconstruction (lafov study resumes).
# Time on 2 cores with the defaults: about 10 min per simulation and 23 reconstructions of several minutes
# each (a few hours on the CPU; far less with --devices cuda); the wall time of every step is printed.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_lafov_binary
FRAC="${LAFOV_PROTOCOL_FRACTION:-0.05}"
FRACTIONS="${LAFOV_STUDY_FRACTIONS:-1, 0.5, 0.25}"
DURATIONS="${LAFOV_STUDY_DURATIONS:-1200, 600, 300, 120}"
REPS="${LAFOV_STUDY_REPLICATES:-2}"
VOX="${LAFOV_VOXEL_MM:-4}"
IT="${LAFOV_ITERATIONS:-4}"
SUB="${LAFOV_SUBSETS:-5}"
PF="${LAFOV_POSTFILTER_MM:-5}"
DEVS="${LAFOV_DEVICES:-cpu}"
SEED="${LAFOV_SEED:-31}"
WORKERS="${LAFOV_WORKERS:-$(awk -F, '{ print NF }' <<<"$DEVS")}"
if [ $# -ge 1 ]; then
    W=$1
    mkdir -p "$W"
else
    W=$(mktemp -d "${TMPDIR:-/tmp}/lafov_protocol.XXXXXX")
    trap 'rm -rf "$W"' EXIT
fi
W=$(cd "$W" && pwd)
T0=$SECONDS
failures=0
verdict() { # verdict OK TEXT
    if [ "$1" = 1 ]; then echo "  PASS  $2"; else echo "  FAIL  $2"; failures=$((failures + 1)); fi
}
timed() { # timed NAME COMMAND...: runs it (unless WORKDIR/NAME.ok says it finished), prints the wall time
    [ -e "$W/$1.ok" ] && { echo "  $1: done earlier"; return 0; }
    local t0=$SECONDS
    "${@:2}" >"$W/$1.log" 2>&1 || { tail -30 "$W/$1.log"; lf_die "$1 failed (log $W/$1.log)"; }
    touch "$W/$1.ok"
    echo "  $1: $((SECONDS - t0)) s"
}
# stat CSV ACQ FRACTION DURATION REGION COLUMN: "mean sd n" over the replicates
stat() {
    awk -F, -v a="$2" -v f="$3" -v d="$4" -v r="$5" -v c="$6" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
      $1 == a && $2 + 0 == f + 0 && $3 + 0 == d + 0 && $9 == r && $h[c] != "" { x[++n] = $h[c]; s += $h[c] }
      END { if (!n) { print "nan nan 0"; exit } m = s / n; v = 0; for (i = 1; i <= n; i++) v += (x[i] - m) ^ 2
            printf "%.4g %.2g %d\n", m, (n > 1 ? sqrt(v / (n - 1)) : 0), n }' "$1"
}

lf_say "1. the torso at two protocols (count fraction $FRAC, scatter + randoms + 176Lu)"
timed sim_low "$LAFOV" simulate --phantom torso --scanner quadra --activity-mbq-per-kg 0.3 --weight-kg 70 \
    --uptake-s 3600 --duration-s 1200 --count-fraction "$FRAC" --uniform-efficiency --seed "$SEED" --out "$W/low"
timed sim_std "$LAFOV" simulate --phantom torso --scanner quadra --activity-mbq-per-kg 1.5 --weight-kg 70 \
    --uptake-s 3600 --duration-s 300 --count-fraction "$FRAC" --uniform-efficiency --seed "$((SEED + 1))" --out "$W/std"

LIVER=$(lf_truth_label "$W/low/truth.json" liver)
LESION=$(lf_truth_label "$W/low/truth.json" lesion_liver_20mm)
BODY=$(lf_truth_label "$W/low/truth.json" body)
[ -n "$LIVER" ] && [ -n "$LESION" ] && [ -n "$BODY" ] || lf_die "$W/low/truth.json: no liver, lesion_liver_20mm or body label"
cat >"$W/plan.txt" <<EOF
# scripts/validate_protocol.sh: 0.3 MBq/kg x 20 min against 1.5 MBq/kg x 5 min, and the low protocol thinned
study name := torso protocols, 0.3 MBq/kg x 20 min vs 1.5 MBq/kg x 5 min
seed := $SEED
metric := roi
labels := low/truth_labels.nii.gz
names := low/truth.json
regions := $LIVER, $LESION, $BODY
background label := $LIVER
plot region := $LIVER
erode (mm) := 4
recon options := --voxel-mm $VOX --iterations $IT --subsets $SUB --postfilter-mm $PF
compare := low 0.5 1200 vs std 0.5 300
replicates := $REPS
acquisition := low
list mode := low/acq.l
ct := low/ct.nii.gz
fractions := $FRACTIONS
durations (s) := $DURATIONS
acquisition := std
list mode := std/acq.l
ct := std/ct.nii.gz
fractions := 1, 0.5
durations (s) := 300
EOF

lf_say "2. lafov study (devices $DEVS, $WORKERS worker(s))"
t0=$SECONDS
"$LAFOV" study "$W/plan.txt" --out "$W/study" --devices "$DEVS" --workers "$WORKERS" 2>&1 | tail -3 ||
    verdict 0 "every virtual scan reconstructed and measured (see $W/study/batch/)"
echo "  study: $((SECONDS - t0)) s"
CSV=$W/study/results.csv
[ -s "$CSV" ] || lf_die "no $CSV"

lf_say "3. results (mean ± SD over the replicates; n = replicates)"
printf "  %-34s %-20s %-20s\n" "virtual scan" "liver COV (%)" "lesion CNR"
for row in "low 1 1200" "std 1 300" "low 0.5 1200" "std 0.5 300"; do
    set -- $row
    read -r cm cs cn <<<"$(stat "$CSV" "$1" "$2" "$3" liver cov_pct)"
    read -r nm ns nn <<<"$(stat "$CSV" "$1" "$2" "$3" lesion_liver_20mm cnr)"
    printf "  %-34s %-20s %-20s\n" "$1 p=$2 x $3 s" "$cm ± $cs (n $cn)" "$nm ± $ns (n $nn)"
done
grep -F "**Answer:**" "$W/study/report.md" | sed 's/^/  /'
echo "  liver COV vs activity x time (low protocol, thinned and truncated; $W/study/plots/cov_pct.png):"
awk -F, 'NR > 1 && $1 == "low" && $9 == "liver" { k = $7; s[k] += $14; q[k] += $14 * $14; n[k]++ }
  END { for (k in s) { m = s[k] / n[k]; v = n[k] > 1 ? sqrt((q[k] - n[k] * m * m) / (n[k] - 1)) : 0
        printf "    %10.1f MBq min  COV %6.2f ± %.2f %%  (n %d)\n", k, m, v, n[k] } }' "$CSV" | sort -g -k1
# verdicts
mono=$(awk -F, 'NR > 1 && $1 == "low" && $9 == "liver" { s[$7] += $14; n[$7]++ }
  END { ok = 1; c = 0; for (k in s) { x[++c] = k + 0; y[k + 0] = s[k] / n[k] }
        for (i = 1; i <= c; i++) for (j = 1; j <= c; j++) if (x[i] < x[j] / 1.5 && y[x[i]] < y[x[j]]) ok = 0
        print ok }' "$CSV")
verdict "$mono" "liver COV falls with activity x time (points 1.5x apart or more)"
read -r m1 _ _ <<<"$(stat "$CSV" low 1 1200 liver mean)"
read -r mh _ _ <<<"$(stat "$CSV" low 0.5 1200 liver mean)"
verdict "$(awk -v a="$mh" -v b="$m1" 'BEGIN { r = a / b; print (r > 0.97 && r < 1.03) }')" \
    "half-dose liver SUVmean within 3 % of the full scan's ($mh vs $m1)"
read -r cl _ _ <<<"$(stat "$CSV" low 1 1200 liver cov_pct)"
read -r cs _ _ <<<"$(stat "$CSV" std 1 300 liver cov_pct)"
at_low=$(awk -F, 'NR > 1 && $1 == "low" && $2 == 1 && $3 == 1200 { print $7; exit }' "$CSV")
at_std=$(awk -F, 'NR > 1 && $1 == "std" && $2 == 1 && $3 == 300 { print $7; exit }' "$CSV")
verdict "$(awk -v a="$cl" -v b="$cs" -v l="$at_low" -v h="$at_std" 'BEGIN { p = sqrt(h / l); r = a / b / p
    print (r > 0.85 && r < 1.15) }')" \
    "liver COV low / std = $(awk -v a="$cl" -v b="$cs" 'BEGIN { printf "%.3f", a / b }') within 15 % of sqrt($at_std / $at_low MBq min)"
echo "  report: $W/study/report.md; total wall time $((SECONDS - T0)) s"
[ "$failures" -eq 0 ]
