#!/usr/bin/env bash
# End-to-end tests of `lafov recon` on the "small" test scanner (Quadra crystals on a 120 mm ring):
# a water cylinder (r 50 mm) with a 4:1 hot ball simulated with attenuation, no scatter or randoms,
# then reconstructed from its list mode and CT:
#  - quantitative: the cylinder's mean within 3 % of the truth (Bq/mL) in its central part, the hot ball
#    where the truth has it, SUV = Bq/mL x weight / dose;
#  - physics: without attenuation correction (non-TOF, converged) the centre drops to the value the
#    inverse Abel transform of the attenuated projections of a uniform disc predicts;
#  - files: every output, frames (frame_NN/, frames.json), --force, --resume giving the same image as an
#    uninterrupted run after a kill, errors naming the window / key / file, usage errors.
# usage: test_recon_cli.sh LAFOV_BINARY SOURCE_DIR   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
src=$2
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
export LAFOV_CACHE_DIR=$tmp/cache
# shellcheck source=tests/cli/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

sim=$tmp/sim
"$lafov" simulate --phantom "$src/tests/data/small_cylinder.phantom" --scanner small --activity-mbq 20 \
  --duration-s 2 --no-scatter --no-randoms --no-lu --uniform-efficiency --seed 5 --out "$sim" >"$tmp/sim.log" 2>&1 ||
  { echo "lafov simulate failed:"; cat "$tmp/sim.log"; exit 1; }

# --- the reconstruction with attenuation correction (the simulation has no scatter: --no-scatter, since a tail
# fit would take the few trues that resolution puts outside the body for scatter; the runs below keep it on) ---
r=$tmp/ac
check "recon" exit_code 0 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --voxel-mm 3.3 --no-scatter --out "$r" --json
for f in image_bqml.nii.gz image_suv.nii.gz mumap.nii.gz recon.h5 mip.png slices.png recon.log; do
  check "recon wrote $f" test -s "$r/$f"
done
check "no checkpoint left" test ! -e "$r/checkpoint.hdr"
check "no temporary files left" test -z "$(find "$r" -name '*.tmp.*')"
check "json summary" grep -q '"prompts_used": [1-9]' "$tmp/out"
check "log names every stage" grep -q "sensitivity" "$r/recon.log"
check "log names the calibration" grep -q "calibration: nominal" "$r/recon.log"
roi() { # roi IMAGE OUT [options]: ROI statistics against the truth, central part of the cylinder
  local img=$1 out=$2; shift 2
  "$lafov" roi "$img" --labels "$sim/truth_labels.nii.gz" --truth "$sim/truth_activity.nii.gz" \
    --names "$sim/truth.json" --out "$out" "$@" >/dev/null 2>"$tmp/roi.err" || { cat "$tmp/roi.err"; return 1; }
}
check "roi of the image" roi "$r/image_bqml.nii.gz" "$tmp/ac.csv" --erode-mm 6 --z-range -28,28
rec=$(col "$tmp/ac.csv" water recovery_pct)
echo "cylinder recovery (AC, central part): $rec %"
check "cylinder within 3 % of the truth" within "$rec" 97 103
ball=$(col "$tmp/ac.csv" ball mean)
water=$(col "$tmp/ac.csv" water mean)
echo "hot ball / background: $(awk -v b="$ball" -v w="$water" 'BEGIN { printf "%.2f", b / w }') (truth 4)"
check "the hot ball sits where the truth has it" within "$(awk -v b="$ball" -v w="$water" 'BEGIN { print b / w }')" 2.5 4.5
# SUVbw = Bq/mL x weight (70 kg) / activity at the scan start (20 MBq, uptake 0)
check "roi of the SUV image" roi "$r/image_suv.nii.gz" "$tmp/suv.csv" --erode-mm 6 --z-range -28,28
suv=$(col "$tmp/suv.csv" water mean)
check "SUV = Bq/mL x 70000 g / 20 MBq" within "$(awk -v s="$suv" -v w="$water" 'BEGIN { print s / w / (70000 / 20e6) }')" 0.999 1.001

# --- no attenuation correction: the centre value physics predicts ---
# A converged non-TOF reconstruction of uniform-disc data attenuated by exp(-mu*chord) is the inverse
# Abel transform of p(s) = 2h exp(-2 mu h), h = sqrt(R^2 - s^2): its mean over r < 15 mm, for R = 50 mm
# and mu = 0.096/cm (the axial obliquity of this scanner, cos > 0.96, changes it by < 1 %).
pred=$(awk 'function p(s,  h) { h = sqrt(R * R - s * s); return 2 * h * exp(-2 * mu * h) }
  function f(r,  N, T, i, t, s, d, tot) { N = 4000; T = sqrt(R * R - r * r); tot = 0
    for (i = 0; i < N; i++) { t = (i + 0.5) * T / N; s = sqrt(r * r + t * t); d = 1e-3
      if (s + d >= R) d = (R - s) / 2
      tot += (p(s + d) - p(s - d)) / (2 * d) / s * T / N }
    return -tot / 3.141592653589793 }
  BEGIN { R = 50; mu = 0.0096; a = 0; w = 0
    for (r = 0.25; r < 15; r += 0.5) { a += f(r) * r; w += r }
    printf "%.4f", a / w }')
n=$tmp/nac
check "recon --no-attenuation" exit_code 0 "$lafov" recon "$sim/acq.l" --no-attenuation --no-tof --iterations 10 \
  --voxel-mm 3.3 --out "$n"
check "no mumap without attenuation" test ! -e "$n/mumap.nii.gz"
check "roi of the NAC image" roi "$n/image_bqml.nii.gz" "$tmp/nac.csv" --z-range -20,20 --radius-mm 15 --label 1
nac=$(col "$tmp/nac.csv" water recovery_pct)
echo "NAC centre (r < 15 mm): $nac % of the truth; inverse Abel prediction $(awk -v p="$pred" 'BEGIN { printf "%.1f", 100 * p }') %"
check "NAC centre as physics predicts (10 %)" within "$(awk -v n="$nac" -v p="$pred" 'BEGIN { print n / 100 / p }')" 0.9 1.1

# --- outputs are never overwritten silently ---
check "existing results refused" exit_code 1 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --out "$r"
check "refusal names --force" err_has "already holds results" "--force"
check "--force overwrites" exit_code 0 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --iterations 1 --out "$r" --force
# scatter correction (recon/scatter.h) is on by default: three estimates, after 2, 4 and 6 preliminary iterations
check "scatter estimated three times" grep -q "scatter estimate 3 of 3 (after 6 OSEM iterations)" "$r/recon.log"
check "scatter tail fit logged" grep -q "tail fit on [0-9]* prompts" "$r/recon.log"

# --- frames: one image per window, from one pass ---
f=$tmp/frames
check "two frames" exit_code 0 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --frames 0-1,1-2 --iterations 2 --out "$f"
check "frame_01" test -s "$f/frame_01/image_bqml.nii.gz"
check "frame_02" test -s "$f/frame_02/recon.h5"
check "frames.json" grep -q '"frame_02"' "$f/frames.json"
check "roi frame 2" roi "$f/frame_02/image_bqml.nii.gz" "$tmp/f2.csv" --erode-mm 6 --z-range -28,28
check "frame 2 quantitative (5 %)" within "$(col "$tmp/f2.csv" water recovery_pct)" 95 105
check "m:ss windows" exit_code 0 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --frames 0:00-0:01 --exclude 0.5-0.6 \
  --iterations 1 --out "$tmp/mss"
check "kept windows logged" grep -q "0-0.5, 0.6-1 s" "$tmp/mss/recon.log"

# --- respiratory gating from the stream's trigger tags ---
"$lafov" simulate --phantom "$src/tests/data/small_cylinder.phantom" --scanner small --activity-mbq 10 \
  --duration-s 1.5 --resp 0.25:5 --no-scatter --no-randoms --no-lu --no-ct --seed 6 --out "$tmp/resp" >/dev/null 2>&1 ||
  echo "FAIL: lafov simulate --resp"
check "gated recon" exit_code 0 "$lafov" recon "$tmp/resp/acq.l" --no-attenuation --gate resp:3 --iterations 1 \
  --out "$tmp/gated"
check "gate 3 written" test -s "$tmp/gated/frame_03/image_bqml.nii.gz"
check "no gate 4" test ! -e "$tmp/gated/frame_04"
check "gating logged" grep -q "respiratory triggers, 5 regular cycles" "$tmp/gated/recon.log"
check "bad --gate" exit_code 2 "$lafov" recon "$tmp/resp/acq.l" --no-attenuation --gate breath:3 --out "$tmp/g2"
check "no triggers" exit_code 1 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --gate resp:3 --out "$tmp/g3"
check "no triggers message" err_has "trigger"

# --- --resume after a kill gives the uninterrupted image ---
full=$tmp/full
check "uninterrupted" exit_code 0 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --iterations 6 --subsets 2 --out "$full"
part=$tmp/part
"$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --iterations 6 --subsets 2 --out "$part" >/dev/null 2>&1 &
pid=$!
# wait for the first checkpoint while the run lives (the scatter pre-pass can take minutes under the sanitizers)
for _ in $(seq 1 24000); do
  [ -e "$part/checkpoint.hdr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ -e "$part/checkpoint.hdr" ] && [ ! -e "$part/recon.h5" ]; then
  done_it=$(sed -n 's/^iterations done := //p' "$part/checkpoint.hdr")
  echo "killed after iteration $done_it of 6"
  check "rerun without --resume refused" exit_code 1 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --iterations 6 \
    --subsets 2 --out "$part"
  check "--resume" exit_code 0 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --iterations 6 --subsets 2 --out "$part" --resume
  check "resume logged" grep -q "resuming after iteration $done_it" "$part/recon.log"
  check "roi full" roi "$full/image_bqml.nii.gz" "$tmp/full.csv"
  check "roi resumed" roi "$part/image_bqml.nii.gz" "$tmp/part.csv"
  check "resumed image equals the uninterrupted one" cmp -s "$tmp/full.csv" "$tmp/part.csv"
else
  echo "FAIL: no checkpoint seen before the run ended or 20 min passed"
  fail=$((fail + 1))
fi

# --- errors and usage ---
check "window beyond the data" exit_code 1 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --frames 1-9 --out "$tmp/e1"
check "window error names the window" err_has "1-9" "after the end of the data"
check "reversed window" exit_code 1 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --frames 2-1 --out "$tmp/e2"
check "reversed window message" err_has "item 1" "2-1"
check "MRD beyond the stream" exit_code 1 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --mrd 99 --out "$tmp/e3"
check "MRD message" err_has "--mrd 99" "never recorded"
check "missing CT" exit_code 1 "$lafov" recon "$sim/acq.l" --ct "$tmp/nope.nii.gz" --out "$tmp/e4"
check "missing CT message" err_has "nope.nii.gz"
check "missing acquisition" exit_code 1 "$lafov" recon "$tmp/nope.l" --ct "$sim/ct.nii.gz" --out "$tmp/e5"
check "no output folder for a failed run" test ! -e "$tmp/e5/image_bqml.nii.gz"
check "--help" exit_code 0 "$lafov" recon --help
check "no --out" exit_code 2 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz"
check "no --ct" exit_code 2 "$lafov" recon "$sim/acq.l" --out "$tmp/e6"
check "bad --grid" exit_code 2 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --grid 10,10 --out "$tmp/e7"
check "--force with --resume" exit_code 2 "$lafov" recon "$sim/acq.l" --ct "$sim/ct.nii.gz" --force --resume --out "$tmp/e8"

# --- randoms from delayeds (recon/randoms.h): on by default; these streams hold no delayeds (simulated with
# --no-randoms): an additive term of 0 with a warning, not an error ---
check "randoms on by default" grep -q "randoms: from each frame's delayeds" "$r/recon.log"
check "no delayeds: randoms 0, warned" grep -q "no delayeds within MRD" "$r/recon.log"
check "--no-randoms accepted (the run then fails on its window, not on usage)" exit_code 1 "$lafov" recon "$sim/acq.l" \
  --ct "$sim/ct.nii.gz" --no-randoms --frames 1-9 --out "$tmp/e9"
check "--no-randoms run's error is the window's" err_has "after the end of the data"

echo "recon_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
