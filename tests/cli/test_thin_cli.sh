#!/usr/bin/env bash
# End-to-end tests of `lafov thin` and `lafov batch` on a short simulation (small scanner, the water
# cylinder with a hot ball, 10 MBq, 1 s, randoms on so that delayeds exist):
#  - thin: two replicates at p = 1/2 that together hold every prompt and every delayed, each near half,
#    every time marker kept, the header's count fraction, emulated activity and provenance; refusals
#    (existing output, the input, n·p > 1, k > n, p outside (0, 1], PETLINK) with their exit codes;
#  - batch: reconstructions of the scan and of a replicate as concurrent jobs (with a failing job beside
#    them), batch.json, logs, exit codes; the replicate reconstructs to the scan's Bq/mL and SUV (the count
#    fraction at work); a re-run skips finished jobs; a batch killed with SIGKILL takes its running job
#    with it, and the next run finishes that job (recon --resume); usage errors.
# usage: test_thin_cli.sh LAFOV_BINARY SOURCE_DIR   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
src=$2
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
export LAFOV_CACHE_DIR=$tmp/cache
# shellcheck source=tests/cli/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
json() { # json FILE PYTHON-EXPRESSION-ON-d
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"
}
key() { # key HEADER NAME: the value of an Interfile key
  sed -n "s/^$2:=//p" "$1"
}

sim=$tmp/sim
"$lafov" simulate --phantom "$src/tests/data/small_cylinder.phantom" --scanner small --activity-mbq 10 \
  --duration-s 1 --no-scatter --no-ct --seed 8 --out "$sim" >"$tmp/sim.log" 2>&1 ||
  { echo "lafov simulate failed:"; cat "$tmp/sim.log"; exit 1; }
acq=$sim/acq.l
"$lafov" info "$acq" --json >"$tmp/in.json" || { echo "lafov info failed"; exit 1; }
P=$(json "$tmp/in.json" 'd["prompts"]')
D=$(json "$tmp/in.json" 'd["delayeds"]')
check "input has delayeds" [ "$D" -gt 100 ]

# ---- two disjoint replicates at p = 1/2
for k in 1 2; do
  check "thin replicate $k" exit_code 0 "$lafov" thin "$acq" --fraction 1/2 --replicate $k --of 2 --seed 11 \
    --out "$tmp/half$k.l"
  check "thin message $k" grep -qF "wrote $tmp/half$k.l: replicate $k of 2 at p = 0.5 (seed 11)" "$tmp/out"
  "$lafov" info "$tmp/half$k.l" --json >"$tmp/half$k.json"
done
p1=$(json "$tmp/half1.json" 'd["prompts"]'); p2=$(json "$tmp/half2.json" 'd["prompts"]')
d1=$(json "$tmp/half1.json" 'd["delayeds"]'); d2=$(json "$tmp/half2.json" 'd["delayeds"]')
echo "prompts $P = $p1 + $p2, delayeds $D = $d1 + $d2"
check "prompts partitioned" [ $((p1 + p2)) -eq "$P" ]
check "delayeds partitioned" [ $((d1 + d2)) -eq "$D" ]
# binomial: |k - N/2| < 5 sqrt(N/4)
check "prompts near half" python3 -c "import sys; sys.exit(abs($p1 - $P / 2) > 5 * ($P / 4) ** 0.5)"
check "delayeds near half" python3 -c "import sys; sys.exit(abs($d1 - $D / 2) > 5 * ($D / 4) ** 0.5)"
check "every marker kept" [ "$(json "$tmp/half1.json" 'd["time_markers"]')" -eq "$(json "$tmp/in.json" 'd["time_markers"]')" ]
check "no warnings" [ "$(json "$tmp/half1.json" 'len(d["warnings"])')" -eq 0 ]
h=$tmp/half2.l.hdr
check "count fraction halved" [ "$(key "$h" '%lafov count fraction')" = "0.5" ]
check "injected activity kept" [ "$(key "$h" 'tracer activity at time of injection (Bq)')" = \
  "$(key "$acq.hdr" 'tracer activity at time of injection (Bq)')" ]
check "emulated activity" within "$(key "$h" '%lafov emulated activity at time of injection (Bq)')" 4.99999e6 5.00001e6
check "provenance" [ "$(key "$h" '%lafov thinned from')|$(key "$h" '%lafov thinning fraction')|$(key "$h" \
  '%lafov thinning replicate')|$(key "$h" '%lafov thinning of')|$(key "$h" '%lafov thinning seed')" = "$acq|0.5|2|2|11" ]
check "p = 1 keeps everything" exit_code 0 "$lafov" thin "$acq" --fraction 1 --seed 1 --out "$tmp/all.l"
check "p = 1 counts" grep -qF "$P of $P prompts, $D of $D delayeds" "$tmp/out"

# ---- refusals
check "existing output" exit_code 1 "$lafov" thin "$acq" --fraction 0.5 --seed 2 --out "$tmp/half1.l"
check "existing output message" err_has "half1.l" "--force"
check "unchanged without --force" [ "$(key "$tmp/half1.l.hdr" '%lafov thinning seed')" = 11 ]
check "--force" exit_code 0 "$lafov" thin "$acq" --fraction 0.5 --seed 2 --out "$tmp/half1.l" --force
check "--force replaced" [ "$(key "$tmp/half1.l.hdr" '%lafov thinning seed')" = 2 ]
check "output is input" exit_code 1 "$lafov" thin "$acq" --fraction 0.5 --seed 2 --out "$acq" --force
check "output is input message" err_has "the output is the input"
check "n·p > 1" exit_code 2 "$lafov" thin "$acq" --fraction 0.4 --replicate 1 --of 3 --seed 2 --out "$tmp/x.l"
check "n·p message" err_has "--of 3" "n·p = 1.2"
check "k > n" exit_code 2 "$lafov" thin "$acq" --fraction 0.25 --replicate 5 --of 4 --seed 2 --out "$tmp/x.l"
check "k > n message" err_has "--replicate 5"
check "p = 0" exit_code 2 "$lafov" thin "$acq" --fraction 0 --seed 2 --out "$tmp/x.l"
check "p > 1" exit_code 2 "$lafov" thin "$acq" --fraction 1.5 --seed 2 --out "$tmp/x.l"
check "p message" err_has "--fraction '1.5'" "0 < p <= 1"
check "bad p" exit_code 2 "$lafov" thin "$acq" --fraction half --seed 2 --out "$tmp/x.l"
check "--replicate without --of" exit_code 2 "$lafov" thin "$acq" --fraction 0.5 --replicate 1 --seed 2 --out "$tmp/x.l"
check "no --seed" exit_code 2 "$lafov" thin "$acq" --fraction 0.5 --out "$tmp/x.l"
check "bad --seed" exit_code 2 "$lafov" thin "$acq" --fraction 0.5 --seed -3 --out "$tmp/x.l"
check "no --out" exit_code 2 "$lafov" thin "$acq" --fraction 0.5 --seed 1
check "missing input" exit_code 1 "$lafov" thin "$tmp/nope.l" --fraction 0.5 --seed 1 --out "$tmp/x.l"
check "missing input message" err_has "nope.l"
check "nothing written on failure" [ ! -e "$tmp/x.l" ]
mmr=$src/../shared/data/mmr/small_listmode_file.l
if [ -f "$mmr" ]; then
  check "PETLINK refused" exit_code 1 "$lafov" thin "$mmr" --fraction 0.5 --seed 1 --out "$tmp/x.l"
  check "PETLINK message" err_has "PETLINK 32-bit"
fi
check "thin help" exit_code 0 "$lafov" thin --help
check "thin listed" bash -c "'$lafov' --help | grep -q '^  thin '"

# ---- batch: the scan and a replicate reconstructed side by side, a failing job beside them
cp "$tmp/half2.l" "$tmp/half2.l.hdr" "$sim/"
cat >"$sim/jobs.txt" <<'EOF'
# reconstructions of the scan and of its half-dose replicate
full   recon acq.l   --no-attenuation --iterations 1 --voxel-mm 3.3 --out r/full
half   recon half2.l --no-attenuation --iterations 1 --voxel-mm 3.3 --out "r/half 2"
look   info acq.l --json
broken info missing.l
EOF
check "batch with a failing job" exit_code 1 "$lafov" batch "$sim/jobs.txt" --workers 2
check "batch summary" grep -qF "4 job(s): 3 done, 0 skipped (finished earlier), 1 failed" "$tmp/out"
st=$sim/jobs.batch
check "batch.json states" [ "$(json "$st/batch.json" '",".join(j["state"] for j in d["jobs"])')" = "done,done,done,failed" ]
check "batch.json exit code" [ "$(json "$st/batch.json" 'd["jobs"][3]["exit_code"]')" = 1 ]
check "batch.json device" [ "$(json "$st/batch.json" 'd["jobs"][0]["device"]')" = cpu ]
check "job logs" grep -q '"prompts"' "$st/logs/look.log"
check "failed job's log" grep -q "missing.l" "$st/logs/broken.log"
check "recon got --resume and --device" grep -q "batch added: --resume --device cpu" "$st/logs/full.log"
check "both images" test -s "$sim/r/full/recon.h5" -a -s "$sim/r/half 2/recon.h5"
roi() { # roi IMAGE: mean of the cylinder's central part
  "$lafov" roi "$1" --labels "$sim/truth_labels.nii.gz" --names "$sim/truth.json" --erode-mm 6 --z-range -28,28 \
    --label 1 --out "$tmp/roi.csv" >/dev/null 2>&1 && awk -F, 'NR == 2 { print $5 }' "$tmp/roi.csv"
}
full=$(roi "$sim/r/full/image_bqml.nii.gz"); half=$(roi "$sim/r/half 2/image_bqml.nii.gz")
sfull=$(roi "$sim/r/full/image_suv.nii.gz"); shalf=$(roi "$sim/r/half 2/image_suv.nii.gz")
echo "cylinder: $full Bq/mL (scan), $half Bq/mL (half-dose replicate); SUV $sfull, $shalf"
check "replicate's Bq/mL = the scan's" within "$(awk -v a="$half" -v b="$full" 'BEGIN { print a / b }')" 0.97 1.03
check "replicate's SUV = the scan's" within "$(awk -v a="$shalf" -v b="$sfull" 'BEGIN { print a / b }')" 0.97 1.03
# a re-run skips what finished; the broken job fails again
check "re-run" exit_code 1 "$lafov" batch "$sim/jobs.txt" --workers 2
check "re-run skips" grep -qF "4 job(s): 0 done, 3 skipped (finished earlier), 1 failed" "$tmp/out"
sed -i '/^broken/d' "$sim/jobs.txt"
check "fixed manifest" exit_code 0 "$lafov" batch "$sim/jobs.txt"
check "fixed summary" grep -qF "3 job(s): 0 done, 3 skipped" "$tmp/out"

# ---- a batch killed outright takes its running job with it; the next run finishes it
printf 'again recon acq.l --no-attenuation --iterations 40 --voxel-mm 3.3 --out r/again\n' >"$sim/kill.txt"
"$lafov" batch "$sim/kill.txt" --state "$tmp/kill.batch" >"$tmp/kill.log" 2>&1 &
bpid=$!
jpid=""
for _ in $(seq 100); do
  jpid=$(python3 -c "import json; j = json.load(open('$tmp/kill.batch/batch.json'))['jobs'][0]; print(j.get('pid', ''))" 2>/dev/null)
  [ -n "$jpid" ] && break
  sleep 0.1
done
check "job started" [ -n "$jpid" ]
sleep 0.3
{ kill -9 "$bpid"; wait "$bpid"; } 2>/dev/null
sleep 0.5
check "the running job died with the batch" bash -c "! kill -0 '${jpid:-1}' 2>/dev/null || ! grep -q lafov /proc/'${jpid:-1}'/cmdline"
check "killed job not recorded done" test ! -e "$tmp/kill.batch/done/again.done"
check "next run finishes it" exit_code 0 "$lafov" batch "$sim/kill.txt" --state "$tmp/kill.batch"
check "finished image" test -s "$sim/r/again/recon.h5"

# ---- over MPI ranks: job i on rank i mod 2 (with MPI rank 0 prints the sums; without, each rank its own)
if command -v mpirun >/dev/null 2>&1; then
  printf 'm0 info acq.l\nm1 info acq.l\nm2 info acq.l\nm3 info missing.l\n' >"$sim/mpi.txt"
  check "mpirun batch with a failing job" exit_code 1 mpirun --allow-run-as-root --oversubscribe -n 2 \
    "$lafov" batch "$sim/mpi.txt"
  cp "$tmp/out" "$tmp/mpi_batch_out"
  check "a status file per rank" test -s "$sim/mpi.batch/batch.rank000.json" -a -s "$sim/mpi.batch/batch.rank001.json"
  check "rank 0 ran jobs 0 and 2" [ "$(json "$sim/mpi.batch/batch.rank000.json" '",".join(j["name"] + ":" + j["state"] for j in d["jobs"])')" = "m0:done,m2:done" ]
  check "rank 1 ran jobs 1 and 3" [ "$(json "$sim/mpi.batch/batch.rank001.json" '",".join(j["name"] + ":" + j["state"] for j in d["jobs"])')" = "m1:done,m3:failed" ]
  if "$lafov" --version >/dev/null && ldd "$lafov" 2>/dev/null | grep -q libmpi; then
    check "rank 0 prints the sums" grep -qF "4 job(s): 3 done, 0 skipped (finished earlier), 1 failed" "$tmp/mpi_batch_out"
  fi
  sed -i '/^m3/d' "$sim/mpi.txt"
  check "mpirun re-run" exit_code 0 mpirun --allow-run-as-root --oversubscribe -n 2 "$lafov" batch "$sim/mpi.txt"
  if ldd "$lafov" 2>/dev/null | grep -q libmpi; then
    # one reconstruction split over 3 ranks (events in blocks, back projections all-reduced) gives the image
    # of one process, up to the order of float additions (randoms on; this scan has no CT)
    rargs=(recon "$sim/acq.l" --no-attenuation --voxel-mm 6 --iterations 2 --subsets 4 --force)
    check "recon, one process" exit_code 0 env OMP_NUM_THREADS=1 "$lafov" "${rargs[@]}" --out "$tmp/mpi1"
    check "recon over 3 ranks" exit_code 0 mpirun --allow-run-as-root --oversubscribe -n 3 -x OMP_NUM_THREADS=1 \
      "$lafov" "${rargs[@]}" --out "$tmp/mpi3"
    check "the split is logged" grep -q "process 1 of 3 reconstructs" "$tmp/mpi3/recon.log"
    check "3 ranks give the one-process image (relative L2 < 1e-5)" python3 - "$tmp/mpi1/image_bqml.nii.gz" \
      "$tmp/mpi3/image_bqml.nii.gz" <<'PY'
import gzip, math, struct, sys
def load(p):
    b = gzip.open(p).read()
    off = int(struct.unpack("<f", b[108:112])[0])
    return struct.unpack("<%df" % ((len(b) - off) // 4), b[off:])
a, b = load(sys.argv[1]), load(sys.argv[2])
num = sum((x - y) ** 2 for x, y in zip(a, b))
den = sum(x * x for x in a)
print("  relative L2 %.3g over %d voxels" % (math.sqrt(num / den), len(a)))
sys.exit(0 if len(a) == len(b) and den > 0 and math.sqrt(num / den) < 1e-5 else 1)
PY
    check "a failing rank ends them all" exit_code 1 timeout 60 mpirun --allow-run-as-root --oversubscribe -n 2 \
      "$lafov" "${rargs[@]}" --frames 5-9 --out "$tmp/mpi_bad"
  fi
else
  echo "note: no mpirun; the MPI checks are skipped"
fi

# ---- batch usage and input errors
check "bad --workers" exit_code 2 "$lafov" batch "$sim/jobs.txt" --workers 0
check "bad --devices" exit_code 2 "$lafov" batch "$sim/jobs.txt" --devices gpu0
check "bad --devices message" err_has "--devices" "'gpu0'"
check "no manifest" exit_code 2 "$lafov" batch
check "missing manifest" exit_code 1 "$lafov" batch "$tmp/none.txt"
check "missing manifest message" err_has "none.txt"
printf 'a info x\na info y\n' >"$tmp/dup.txt"
check "duplicate name" exit_code 1 "$lafov" batch "$tmp/dup.txt"
check "duplicate name message" err_has "dup.txt: line 2" "already used on line 1"
check "batch help" exit_code 0 "$lafov" batch --help
check "batch listed" bash -c "'$lafov' --help | grep -q '^  batch '"

echo "thin cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
