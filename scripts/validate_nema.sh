#!/usr/bin/env bash
# lafov NEMA NU 2-2018 image-quality validation at full Quadra scale (issue 6): the IEC body phantom
# simulated with every effect on, reconstructed with every correction, measured by `lafov nema`, beside the
# published Quadra figures (Prenosil et al. 2022, HS = MRD 85, PSF+TOF: contrast recovery 69.6-86.9 % over
# the six spheres at 4:1).
#   1. norm: a uniform cylinder (300 x 1060 mm, 20 MBq) on the Quadra with scatter, randoms, 176Lu and
#      crystal efficiencies on -> `lafov norm CYL/acq.l --ct CYL/ct.nii.gz --calibration-mrd 322,85 --out NORM`
#      (a cross-calibration for each of the recons' maximum ring differences). The two scans use
#      different --seed values: the simulator's crystal efficiencies have their own seed (--efficiency-seed,
#      default 1), a property of the simulated scanner, as on a real one.
#   2. IEC phantom 4:1, background 5.3 kBq/mL at the scan start (52.9 MBq in all = 5.3 kBq/mL x (9786 mL
#      of background + 4 x 47.8 mL of spheres)), no uptake delay, scatter + randoms + 176Lu + efficiencies on,
#      centred on the scanner; DURATION s at count fraction FRACTION (each coincidence kept with that
#      probability: the statistic of a FRACTION x DURATION s scan, the count rates of the full activity).
#   3. `lafov recon` of the IEC with its CT: MRD 322 and 85, TOF, each without and with --psf-mm 4, all
#      corrections (--norm NORM, scatter, randoms); then MRD 85 TOF+PSF with one correction off at a time
#      (no --norm, --no-scatter, --no-randoms).
#   4. `lafov nema IMAGE --phantom iec` on each (centre found from the image), `lafov roi` for the truth's
#      background concentration.
#   5. A markdown table (WORKDIR/nema_report.md, also printed): CR per sphere, BV per sphere, lung residual,
#      C_B (37 mm ROIs) / truth background, the centre the finder took, reconstruction time; the published
#      row under it. Verdicts: the centre found within 2 mm of the simulated one in every image; with all
#      corrections (MRD 85, TOF+PSF) C_B within 3 % of the truth and CR rising with sphere size (2 points of
#      noise allowed); switching randoms correction off raises C_B by > 1 % (the same events: no noise in the
#      difference; TOF keeps most randoms outside the phantom); switching scatter correction
#      off raises the lung residual by > 3 points. The published CR range is shown, not asserted (the count
#      statistic here is FRACTION of a real scan's).
# Usage: scripts/validate_nema.sh [WORKDIR]   (default: a temporary folder, removed at the end)
# Environment (shorter runs): LAFOV_NEMA_DURATION_S (300), LAFOV_NEMA_FRACTION (0.015),
# LAFOV_NORM_DURATION_S (30, the cylinder at full statistic), LAFOV_VOXEL_MM (3.3), LAFOV_ITERATIONS (4),
# LAFOV_SUBSETS (5), LAFOV_POSTFILTER_MM (none), LAFOV_DEVICE (cpu), LAFOV_SEED (21), LAFOV_JOBS (2),
# LAFOV_BIN (an already built lafov: skips the build), LAFOV_NEMA_CASES (the reconstructions to run, default
# "m322_tof m322_tof_psf m85_tof m85_tof_psf m85_no_norm m85_no_scatter m85_no_randoms"; a verdict needing a
# case left out is not given). Re-running with the same WORKDIR keeps the steps that finished.
# Time on 2 cores with the defaults: roughly 5 min per simulation and several minutes per reconstruction
# (7 of them); every step's wall time is printed and kept in the report.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_lafov_binary
DUR="${LAFOV_NEMA_DURATION_S:-300}"
FRAC="${LAFOV_NEMA_FRACTION:-0.015}"
NORM_DUR="${LAFOV_NORM_DURATION_S:-30}"
VOX="${LAFOV_VOXEL_MM:-3.3}"
IT="${LAFOV_ITERATIONS:-4}"
SUB="${LAFOV_SUBSETS:-5}"
PF="${LAFOV_POSTFILTER_MM:-}"
DEV="${LAFOV_DEVICE:-cpu}"
SEED="${LAFOV_SEED:-21}"
BG_KBQ_ML=5.3
# total activity: the background concentration over the background volume plus 4x over the spheres'
ACT_MBQ=$(awk -v c="$BG_KBQ_ML" 'BEGIN { printf "%.4f", c * 1e3 * (9786.0 + 4 * 47.8) / 1e6 }')
if [ $# -ge 1 ]; then
    W=$1
    mkdir -p "$W"
else
    W=$(mktemp -d "${TMPDIR:-/tmp}/lafov_validate_nema.XXXXXX")
    trap 'rm -rf "$W"' EXIT
fi
export LAFOV_CACHE_DIR="${LAFOV_CACHE_DIR:-$W/cache}"
failures=0
verdict() { # verdict OK TEXT
    if [ "$1" = 1 ]; then echo "  PASS  $2"; else echo "  FAIL  $2"; failures=$((failures + 1)); fi
}
last_s=0
timed() { # timed NAME COMMAND...: runs it, prints the wall time, leaves it in $last_s; a step that finished in an
    # earlier run of the same WORKDIR (NAME.done, holding its wall time) is kept
    if [ -e "$W/$1.done" ]; then
        last_s=$(cat "$W/$1.done")
        echo "  $1: done before ($last_s s)"
        return
    fi
    local t0=$SECONDS
    "${@:2}" >"$W/$1.log" 2>&1 || { cat "$W/$1.log"; lf_die "$1 failed"; }
    last_s=$((SECONDS - t0))
    echo "$last_s" >"$W/$1.done"
    echo "  $1: $last_s s"
}
csvcol() { # csvcol NEMA_CSV DIAMETER COLUMN
    awk -F, -v d="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $1 == d { print $h[c] }' "$1"
}
jnum() { sed -n "s/^  \"$2\": \\([-0-9.eE+]*\\),\\{0,1\\}$/\\1/p" "$1" | head -1; }
jcentre() { awk '/^  "centre_mm"/ { on = 1; next } on && /\]/ { exit } on { gsub(/[ ,]/, ""); printf "%s ", $0 }' "$1"; }

lf_say "1. norm: uniform cylinder, all effects on ($NORM_DUR s, seed $SEED)"
timed sim_cylinder "$LAFOV" simulate --phantom cylinder --scanner quadra --activity-mbq 20 --duration-s "$NORM_DUR" \
    --seed "$((SEED + 1))" --threads "$LAFOV_JOBS" --out "$W/cyl"
timed norm "$LAFOV" norm "$W/cyl/acq.l" --ct "$W/cyl/ct.nii.gz" --calibration-mrd 322,85 --device "$DEV" \
    --out "$W/norm" --force

lf_say "2. IEC phantom 4:1, $BG_KBQ_ML kBq/mL background ($ACT_MBQ MBq), $DUR s at count fraction $FRAC, all effects on"
timed sim_iec "$LAFOV" simulate --phantom iec --scanner quadra --activity-mbq "$ACT_MBQ" --duration-s "$DUR" \
    --count-fraction "$FRAC" --sphere-ratio 4 --seed "$SEED" --threads "$LAFOV_JOBS" --out "$W/iec"
"$LAFOV" roi "$W/iec/truth_activity.nii.gz" --labels "$W/iec/truth_labels.nii.gz" --names "$W/iec/truth.json" \
    --label 1 --out "$W/truth_bg.csv" >/dev/null
truth_bg=$(awk -F, 'NR == 2 { print $5 }' "$W/truth_bg.csv")
printf "  truth background: %.1f Bq/mL at the scan start\n" "$truth_bg"
sed -n 's/^ *"\(prompts\|trues\|scatter\|delayeds\|scatter_fraction\|randoms_fraction_of_prompts\)": \([0-9.eE+-]*\),\{0,1\}$/    \1 \2/p' \
    "$W/iec/truth.json"

lf_say "3-4. reconstructions and lafov nema"
report=$W/nema_report.md
rows=$W/rows.md
: >"$rows"
common=(--ct "$W/iec/ct.nii.gz" --voxel-mm "$VOX" --iterations "$IT" --subsets "$SUB" --device "$DEV" --force)
[ -n "$PF" ] && common+=(--postfilter-mm "$PF")
declare -A CB LUNG CR37 CR10
worst_centre=0
ref_centre=""
run_case() { # run_case NAME LABEL RECON-OPTIONS...: the phantom is found in the image, except in the images with a
    # correction switched off (their raised backgrounds can mislead the finder), which take the centre found in
    # the reference image (all corrections, MRD 85 TOF+PSF; the same phantom position)
    local name=$1 label=$2 where=()
    shift 2
    [[ "$name" == *_no_* && -n "$ref_centre" ]] && where=(--centre "$ref_centre")
    timed "recon_$name" "$LAFOV" recon "$W/iec/acq.l" "${common[@]}" "$@" --out "$W/rec_$name"
    local rt=$last_s
    timed "nema_$name" "$LAFOV" nema "$W/rec_$name/image_bqml.nii.gz" --phantom iec "${where[@]}" --out "$W/nema_$name" --force
    local csv=$W/nema_$name/nema.csv json=$W/nema_$name/nema.json
    local cr="" bv="" d lung cb c off
    for d in 10 13 17 22 28 37; do
        cr+=$(printf ' %.1f |' "$(csvcol "$csv" $d contrast_recovery_pct)")
        bv+=$(printf ' %.1f |' "$(csvcol "$csv" $d background_variability_pct)")
    done
    lung=$(jnum "$json" lung_residual_pct)
    cb=$(csvcol "$csv" 37 c_b)
    c=$(jcentre "$json")
    off=$(awk -v c="$c" 'BEGIN { split(c, a, " "); printf "%.2f", sqrt(a[1] ^ 2 + a[2] ^ 2 + a[3] ^ 2) }')
    [ ${#where[@]} -eq 0 ] && worst_centre=$(awk -v w="$worst_centre" -v o="$off" 'BEGIN { print (o > w ? o : w) }')
    [ "$name" = m85_tof_psf ] && ref_centre=$(echo "$c" | awk '{ printf "%s,%s,%s", $1, $2, $3 }')
    CB[$name]=$cb
    LUNG[$name]=$lung
    CR37[$name]=$(csvcol "$csv" 37 contrast_recovery_pct)
    CR10[$name]=$(csvcol "$csv" 10 contrast_recovery_pct)
    printf '| %s |%s%s %.1f | %.1f | %s | %s |\n' "$label" "$cr" "$bv" "$lung" \
        "$(awk -v a="$cb" -v t="$truth_bg" 'BEGIN { print 100 * a / t }')" "$off" "$rt" >>"$rows"
    printf "    %-34s CR 10..37 mm:%s lung %.1f %%, C_B %.0f Bq/mL\n" "$label" "$cr" "$lung" "$cb"
}
CASES=" ${LAFOV_NEMA_CASES:-m322_tof m322_tof_psf m85_tof m85_tof_psf m85_no_norm m85_no_scatter m85_no_randoms} "
want() { [[ "$CASES" == *" $1 "* ]]; }
want m85_tof_psf && run_case m85_tof_psf "MRD 85, TOF+PSF" --mrd 85 --psf-mm 4 --norm "$W/norm"
want m85_tof && run_case m85_tof "MRD 85, TOF" --mrd 85 --norm "$W/norm"
want m322_tof && run_case m322_tof "MRD 322, TOF" --mrd 322 --norm "$W/norm"
want m322_tof_psf && run_case m322_tof_psf "MRD 322, TOF+PSF" --mrd 322 --psf-mm 4 --norm "$W/norm"
want m85_no_norm && run_case m85_no_norm "MRD 85, TOF+PSF, no norm" --mrd 85 --psf-mm 4
want m85_no_scatter && run_case m85_no_scatter "MRD 85, TOF+PSF, no scatter corr." --mrd 85 --psf-mm 4 --norm "$W/norm" --no-scatter
want m85_no_randoms && run_case m85_no_randoms "MRD 85, TOF+PSF, no randoms corr." --mrd 85 --psf-mm 4 --norm "$W/norm" --no-randoms

{
    echo "# lafov NEMA NU 2-2018 image quality, simulated Quadra"
    echo
    echo "IEC phantom 4:1, $BG_KBQ_ML kBq/mL background at the scan start ($ACT_MBQ MBq), ${DUR} s at count fraction" \
        "$FRAC, scatter + randoms + 176Lu + crystal efficiencies simulated; truth background $(printf '%.1f' "$truth_bg")" \
        "Bq/mL. Recon: $VOX mm voxels, $IT iterations x $SUB subsets${PF:+, post-filter $PF mm}, all corrections" \
        "(norm from a simulated cylinder, scatter, randoms) unless a row says otherwise; PSF 4 mm FWHM. lafov nema," \
        "centre found from each image. CR, BV, lung residual in %; C_B = mean of the 60 37 mm background ROIs."
    echo
    echo "| Reconstruction | CR 10 | CR 13 | CR 17 | CR 22 | CR 28 | CR 37 | BV 10 | BV 13 | BV 17 | BV 22 | BV 28 | BV 37 | Lung residual | C_B / truth (%) | centre off (mm) | recon (s) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    cat "$rows"
    printf '| Published: Prenosil 2022, HS (MRD 85), PSF+TOF | 69.6 – 86.9 (range over the six spheres) |'
    printf ' |%.0s' $(seq 15)
    echo
} >"$report"
echo
cat "$report"

lf_say "verdicts"
verdict "$(awk -v w="$worst_centre" 'BEGIN { print (w <= 2) }')" \
    "centre found within 2 mm of the simulated one in every image where it is searched (worst $worst_centre mm)"
ref=m85_tof_psf
want $ref || { lf_say "validation: the reference case $ref was not run; report $report"; exit 0; }
verdict "$(awk -v a="${CB[$ref]}" -v t="$truth_bg" 'BEGIN { r = a / t; print (r >= 0.97 && r <= 1.03) }')" \
    "all corrections, MRD 85 TOF+PSF: C_B within 3 % of the truth ($(awk -v a="${CB[$ref]}" -v t="$truth_bg" 'BEGIN { printf "%.2f", 100 * a / t }') %)"
rising=1
prev=-100
for d in 10 13 17 22 28 37; do
    q=$(csvcol "$W/nema_$ref/nema.csv" $d contrast_recovery_pct)
    awk -v q="$q" -v p="$prev" 'BEGIN { exit !(q > p - 2) }' || rising=0
    prev=$q
done
verdict "$rising" "all corrections, MRD 85 TOF+PSF: contrast recovery rises with sphere size"
want m85_no_randoms && verdict "$(awk -v a="${CB[m85_no_randoms]}" -v b="${CB[$ref]}" 'BEGIN { print (a > 1.01 * b) }')" \
    "without randoms correction C_B rises by > 1 % (${CB[m85_no_randoms]} vs ${CB[$ref]} Bq/mL; TOF keeps most randoms outside the phantom)"
want m85_no_scatter && verdict "$(awk -v a="${LUNG[m85_no_scatter]}" -v b="${LUNG[$ref]}" 'BEGIN { print (a > b + 3) }')" \
    "without scatter correction the lung residual rises by > 3 points (${LUNG[m85_no_scatter]} vs ${LUNG[$ref]} %)"
printf "  (informative) MRD 85 TOF+PSF CR 10 mm %.1f %%, 37 mm %.1f %%; published range 69.6-86.9 %%\n" \
    "${CR10[$ref]}" "${CR37[$ref]}"

lf_say "validation: $failures failure(s); report $report; work folder $W"
[ "$failures" -eq 0 ]
