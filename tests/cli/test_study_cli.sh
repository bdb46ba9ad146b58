#!/usr/bin/env bash
# End-to-end tests of `lafov study` on a short simulation (small scanner, the water cylinder with a hot ball,
# 10 MBq, 2 s, coarse 6 mm reconstructions of 1 iteration):
#  - a grid of fractions 1, 0.5 × durations 2 s, 1 s (disjoint replicates at 0.5) thinned and reconstructed
#    through the batch queue: results.csv (columns, one row per virtual scan and region), report.md (the grid,
#    the comparison's answer), plots/*.png, one sensitivity image for the whole grid;
#  - physics: a half-dose replicate keeps the SUV, is noisier than the full scan, and is as noisy as the full
#    activity over half the time (equal counts); the ball's contrast is > 1 and its CNR falls with the dose;
#  - resuming: a re-run skips every job; a removed stream and image are made again (only those); a study
#    killed outright takes its running job with it and the next run finishes;
#  - refusals: another plan in the folder (unless --force), plan errors naming the file, line and key,
#    durations beyond the scan, usage errors; over two MPI ranks when mpirun is there.
# usage: test_study_cli.sh LAFOV_BINARY SOURCE_DIR   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
src=$2
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
# val CSV FRACTION DURATION REGION COLUMN: the column's mean over the replicates
val() {
  awk -F, -v f="$2" -v d="$3" -v r="$4" -v c="$5" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
    $2 == f && $3 == d && $9 == r { s += $h[c]; n++ } END { if (n) printf "%.6g\n", s / n }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b != 0) printf "%.6g\n", a / b }'; }

sim=$tmp/sim
"$lafov" simulate --phantom "$src/tests/data/small_cylinder.phantom" --scanner small --activity-mbq 10 \
  --duration-s 2 --no-scatter --no-ct --seed 8 --out "$sim" >"$tmp/sim.log" 2>&1 ||
  { echo "lafov simulate failed:"; cat "$tmp/sim.log"; exit 1; }

cat >"$tmp/plan.txt" <<'EOF'
# half the dose for the same time, or the full dose for half the time?
study name := cylinder protocols
seed := 3
metric := roi
labels := sim/truth_labels.nii.gz
names := sim/truth.json
background label := 1
recon options := --no-attenuation --iterations 1 --voxel-mm 6
compare := cyl 0.5 2 vs cyl 1 1
acquisition := cyl
list mode := sim/acq.l
fractions := 1, 0.5
durations (s) := 2, 1
EOF
out=$tmp/study
check "study" exit_code 0 "$lafov" study "$tmp/plan.txt" --out "$out" --workers 2
check "summary" grep -qF "6 virtual scan(s): jobs 8 done, 0 skipped (finished earlier), 0 failed; 6 measured, 0 without an image" "$tmp/out"
check "thinned streams" test -s "$out/thin/cyl_p0.5_r1.l.hdr" -a -s "$out/thin/cyl_p0.5_r2.l.hdr"
check "replicate header" grep -q "^%lafov thinning replicate:=2" "$out/thin/cyl_p0.5_r2.l.hdr"
check "plan claimed" cmp -s "$tmp/plan.txt" "$out/plan.txt"
check "one sensitivity image for the grid" [ "$(find "$out/cache" -name 'sens-*' | wc -l)" -eq 1 ]
csv=$out/results.csv
check "csv header" [ "$(head -1 "$csv")" = "acquisition,fraction,duration_s,replicate,of,equivalent_min,activity_time_mbq_min,activity_time_mbq_per_kg_min,region,label,voxels,mean,sd,cov_pct,max,peak,contrast,cnr" ]
check "a row per virtual scan and region" [ "$(wc -l <"$csv")" -eq $((1 + 6 * 2)) ]
# 10 MBq × 0.5 × 1/60 min = 0.0833 MBq·min
check "dose x time" grep -q "^cyl,0.5,1,2,2,0.008333333333,0.08333333333,0.00119047619,ball,2," "$csv"
check "report" grep -qF "# lafov study: cylinder protocols" "$out/report.md"
check "report table" grep -qE "^\| cyl \| 0.5 \| 2 \| 0.1667 \| 2 \| " "$out/report.md"
check "answer line" grep -qE "^\*\*Answer:\*\* ball COV: .* \(cyl 0.5 × 2 s, 2 replicate\(s\)\) vs .* \(cyl 1 × 1 s, 1\)" "$out/report.md"
for m in mean max peak cov_pct contrast cnr; do
  check "plot $m" bash -c "head -c 8 '$out/plots/$m.png' | od -An -c | grep -q 'P   N   G'"
done
m1=$(val "$csv" 1 2 water mean); mh=$(val "$csv" 0.5 2 water mean)
c1=$(val "$csv" 1 2 water cov_pct); ch=$(val "$csv" 0.5 2 water cov_pct); cq=$(val "$csv" 1 1 water cov_pct)
echo "water SUVmean $m1 (full) $mh (half dose); COV $c1 % (full, 2 s), $ch % (half, 2 s), $cq % (full, 1 s)"
check "half dose keeps the SUV" within "$(ratio "$mh" "$m1")" 0.97 1.03
check "half dose is noisier" within "$(ratio "$ch" "$c1")" 1.15 1.8
check "equal counts, equal noise" within "$(ratio "$ch" "$cq")" 0.9 1.1
check "ball contrast > 1" within "$(val "$csv" 1 2 ball contrast)" 1.5 10
check "CNR falls with the dose" within "$(ratio "$(val "$csv" 0.5 2 ball cnr)" "$(val "$csv" 1 2 ball cnr)")" 0.4 0.95

# ---- resuming
check "re-run" exit_code 0 "$lafov" study "$tmp/plan.txt" --out "$out" --workers 2
check "re-run skips everything" grep -qF "jobs 0 done, 6 skipped (finished earlier), 0 failed; 6 measured" "$tmp/out"
rm -rf "$out/recon/cyl_p0.5_d2_r2" "$out/thin/cyl_p0.5_r2.l" "$out/thin/cyl_p0.5_r2.l.hdr"
check "re-run after removals" exit_code 0 "$lafov" study "$tmp/plan.txt" --out "$out" --workers 2
check "only the removed are made again" grep -qF "jobs 2 done, 5 skipped (finished earlier), 0 failed; 6 measured" "$tmp/out"

# a study killed outright takes its running job with it; the next run finishes
kout=$tmp/killed
"$lafov" study "$tmp/plan.txt" --out "$kout" >"$tmp/kill.log" 2>&1 &
spid=$!
jpid=""
for _ in $(seq 200); do
  jpid=$(python3 -c "import json; j = [j for j in json.load(open('$kout/batch/recon/batch.json'))['jobs'] if j['state'] == 'running']; print(j[0]['pid'] if j else '')" 2>/dev/null)
  [ -n "$jpid" ] && break
  sleep 0.05
done
check "a recon job started" [ -n "$jpid" ]
{ kill -9 "$spid"; wait "$spid"; } 2>/dev/null
sleep 0.5
check "the running job died with the study" bash -c "! kill -0 '${jpid:-1}' 2>/dev/null || ! grep -q lafov /proc/'${jpid:-1}'/cmdline"
check "no results yet" test ! -e "$kout/results.csv"
check "next run finishes" exit_code 0 "$lafov" study "$tmp/plan.txt" --out "$kout" --workers 2
check "next run's results" [ "$(wc -l <"$kout/results.csv")" -eq 13 ]

# ---- refusals
sed 's/^seed := 3/seed := 4/' "$tmp/plan.txt" >"$tmp/other.txt"
check "another plan" exit_code 1 "$lafov" study "$tmp/other.txt" --out "$out"
check "another plan message" err_has "plan.txt holds another plan than" "--force"
printf 'metric := roi\nlabels := sim/truth_labels.nii.gz\nbogus := 1\n' >"$tmp/bad.txt"
check "unknown key" exit_code 1 "$lafov" study "$tmp/bad.txt" --out "$tmp/bad"
check "unknown key message" err_has "bad.txt: line 3: unknown key 'bogus'"
sed 's/^durations (s) := 2, 1/durations (s) := 2, 1, 5/' "$tmp/plan.txt" >"$tmp/long.txt"
check "beyond the scan" exit_code 1 "$lafov" study "$tmp/long.txt" --out "$tmp/long"
check "beyond the scan message" err_has "long.txt: acquisition cyl (line 10)" "duration 5 s ends after the scan"
sed 's/^recon options := /recon options := --out x /' "$tmp/plan.txt" >"$tmp/own.txt"
check "owned option" exit_code 1 "$lafov" study "$tmp/own.txt" --out "$tmp/own"
check "owned option message" err_has "own.txt: line 8: recon options" "--out is set by the study"
check "missing plan" exit_code 1 "$lafov" study "$tmp/none.txt" --out "$tmp/none"
check "missing plan message" err_has "none.txt: cannot open the study plan"
check "no --out" exit_code 2 "$lafov" study "$tmp/plan.txt"
check "bad --workers" exit_code 2 "$lafov" study "$tmp/plan.txt" --out "$out" --workers 0
check "bad --devices" exit_code 2 "$lafov" study "$tmp/plan.txt" --out "$out" --devices gpu0
check "study help" exit_code 0 "$lafov" study --help
check "study listed" bash -c "'$lafov' --help | grep -q '^  study '"

# ---- over two MPI ranks (an MPI build): each phase's job i on rank i mod 2, rank 0 measures
if command -v mpirun >/dev/null 2>&1 && ldd "$lafov" 2>/dev/null | grep -q libmpi; then
  sed 's/^durations (s) := 2, 1/durations (s) := 1/; /^compare/d' "$tmp/plan.txt" >"$tmp/mpi.txt"
  check "mpirun study" exit_code 0 mpirun --allow-run-as-root --oversubscribe -n 2 "$lafov" study "$tmp/mpi.txt" \
    --out "$tmp/mpi"
  check "a status file per rank" test -s "$tmp/mpi/batch/recon/batch.rank000.json" -a -s "$tmp/mpi/batch/recon/batch.rank001.json"
  check "mpirun results" [ "$(wc -l <"$tmp/mpi/results.csv")" -eq $((1 + 3 * 2)) ]
else
  echo "note: no mpirun or no MPI build; the MPI checks are skipped"
fi

echo "study cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
