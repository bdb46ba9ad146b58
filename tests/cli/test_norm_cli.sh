#!/usr/bin/env bash
# End-to-end test of `lafov norm` and `lafov recon --norm` on the "small" test scanner:
#  - a uniform cylinder (r 60 mm, 60 mm long) simulated with crystal efficiencies (10 % spread), scatter,
#    randoms and 176Lu → lafov norm: the norm folder, its keys, refusal to overwrite without --force;
#  - another scan of the same simulated scanner (the simulator's crystal efficiencies belong to the scanner,
#    not to the seed: a water cylinder r 50 mm with a 4:1 hot ball, 30 min after injection, other activity
#    and seed) reconstructed with
#    --norm: the water's central mean within 8 % of the truth (Bq/mL at the scan start); without the norm
#    (nominal calibration, uniform efficiencies) printed for comparison;
#  - a norm of another scanner refused, naming norm.json and the key; usage errors.
# usage: test_norm_cli.sh LAFOV_BINARY SOURCE_DIR   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LAFOV_CACHE_DIR=$tmp/cache
# shellcheck source=tests/cli/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
t_start=$(date +%s)

# --- the norm scan and the norm ---
cyl=$tmp/cyl
"$lafov" simulate --phantom "$src/tests/data/small_norm_cylinder.phantom" --scanner small --activity-mbq 20 \
  --duration-s 1.5 --seed 31 --out "$cyl" >"$tmp/sim.log" 2>&1 ||
  { echo "lafov simulate (cylinder) failed:"; cat "$tmp/sim.log"; exit 1; }
n=$tmp/norm
check "lafov norm" exit_code 0 "$lafov" norm "$cyl/acq.l" --ct "$cyl/ct.nii.gz" --out "$n" --voxel-mm 5 \
  --iterations 2 --subsets 2 --calibration-mrd 20,10 --json
for f in norm.json crystal_efficiency.csv qc_cylinder_bqml.nii.gz; do
  check "norm wrote $f" test -s "$n/$f"
done
check "no temporary folder left" test -z "$(find "$n" -name '.calibration*')"
for k in '"system_code": 9002' '"crystal_count": 4320' '"source_sha256"' '"n0_calibrated_ml_per_mm"' \
  '"cross_calibration_factor"' '"true_concentration_bqml"' '"volume_ml"'; do
  check "norm.json has $k" grep -qF "$k" "$n/norm.json"
done
check "one efficiency per crystal" test "$(wc -l <"$n/crystal_efficiency.csv")" -eq 4321
check "efficiencies average 1" within "$(awk -F, 'NR > 1 { s += $4; n++ } END { print s / n }' "$n/crystal_efficiency.csv")" \
  0.999 1.001
factor=$(sed -n 's/.*"cross_calibration_factor": \([0-9.e+-]*\).*/\1/p' "$tmp/out")
# one cross-calibration per requested MRD; the first is the main one
check "norm.json lists the calibration MRDs" grep -qzE '"calibration_mrd": \[[[:space:]]*20,[[:space:]]*10[[:space:]]*\]' "$n/norm.json"
f20=$(sed -n 's/.*"cross_calibration_factor_by_mrd": {"20": \([0-9.e+-]*\), "10": \([0-9.e+-]*\)}.*/\1/p' "$tmp/out")
f10=$(sed -n 's/.*"cross_calibration_factor_by_mrd": {"20": \([0-9.e+-]*\), "10": \([0-9.e+-]*\)}.*/\2/p' "$tmp/out")
echo "cross-calibration factors: MRD 20 $f20, MRD 10 $f10"
check "the main factor is the first MRD's" within "$(awk -v a="$f20" -v b="$factor" 'BEGIN { print a / b }')" 0.99999 1.00001
check "factor at MRD 10 plausible" within "$f10" 0.6 1.2
echo "cross-calibration factor $factor (on this short small cylinder: mostly the scatter tail fit's overestimate, docs/scatter.md)"
check "factor plausible" within "$factor" 0.6 1.2
# the cylinder's volume from the CT: pi 60^2 120 mm^3 = 678.6 mL
check "cylinder volume from the CT" within "$(sed -n 's/.*"volume_ml": \([0-9.e+-]*\).*/\1/p' "$tmp/out")" 672 685
# r between the estimated and the true efficiencies (the simulator's crystal_efficiency.csv: ring,crystal,efficiency)
r=$(awk -F, 'FNR == 1 { next } FILENAME == ARGV[1] { e[$1] = $4; next } { t[$1 * 216 + $2] = $3 }
  END { for (i in e) { x = e[i]; y = t[i]; sx += x; sy += y; sxx += x * x; syy += y * y; sxy += x * y; n++ }
        printf "%.4f", (sxy - sx * sy / n) / sqrt((sxx - sx * sx / n) * (syy - sy * sy / n)) }' \
  "$n/crystal_efficiency.csv" "$cyl/crystal_efficiency.csv")
echo "efficiencies: r = $r against the simulator's truth"
check "efficiencies correlate with the truth" within "$r" 0.75 1

# --- never overwritten silently ---
check "existing norm refused" exit_code 1 "$lafov" norm "$cyl/acq.l" --ct "$cyl/ct.nii.gz" --out "$n"
check "refusal names --force" err_has "already holds a norm" "--force"

# --- another scan of the same simulated scanner, reconstructed with the norm ---
scan=$tmp/scan
"$lafov" simulate --phantom "$src/tests/data/small_cylinder.phantom" --scanner small --activity-mbq 15 \
  --uptake-s 1800 --duration-s 1.5 --seed 32 --out "$scan" >"$tmp/sim2.log" 2>&1 ||
  { echo "lafov simulate (scan) failed:"; cat "$tmp/sim2.log"; exit 1; }
roi() { # roi IMAGE OUT: central part of the water, against the truth
  "$lafov" roi "$1" --labels "$scan/truth_labels.nii.gz" --truth "$scan/truth_activity.nii.gz" \
    --names "$scan/truth.json" --out "$2" --erode-mm 8 --z-range -20,20 >/dev/null 2>"$tmp/roi.err" ||
    { cat "$tmp/roi.err"; return 1; }
}
check "recon --norm" exit_code 0 "$lafov" recon "$scan/acq.l" --ct "$scan/ct.nii.gz" --norm "$n" --voxel-mm 5 \
  --iterations 2 --subsets 2 --out "$tmp/with"
check "recon log names the norm" grep -q "normalisation: norm $n" "$tmp/with/recon.log"
check "recon at MRD 20 uses the MRD 20 calibration" grep -q "measured at MRD 20" "$tmp/with/recon.log"
check "recon --mrd 10 --norm" exit_code 0 "$lafov" recon "$scan/acq.l" --ct "$scan/ct.nii.gz" --norm "$n" --mrd 10 \
  --voxel-mm 5 --iterations 1 --subsets 1 --no-scatter --out "$tmp/m10"
check "recon at MRD 10 uses the MRD 10 calibration" grep -q "measured at MRD 10" "$tmp/m10/recon.log"
check "recon --mrd 15 --norm" exit_code 0 "$lafov" recon "$scan/acq.l" --ct "$scan/ct.nii.gz" --norm "$n" --mrd 15 \
  --voxel-mm 5 --iterations 1 --subsets 1 --no-scatter --out "$tmp/m15"
check "no calibration at MRD 15: warned, the main one used" grep -q "no cross-calibration at MRD 15.*MRD 20" \
  "$tmp/m15/recon.log"
# --no-randoms with scatter on: the randoms stay out of the model but the tail fit still subtracts them
check "recon --no-randoms" exit_code 0 "$lafov" recon "$scan/acq.l" --ct "$scan/ct.nii.gz" --norm "$n" --no-randoms \
  --voxel-mm 5 --iterations 1 --subsets 1 --out "$tmp/nr"
check "--no-randoms: estimate kept for the tail fit" grep -q "used by the scatter tail fit only" "$tmp/nr/recon.log"
check "--no-randoms: tail fit subtracts randoms" grep -qE "tail fit on [0-9]+ prompts \([0-9.]+ % of the LORs; [1-9]" \
  "$tmp/nr/recon.log"
check "roi with the norm" roi "$tmp/with/image_bqml.nii.gz" "$tmp/with.csv"
with=$(col "$tmp/with.csv" water recovery_pct)
check "recon without a norm" exit_code 0 "$lafov" recon "$scan/acq.l" --ct "$scan/ct.nii.gz" --voxel-mm 5 \
  --iterations 2 --subsets 2 --out "$tmp/without"
check "without a norm: the nominal calibration logged" grep -q "calibration: nominal" "$tmp/without/recon.log"
check "roi without the norm" roi "$tmp/without/image_bqml.nii.gz" "$tmp/without.csv"
echo "water, central part: $with % of the truth with the norm; $(col "$tmp/without.csv" water recovery_pct) % with the nominal calibration"
# 8 %: on this 60 mm long cylinder in a 69 mm scanner the tail fit overestimates the scatter by ~13 % (its tails
# hold relatively more multiple scatter than its body; docs/scatter.md), so the cylinder reads low and the
# cross-calibration (1.07) carries that to other objects: measured 105.7 % here with the norm, 99.0 % with the
# nominal calibration of the simulated scanner. At Quadra scale the cylinder reads its truth (factor 1.007).
check "quantitative with the norm (8 %)" within "$with" 92 108

# --- a norm of another scanner ---
cp -r "$n" "$tmp/other"
sed -i 's/"system_code": 9002/"system_code": 9001/' "$tmp/other/norm.json"
check "another scanner's norm refused" exit_code 1 "$lafov" recon "$scan/acq.l" --ct "$scan/ct.nii.gz" \
  --norm "$tmp/other" --voxel-mm 5 --iterations 1 --out "$tmp/e1"
check "refusal names the file and the key" err_has "other/norm.json" "system_code"
check "missing norm" exit_code 1 "$lafov" recon "$scan/acq.l" --ct "$scan/ct.nii.gz" --norm "$tmp/nope" \
  --voxel-mm 5 --iterations 1 --out "$tmp/e2"
check "missing norm message" err_has "nope/norm.json"

# --- usage ---
check "--help" exit_code 0 "$lafov" norm --help
check "no --ct" exit_code 2 "$lafov" norm "$cyl/acq.l" --out "$tmp/u1"
check "no --out" exit_code 2 "$lafov" norm "$cyl/acq.l" --ct "$cyl/ct.nii.gz"
check "bad --iterations" exit_code 2 "$lafov" norm "$cyl/acq.l" --ct "$cyl/ct.nii.gz" --out "$tmp/u2" --iterations 0
check "missing CT" exit_code 1 "$lafov" norm "$cyl/acq.l" --ct "$tmp/nope.nii.gz" --out "$tmp/u3"
check "missing CT message" err_has "nope.nii.gz"

echo "norm_cli: $pass passed, $fail failed ($(($(date +%s) - t_start)) s)"
[ "$fail" -eq 0 ]
