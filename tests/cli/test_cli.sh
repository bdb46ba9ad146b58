#!/usr/bin/env bash
# End-to-end tests of the lafov CLI: exit codes, help, and the outputs of info/qc on the real mMR sample.
# usage: test_cli.sh LAFOV_BINARY SHARED_DATA_DIR
set -u
lafov=$1
shared=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
exit_code() { # exit_code EXPECTED COMMAND...
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || { echo "  '$*' exited $got, expected $want"; cat "$tmp/err"; return 1; }
}

check "version" exit_code 0 "$lafov" --version
check "version text" grep -q '^lafov [0-9]' "$tmp/out"
check "help" exit_code 0 "$lafov" --help
check "help lists qc" grep -q 'qc' "$tmp/out"
check "no command" exit_code 2 "$lafov"
check "unknown command" exit_code 2 "$lafov" frobnicate
for c in info qc; do
  check "$c --help" exit_code 0 "$lafov" $c --help
  check "$c bad option" exit_code 2 "$lafov" $c --no-such-option x
done
check "qc needs --out" exit_code 2 "$lafov" qc somefile.l
check "missing file" exit_code 1 "$lafov" info "$tmp/none.l"
check "missing file message" grep -q "$tmp/none.l" "$tmp/err"
: >"$tmp/empty.l"
check "missing header" exit_code 1 "$lafov" info "$tmp/empty.l"
check "missing header message" grep -q "empty.l.hdr" "$tmp/err"

# lafov simulate: a small IEC acquisition, its files, and lafov info reading it back (no python/jq: the
# numbers are pulled out of the JSON with sed).
json_num() { # json_num KEY FILE: the number of the first "KEY": in FILE
  sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$2" | head -1
}
same_num() { # same_num A B: both non-empty and equal
  [ -n "$1" ] && [ -n "$2" ] && [ "$1" -eq "$2" ] || { echo "  '$1' != '$2'"; return 1; }
}
check "simulate --help" exit_code 0 "$lafov" simulate --help
check "simulate bad option" exit_code 2 "$lafov" simulate --no-such-option x
check "simulate" exit_code 0 "$lafov" simulate --phantom iec --activity-mbq 5 --duration-s 0.2 --no-ct \
  --truth-voxel-mm 8 --out "$tmp/sim"
for f in acq.l acq.l.hdr truth.json truth_activity.nii.gz truth_mu.nii.gz truth_labels.nii.gz crystal_efficiency.csv; do
  check "simulate wrote $f" test -s "$tmp/sim/$f"
done
check "simulate --no-ct: no CT" test ! -e "$tmp/sim/ct.nii.gz"
# lafov view: a slice of a simulated truth image as a PNG
check "view" exit_code 0 "$lafov" view "$tmp/sim/truth_activity.nii.gz" --plane axial --out "$tmp/view.png"
check "view png" test "$(head -c 8 "$tmp/view.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a"
check "view bad plane" exit_code 2 "$lafov" view "$tmp/sim/truth_activity.nii.gz" --plane oblique --out "$tmp/v2.png"
check "view missing file" exit_code 1 "$lafov" view "$tmp/none.nii.gz" --out "$tmp/v3.png"
check "view missing file names it" grep -q "none.nii.gz" "$tmp/err"
check "view wrote nothing on error" test ! -e "$tmp/v3.png"
# two MIPs side by side: as wide as two single ones and the 8-pixel gap
png_width() { od -An -tu1 -j16 -N4 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }'; }
check "view --mip" exit_code 0 "$lafov" view "$tmp/sim/truth_activity.nii.gz" --mip --out "$tmp/mip1.png"
check "view two --mip" exit_code 0 "$lafov" view "$tmp/sim/truth_activity.nii.gz" "$tmp/sim/truth_mu.nii.gz" --mip \
  --window 0,1 --out "$tmp/mip2.png"
check "side by side width" same_num "$(png_width "$tmp/mip2.png")" "$(( $(png_width "$tmp/mip1.png") * 2 + 8 ))"
check "view --mip with --index refused" exit_code 2 "$lafov" view "$tmp/sim/truth_activity.nii.gz" --mip --index 3 \
  --out "$tmp/v4.png"
check "info on simulated" exit_code 0 "$lafov" info "$tmp/sim/acq.l" --json
cp "$tmp/out" "$tmp/sim_info.json"
# truth.json's counts object; lafov info's top-level prompts/delayeds come before its count_rate list
sed -n '/"counts": {/,/}/p' "$tmp/sim/truth.json" >"$tmp/sim_counts.json"
check "simulated prompts match truth" same_num "$(json_num prompts "$tmp/sim_info.json")" \
  "$(json_num prompts "$tmp/sim_counts.json")"
check "simulated delayeds match truth" same_num "$(json_num delayeds "$tmp/sim_info.json")" \
  "$(json_num delayeds "$tmp/sim_counts.json")"
check "simulated prompts > 0" test "$(json_num prompts "$tmp/sim_counts.json")" -gt 0
check "simulated time markers" grep -qF '"time_markers": 200' "$tmp/sim_info.json"
check "simulated stream clean" grep -qF '"invalid_events": 0' "$tmp/sim_info.json"
# with the CT, on a coarse grid
check "simulate with CT" exit_code 0 "$lafov" simulate --phantom iec --activity-mbq 1 --duration-s 0.05 \
  --truth-voxel-mm 8 --ct-matrix 64 --ct-pixel-mm 8 --ct-slice-mm 20 --out "$tmp/simct"
check "simulate wrote ct.nii.gz" test -s "$tmp/simct/ct.nii.gz"
check "simulate wrote ct/" test -d "$tmp/simct/ct"
check "simulate ct/ has DICOM files" test "$(ls "$tmp/simct/ct" | grep -c '\.dcm$')" -gt 0
check "simulate needs --out" exit_code 2 "$lafov" simulate --phantom iec --activity-mbq 5 --duration-s 0.2
check "simulate needs --out message" grep -q -- '--out' "$tmp/err"
check "simulate one activity" exit_code 2 "$lafov" simulate --phantom iec --activity-mbq 5 --activity-mbq-per-kg 0.1 \
  --duration-s 0.2 --out "$tmp/sim2"
check "simulate one activity: nothing written" test ! -e "$tmp/sim2"
check "simulate unknown phantom" exit_code 1 "$lafov" simulate --phantom no_such_phantom --activity-mbq 1 \
  --duration-s 0.05 --no-ct --out "$tmp/sim3"
check "simulate unknown phantom message" grep -q 'no_such_phantom' "$tmp/err"

mmr="$shared/mmr/small_listmode_file.l"
if [ ! -r "$mmr" ]; then
  echo "the mMR sample is not at $mmr: real-data checks skipped"
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ] && exit 77 || exit 1
fi

check "info" exit_code 0 "$lafov" info "$mmr"
check "info prompts" grep -q '^prompts *218881$' "$tmp/out"
check "info json" exit_code 0 "$lafov" info "$mmr" --json
cp "$tmp/out" "$tmp/info.json"
for kv in '"prompts": 218881' '"delayeds": 35320' '"time_markers": 613' '"duration_ms": 613' '"time": 613' \
          '"singles": 1' '"gating": 0' '"control": 1' '"bed": 0' '"unknown_tags": 0' '"invalid_events": 0'; do
  check "info json $kv" grep -qF "$kv" "$tmp/info.json"
done
check "info json tags object" grep -qF '"tags": {' "$tmp/info.json"
check "info via header" exit_code 0 "$lafov" info "$mmr.hdr" --json
check "same json via header" diff <(grep -v '"file"' "$tmp/info.json") <(grep -v '"file"' "$tmp/out")

check "qc" exit_code 0 "$lafov" qc "$mmr" --out "$tmp/qc"
check "qc csv header" test "$(head -1 "$tmp/qc/crystal_counts.csv")" = "ring,crystal,prompts,delayeds"
check "qc csv rows" test "$(wc -l <"$tmp/qc/crystal_counts.csv")" -eq $((64 * 504 + 1))
# fan sums add up to two crystals per event, and virtual crystals (index 0 of each block of 9) are empty
check "qc csv totals" awk -F, 'NR > 1 { p += $3; d += $4; if ($2 % 9 == 0) v += $3 + $4 }
  END { exit !(p == 2 * 218881 && d == 2 * 35320 && v == 0) }' "$tmp/qc/crystal_counts.csv"
check "qc png" test "$(head -c 8 "$tmp/qc/crystal_map.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a"
check "qc json" grep -qF '"zero_count_blocks": 0' "$tmp/qc/qc.json"
check "qc no temp files" test "$(ls "$tmp/qc" | wc -l)" -eq 3
# a failing run leaves earlier outputs untouched
cp "$tmp/qc/crystal_counts.csv" "$tmp/before.csv"
check "qc bad input" exit_code 1 "$lafov" qc "$tmp/empty.l" --out "$tmp/qc"
check "qc outputs kept" cmp -s "$tmp/before.csv" "$tmp/qc/crystal_counts.csv"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
