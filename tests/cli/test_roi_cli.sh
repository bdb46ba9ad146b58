#!/usr/bin/env bash
# End-to-end tests of `lafov roi`: inputs made by `lafov simulate` (IEC phantom on the mini scanner,
# 0.05 s, no CT: truth_activity, truth_labels, truth.json in well under a second), then the truth
# against itself (recovery 100 for every label with activity), names from truth.json, the CSV format,
# --out (atomic, same content), --json, erosion / axial range / radial limit / label selection, a
# truth image on a coarser grid (general resampling), and exit codes and messages on bad input.
# usage: test_roi_cli.sh LAFOV_BINARY   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
# col FILE LABEL COLUMN: a field of the CSV row of LABEL (no quoted commas in these names)
col() {
  awk -F, -v l="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
                                $1 == l { print $h[c] }' "$1"
}

sim=$tmp/sim
"$lafov" simulate --phantom iec --scanner mini --activity-mbq 1 --duration-s 0.05 --no-ct --seed 3 \
  --out "$sim" >"$tmp/sim.log" 2>&1 || { echo "lafov simulate failed:"; cat "$tmp/sim.log"; exit 1; }
"$lafov" simulate --phantom iec --scanner mini --activity-mbq 1 --duration-s 0.05 --no-ct --seed 3 \
  --truth-voxel-mm 4 --out "$tmp/sim4" >"$tmp/sim4.log" 2>&1 || { echo "lafov simulate (4 mm) failed:"; cat "$tmp/sim4.log"; exit 1; }
act=$sim/truth_activity.nii.gz
lab=$sim/truth_labels.nii.gz

# ---- the truth against itself: recovery 100 % for every label with activity
header='label,name,voxels,volume_ml,mean,sd,cov_pct,min,max,peak,truth_mean,recovery_pct'
check "roi truth vs truth" exit_code 0 "$lafov" roi "$act" --labels "$lab" --truth "$act" --names "$sim/truth.json"
cp "$tmp/out" "$tmp/all.csv"
check "header" [ "$(head -n 1 "$tmp/all.csv")" = "$header" ]
check "8 IEC labels" [ "$(wc -l <"$tmp/all.csv")" -eq 9 ]
names_ok() {
  local want="1 background 2 lung 3 sphere_10mm 4 sphere_13mm 5 sphere_17mm 6 sphere_22mm 7 sphere_28mm 8 sphere_37mm"
  local got
  got=$(awk -F, 'NR > 1 { printf "%s%s %s", (NR > 2 ? " " : ""), $1, $2 }' "$tmp/all.csv")
  [ "$got" = "$want" ] || { echo "  labels/names: '$got'"; return 1; }
}
check "names from truth.json" names_ok
recovery_100() { # every row: 12 fields; recovery 100 where truth_mean != 0, else empty
  awk -F, 'NR > 1 {
      if (NF != 12) { print "  row " NR ": " NF " fields"; bad = 1 }
      if ($11 + 0 != 0 && ($12 == "" || ($12 - 100) ^ 2 > 1e-12)) { print "  row " NR ": recovery " $12; bad = 1 }
      if ($11 + 0 == 0 && $12 != "") { print "  row " NR ": recovery " $12 " with truth 0"; bad = 1 }
      if ($5 != $11) { print "  row " NR ": mean " $5 " != truth_mean " $11; bad = 1 }
      if ($3 + 0 <= 0) { print "  row " NR ": no voxels"; bad = 1 }
    } END { exit bad }' "$tmp/all.csv"
}
check "recovery 100" recovery_100
close_to() { # close_to A B REL
  awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= r * b) }' ||
    { echo "  $1 is not within $3 of $2"; return 1; }
}
# volumes against the phantom file's (2 mm voxels: spheres coarse): background 9786.0 mL, 37 mm sphere 26.52 mL
check "background volume" close_to "$(col "$tmp/all.csv" 1 volume_ml)" 9786.0 0.01
check "37 mm sphere volume" close_to "$(col "$tmp/all.csv" 8 volume_ml)" 26.52 0.05
# the peak of the spheres larger than 1 mL's sphere (17 mm and up) is at least their mean (smaller ones
# mix in background); the 37 mm sphere's peak is its full (4:1) value
check "peak >= mean" awk -F, 'NR > 1 && $1 >= 5 && $10 + 0 < $5 + 0 { exit 1 }' "$tmp/all.csv"
check "peak 37 mm = max" [ "$(col "$tmp/all.csv" 8 peak)" = "$(col "$tmp/all.csv" 8 max)" ]

# ---- --out: the same CSV, written atomically; stdout says so
check "--out" exit_code 0 "$lafov" roi "$act" --labels "$lab" --truth "$act" --names "$sim/truth.json" --out "$tmp/roi.csv"
check "--out content" cmp -s "$tmp/roi.csv" "$tmp/all.csv"
check "--out message" grep -qF "wrote $tmp/roi.csv (8 labels)" "$tmp/out"
check "no temporary left" [ -z "$(ls "$tmp" | grep '\.tmp\.')" ]

# ---- --json: the same rows
check "--json" exit_code 0 "$lafov" roi "$act" --labels "$lab" --truth "$act" --names "$sim/truth.json" --json
check "--json rows" [ "$(grep -c '"label":' "$tmp/out")" -eq 8 ]
check "--json recovery" [ "$(grep -c '"recovery_pct": 100' "$tmp/out")" -eq "$(awk -F, 'NR > 1 && $12 != ""' "$tmp/all.csv" | wc -l)" ]
check "--json name" grep -qF '"name": "sphere_37mm"' "$tmp/out"
check "--json array" [ "$(head -c 1 "$tmp/out")" = "[" ]

# ---- no truth, no names: empty truth columns, label_N names
check "no truth" exit_code 0 "$lafov" roi "$act" --labels "$lab" --label 8,2
check "--label order" [ "$(awk -F, 'NR > 1 { printf "%s;", $1 "," $2 }' "$tmp/out")" = "8,label_8;2,label_2;" ]
check "empty truth columns" awk -F, 'NR > 1 && !($11 == "" && $12 == "" && NF == 12) { exit 1 }' "$tmp/out"

# ---- restrictions
check "erode" exit_code 0 "$lafov" roi "$act" --labels "$lab" --erode-mm 4
cp "$tmp/out" "$tmp/eroded.csv"
check "erosion shrinks background" [ "$(col "$tmp/eroded.csv" 1 voxels)" -lt "$(col "$tmp/all.csv" 1 voxels)" ]
check "erosion shrinks 37 mm sphere" [ "$(col "$tmp/eroded.csv" 8 voxels)" -lt "$(col "$tmp/all.csv" 8 voxels)" ]
check "eroded 37 mm sphere uniform" [ "$(col "$tmp/eroded.csv" 8 sd)" = "0" ]
check "10 mm sphere eroded away" [ "$(col "$tmp/eroded.csv" 3 voxels)" = "0" ] # radius 5 mm, 4 mm erosion
check "empty ROI fields" [ "$(awk -F, '$1 == 3 { print $5 $6 $10 }' "$tmp/eroded.csv")" = "" ]
# spheres sit in the plane z = 0 (largest radius 18.5 mm): the slab 30..60 mm holds none of them
check "z-range" exit_code 0 "$lafov" roi "$act" --labels "$lab" --z-range 30,60
check "z-range excludes spheres" [ "$(awk -F, 'NR > 2 && $1 >= 3 && $3 != 0' "$tmp/out" | wc -l)" -eq 0 ]
check "z-range keeps the body" [ "$(col "$tmp/out" 1 voxels)" -gt 0 ]
# the spheres' centres are 57.2 mm off axis: within 30 mm only the lung (r 25) and background remain
check "radius" exit_code 0 "$lafov" roi "$act" --labels "$lab" --radius-mm 30
check "radius excludes spheres" [ "$(awk -F, 'NR > 2 && $1 >= 3 && $3 != 0' "$tmp/out" | wc -l)" -eq 0 ]
check "radius keeps the lung" [ "$(col "$tmp/out" 2 voxels)" = "$(col "$tmp/all.csv" 2 voxels)" ]

# ---- a 4 mm image against 2 mm labels and truth: general resampling; background recovery ~100
check "coarser image" exit_code 0 "$lafov" roi "$tmp/sim4/truth_activity.nii.gz" --labels "$lab" --truth "$act" \
  --erode-mm 6
check "coarser image recovery" close_to "$(col "$tmp/out" 1 recovery_pct)" 100 0.01
check "coarser image volume" close_to "$(col "$tmp/out" 1 volume_ml)" "$(col "$tmp/eroded.csv" 1 volume_ml)" 0.1

# ---- failures: exit 1 naming the file; usage: exit 2
check "missing image" exit_code 1 "$lafov" roi "$tmp/nope.nii.gz" --labels "$lab"
check "missing image message" err_has "nope.nii.gz"
check "missing labels" exit_code 1 "$lafov" roi "$act" --labels "$tmp/nolabels.nii.gz"
check "missing labels message" err_has "nolabels.nii.gz"
check "missing truth" exit_code 1 "$lafov" roi "$act" --labels "$lab" --truth "$tmp/notruth.nii.gz"
check "missing truth message" err_has "notruth.nii.gz"
check "labels not labels" exit_code 1 "$lafov" roi "$act" --labels "$act"
check "labels not labels message" err_has "truth_activity.nii.gz" "expected integer labels"
check "absent label" exit_code 1 "$lafov" roi "$act" --labels "$lab" --label 3,99
check "absent label message" err_has "label 99 does not occur" "1, 2, 3, 4, 5, 6, 7, 8"
printf '{"labels": [{"label": 1, "name": "a"}, {"label": 2}]}\n' >"$tmp/bad.json"
check "bad names" exit_code 1 "$lafov" roi "$act" --labels "$lab" --names "$tmp/bad.json"
check "bad names message" err_has "bad.json" '"labels"[1]' '"name"'
check "names not json" exit_code 1 "$lafov" roi "$act" --labels "$lab" --names "$sim/acq.l.hdr"
check "names not json message" err_has "acq.l.hdr" "JSON object"
check "out in missing folder" exit_code 1 "$lafov" roi "$act" --labels "$lab" --out "$tmp/no/such/roi.csv"
check "out message" err_has "roi.csv"
check "no --labels" exit_code 2 "$lafov" roi "$act"
check "no --labels message" err_has "--labels"
check "no image" exit_code 2 "$lafov" roi --labels "$lab"
check "bad option" exit_code 2 "$lafov" roi "$act" --labels "$lab" --bogus
check "bad erode" exit_code 2 "$lafov" roi "$act" --labels "$lab" --erode-mm -1
check "bad erode message" err_has "--erode-mm"
check "bad z-range" exit_code 2 "$lafov" roi "$act" --labels "$lab" --z-range 10,5
check "bad z-range message" err_has "--z-range"
check "bad radius" exit_code 2 "$lafov" roi "$act" --labels "$lab" --radius-mm 0
check "bad label list" exit_code 2 "$lafov" roi "$act" --labels "$lab" --label 1,x
check "repeated label" exit_code 2 "$lafov" roi "$act" --labels "$lab" --label 1,1
check "help" exit_code 0 "$lafov" roi --help
check "help lists columns" grep -qF "$header" "$tmp/out"
check "listed in lafov --help" bash -c "'$lafov' --help | grep -q '^  roi '"

echo "roi cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
