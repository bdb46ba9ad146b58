#!/usr/bin/env bash
# End-to-end tests of `lafov nema`: the IEC phantom's truth image from a very short `lafov simulate` on the
# mini scanner (no CT; 2 mm truth grid, well under a few seconds), placed off-centre with --position, then
# the analysis with the centre found and given: outputs (nema.csv columns, nema.json keys, nema.png), the
# centre found where the phantom is, numbers of a noise-free truth (background variability and lung
# residual 0, large spheres near 100 %), --ratio, refusal to overwrite without --force, and exit codes and
# messages on bad input.
# usage: test_nema_cli.sh LAFOV_BINARY   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
# col FILE DIAMETER COLUMN: a field of nema.csv's row of that sphere
col() {
  awk -F, -v d="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $1 == d { print $h[c] }' "$1"
}
# jnum FILE KEY: the number after "KEY": on its line
jnum() { sed -n "s/^ *\"$2\": \\([-0-9.eE+]*\\),\\{0,1\\}$/\\1/p" "$1" | head -1; }
near() { # near A B TOL
  awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }' ||
    { echo "  '$1' is not within $3 of $2"; return 1; }
}

sim=$tmp/sim
pos="7.3,-5.9,13.7"
"$lafov" simulate --phantom iec --scanner mini --activity-mbq 1 --duration-s 0.05 --no-ct --seed 5 \
  --position "$pos" --out "$sim" >"$tmp/sim.log" 2>&1 || { echo "lafov simulate failed:"; cat "$tmp/sim.log"; exit 1; }
act=$sim/truth_activity.nii.gz

# ---- the centre found: where --position put the phantom; the outputs
check "nema found" exit_code 0 "$lafov" nema "$act" --phantom iec --out "$tmp/found"
check "stdout names the centre" grep -qF "centre (found)" "$tmp/out"
check "stdout names the files" grep -qF "wrote $tmp/found/nema.csv" "$tmp/out"
csv=$tmp/found/nema.csv
json=$tmp/found/nema.json
check "csv header" [ "$(head -n 1 "$csv")" = "diameter_mm,contrast_recovery_pct,background_variability_pct,c_h,c_b,sd_b" ]
check "csv 6 spheres" [ "$(awk -F, 'NR > 1 && NF == 6' "$csv" | wc -l)" -eq 6 ]
check "csv diameters" [ "$(awk -F, 'NR > 1 { printf "%s ", $1 }' "$csv")" = "10 13 17 22 28 37 " ]
centre_ok() {
  local got
  got=$(awk '/"centre_mm"/ { on = 1; next } on && /\]/ { exit } on { gsub(/[ ,]/, ""); printf "%s ", $0 }' "$json")
  read -r x y z <<<"$got"
  near "$x" 7.3 0.5 && near "$y" -5.9 0.5 && near "$z" 13.7 0.5
}
check "centre found within 0.5 mm" centre_ok
check "centre_source found" grep -qF '"centre_source": "found"' "$json"
check "sphere plane z" near "$(jnum "$json" sphere_plane_z_mm)" 13.7 0.5
check "json ratio" [ "$(jnum "$json" ratio)" = "4" ]
# the truth is noise-free and uniform: no variability, an empty lung; 2 mm voxels cost the 37 mm sphere ~5 %
check "lung residual 0" near "$(jnum "$json" lung_residual_pct)" 0 0.01
check "background variability 0" awk -F, 'NR > 1 && ($3 < 0 || $3 > 0.01) { exit 1 }' "$csv"
check "37 mm sphere CR" near "$(col "$csv" 37 contrast_recovery_pct)" 96 4
check "CR rises with size" awk -F, 'NR > 2 && $2 + 0 <= prev { exit 1 } NR > 1 { prev = $2 + 0 }' "$csv"
# C_B: the truth's background concentration, 1 MBq over the phantom's volumes (4:1 spheres)
check "C_B = truth background" near "$(col "$csv" 37 c_b)" "$(awk 'BEGIN { print 1e6 / (9786.0 + 4 * 47.8) }')" 0.5
check "json spheres" [ "$(grep -c '"contrast_recovery_pct"' "$json")" -eq 6 ]
check "png" [ "$(head -c 8 "$tmp/found/nema.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
check "no temporary left" [ -z "$(find "$tmp/found" -name '*.tmp.*')" ]

# ---- the centre given: the same numbers; --ratio 8 scales contrast recovery by 3/7
check "nema given" exit_code 0 "$lafov" nema "$act" --phantom iec --centre "$pos" --out "$tmp/given"
check "centre_source given" grep -qF '"centre_source": "given"' "$tmp/given/nema.json"
check "given = found" near "$(col "$tmp/given/nema.csv" 17 contrast_recovery_pct)" \
  "$(col "$csv" 17 contrast_recovery_pct)" 0.2
check "ratio 8" exit_code 0 "$lafov" nema "$act" --phantom iec --centre "$pos" --ratio 8 --out "$tmp/r8"
check "ratio 8 CR" near "$(col "$tmp/r8/nema.csv" 28 contrast_recovery_pct)" \
  "$(awk -v c="$(col "$tmp/given/nema.csv" 28 contrast_recovery_pct)" 'BEGIN { printf "%.10g", c * 3 / 7 }')" 1e-5

# ---- existing results: refused without --force, replaced with it
check "no overwrite" exit_code 1 "$lafov" nema "$act" --phantom iec --out "$tmp/found"
check "no overwrite message" err_has "nema.csv" "exists" "--force"
check "force" exit_code 0 "$lafov" nema "$act" --phantom iec --centre "$pos" --out "$tmp/found" --force
check "force replaced" grep -qF '"centre_source": "given"' "$json"

# ---- failures: exit 1 naming the file / what was expected; usage errors: exit 2
check "missing image" exit_code 1 "$lafov" nema "$tmp/nope.nii.gz" --phantom iec --out "$tmp/x"
check "missing image message" err_has "nope.nii.gz"
check "not an IEC image" exit_code 1 "$lafov" nema "$sim/truth_mu.nii.gz" --phantom iec --out "$tmp/x"
check "not an IEC image message" err_has "truth_mu.nii.gz" "no hot spheres"
check "centre off the image" exit_code 1 "$lafov" nema "$act" --phantom iec --centre 300,0,0 --out "$tmp/x"
check "centre off the image message" err_has "truth_activity.nii.gz" "outside the image grid"
check "nothing written on failure" [ ! -e "$tmp/x/nema.csv" ]
: >"$tmp/file"
check "out under a file" exit_code 1 "$lafov" nema "$act" --phantom iec --out "$tmp/file/sub"
check "bad phantom" exit_code 2 "$lafov" nema "$act" --phantom nema --out "$tmp/x"
check "bad phantom message" err_has "--phantom 'nema'" "iec"
check "no phantom" exit_code 2 "$lafov" nema "$act" --out "$tmp/x"
check "no phantom message" err_has "--phantom" "iec"
check "bad centre" exit_code 2 "$lafov" nema "$act" --phantom iec --centre 1,2 --out "$tmp/x"
check "bad centre message" err_has "--centre '1,2'" "x,y,z"
check "bad ratio" exit_code 2 "$lafov" nema "$act" --phantom iec --ratio 1 --out "$tmp/x"
check "bad ratio message" err_has "--ratio" "> 1"
check "no out" exit_code 2 "$lafov" nema "$act" --phantom iec
check "no image" exit_code 2 "$lafov" nema --phantom iec --out "$tmp/x"
check "bad option" exit_code 2 "$lafov" nema "$act" --phantom iec --out "$tmp/x" --bogus
check "help" exit_code 0 "$lafov" nema --help
check "help lists columns" grep -qF "diameter_mm,contrast_recovery_pct,background_variability_pct" "$tmp/out"
check "listed in lafov --help" bash -c "'$lafov' --help | grep -q '^  nema '"

echo "nema cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
