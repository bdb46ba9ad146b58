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
