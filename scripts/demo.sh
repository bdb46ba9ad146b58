#!/usr/bin/env bash
# lafov demo: installs what is missing, builds build/ (Release, CUDA AUTO) and runs the main job on
# the bundled data. Outputs go to demo_out/ in the repository.
# Steps are functions listed in DEMO_STEPS; a later capability adds a function and a name there.
# Environment: LAFOV_SHARED (default ../shared, relative to the repository root), LAFOV_JOBS,
# LAFOV_DEMO_STEPS (space-separated step names: run only these, on the outputs of an earlier run).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SHARED="${LAFOV_SHARED:-../shared}"
MMR="$SHARED/data/mmr/small_listmode_file.l"
OUT=demo_out
LAFOV=build/lafov

step_mmr_info() {
    lf_say "lafov info $MMR"
    "$LAFOV" info "$MMR"
    "$LAFOV" info "$MMR" --json >"$OUT/mmr_info.json"
    echo "-> $OUT/mmr_info.json"
}

step_mmr_qc() {
    lf_say "lafov qc $MMR --out $OUT/mmr_qc"
    "$LAFOV" qc "$MMR" --out "$OUT/mmr_qc"
    echo "-> $OUT/mmr_qc/ (crystal_counts.csv, crystal_map.png, qc.json)"
}

# The seed's case: a 70 kg patient, 0.3 MBq/kg FDG, 60 min uptake, 20 min on the Quadra (UHS), who
# shifts 15 mm craniocaudally at minute 10. Simulated at 1 % of the full statistic (--count-fraction:
# every coincidence kept with probability 0.01) so that it runs in a few minutes on 2 cores; the
# activity, singles, timeline, motion, CT and truth are those of the full-dose scan.
step_simulate_seed_case() {
    lf_say "lafov simulate: torso, 0.3 MBq/kg, 60 min uptake, 20 min, 15 mm shift at 10 min (1 % statistic)"
    "$LAFOV" simulate --phantom torso --scanner quadra --activity-mbq-per-kg 0.3 --weight-kg 70 --uptake-s 3600 \
        --duration-s 1200 --motion 600:0,0,15 --count-fraction 0.01 --seed 1 --out "$OUT/seed_case"
    "$LAFOV" info "$OUT/seed_case/acq.l"
    "$LAFOV" qc "$OUT/seed_case/acq.l" --out "$OUT/seed_case/qc"
    "$LAFOV" view "$OUT/seed_case/ct.nii.gz" --plane coronal --out "$OUT/seed_case/ct_coronal.png"
    "$LAFOV" view "$OUT/seed_case/truth_activity.nii.gz" --plane coronal --out "$OUT/seed_case/activity_coronal.png"
    echo "-> $OUT/seed_case/ (acq.l + .hdr, truth.json, truth images, ct.nii.gz, ct/, qc/)"
}

# The scanner's normalisation, as a site makes it: a uniform cylinder (300 x 1060 mm, 20 MBq, 30 s at the
# full statistic) on the same simulated Quadra (its crystal efficiencies are a property of the scanner:
# --efficiency-seed, default 1), then `lafov norm`: crystal efficiencies from fan sums and the
# cross-calibration that makes the cylinder read its true Bq/mL. About 15 min on 2 cores the first time;
# a later demo run keeps demo_out/norm (delete it to redo it).
step_norm() {
    if [ -f "$OUT/norm/norm.json" ] && [ -f "$OUT/norm/crystal_efficiency.csv" ]; then
        lf_say "lafov norm: kept from an earlier run ($OUT/norm; delete it to redo it)"
        return 0
    fi
    lf_say "lafov simulate: uniform cylinder for the normalisation (20 MBq, 30 s)"
    "$LAFOV" simulate --phantom cylinder --scanner quadra --activity-mbq 20 --duration-s 30 --seed 2 \
        --out "$OUT/norm_cylinder"
    lf_say "lafov norm: crystal efficiencies and cross-calibration"
    "$LAFOV" norm "$OUT/norm_cylinder/acq.l" --ct "$OUT/norm_cylinder/ct.nii.gz" --out "$OUT/norm" --force
    echo "-> $OUT/norm_cylinder/ (the cylinder scan), $OUT/norm/ (norm.json, crystal_efficiency.csv, qc_cylinder_bqml.nii.gz)"
}

# The seed case reconstructed with every correction: attenuation from its low-dose CT, the norm (crystal
# efficiencies, cross-calibration), randoms from the delayeds, TOF single scatter. TOF list-mode OSEM,
# 4 iterations x 5 subsets, 4 mm voxels over the whole FOV (the sensitivity image, computed once and cached,
# dominates at finer voxels), 6 mm Gaussian post-filter. The whole 20 minutes are used, so the doubled
# bladder of the shift is in the image.
step_recon_seed_case() {
    lf_say "lafov recon: all 20 minutes, every correction (norm, attenuation, randoms, scatter; 4 mm, 4 x 5 OSEM)"
    "$LAFOV" recon "$OUT/seed_case/acq.l" --ct "$OUT/seed_case/ct" --norm "$OUT/norm" --voxel-mm 4 \
        --postfilter-mm 6 --force --out "$OUT/seed_recon"
    echo "-> $OUT/seed_recon/ (image_bqml.nii.gz, image_suv.nii.gz, mumap.nii.gz, recon.h5, mip.png, slices.png, recon.log)"
}

# The motion found in the data itself (count rate and centroid traces, change points, stable windows),
# then only the longest stable window reconstructed (--frames auto: the minutes after the shift), and the
# two coronal MIPs side by side: the doubled bladder of all 20 minutes, gone from the stable minutes.
step_motion_seed_case() {
    lf_say "lafov motion: the shift found in the events"
    "$LAFOV" motion "$OUT/seed_case/acq.l" --out "$OUT/seed_motion"
    lf_say "lafov recon --frames auto: the longest stable window only"
    "$LAFOV" recon "$OUT/seed_case/acq.l" --ct "$OUT/seed_case/ct" --norm "$OUT/norm" --voxel-mm 4 \
        --postfilter-mm 6 --frames auto --force --out "$OUT/seed_stable"
    "$LAFOV" view "$OUT/seed_recon/image_suv.nii.gz" "$OUT/seed_stable/image_suv.nii.gz" --mip --window 0,8 \
        --out "$OUT/seed_side_by_side.png"
    echo "-> $OUT/seed_motion/ (motion.json, motion.png), $OUT/seed_stable/, $OUT/seed_side_by_side.png" \
        "(left: 0-20 min, right: the longest stable window)"
}

# A small dose / time study on the same scan (docs/protocol.md): the stable first 10 minutes (before the shift)
# thinned to 100, 50 and 25 % of the activity (lafov thin) and truncated to 10, 5 and 2 minutes: 9 virtual scans,
# each reconstructed like the seed case (norm, attenuation, randoms, scatter; 4 mm, 4 x 5 OSEM, 6 mm
# post-filter) and measured over the truth labels (liver, its 20 mm lesion, body; ROIs eroded 4 mm): SUVmean,
# COV, lesion contrast and CNR against the liver. The recon jobs share the demo's sensitivity cache (the
# image of the reconstructions above). About 40 min on 2 cores; resumable (a re-run keeps finished jobs).
step_study_seed_case() {
    local cache="${LAFOV_CACHE_DIR:-$HOME/.cache/lafov}" truth="$OUT/seed_case/truth.json"
    local liver lesion body
    liver=$(lf_truth_label "$truth" liver)
    lesion=$(lf_truth_label "$truth" lesion_liver_20mm)
    body=$(lf_truth_label "$truth" body)
    [ -n "$liver" ] && [ -n "$lesion" ] && [ -n "$body" ] || lf_die "$truth: no liver, lesion_liver_20mm or body label"
    cat >"$OUT/study_plan.txt" <<EOF
# scripts/demo.sh: the seed case's first 10 minutes at 100, 50 and 25 % of the activity, 10, 5 and 2 minutes
study name := demo study: the seed case (0.3 MBq/kg FDG), minutes 0-10 thinned and truncated
seed := 1
metric := roi
labels := seed_case/truth_labels.nii.gz
names := seed_case/truth.json
regions := $liver, $lesion, $body
background label := $liver
plot region := $liver
erode (mm) := 4
sensitivity cache := $cache
recon options := --norm '$LAFOV_ROOT/$OUT/norm' --voxel-mm 4 --postfilter-mm 6
compare := seed 0.5 600 vs seed 1 300
replicates := 1
acquisition := seed
list mode := seed_case/acq.l
ct := seed_case/ct
fractions := 1, 0.5, 0.25
durations (s) := 600, 300, 120
EOF
    lf_say "lafov study: 3 x 3 virtual scans of the stable first 10 minutes (activity 100/50/25 %, 10/5/2 min)"
    "$LAFOV" study "$OUT/study_plan.txt" --out "$OUT/study" --force
    echo "-> $OUT/study/ (results.csv, report.md, plots/*.png, recon/, thin/)"
}

DEMO_STEPS=(step_mmr_info step_mmr_qc step_simulate_seed_case step_norm step_recon_seed_case step_motion_seed_case
    step_study_seed_case)
if [ -n "${LAFOV_DEMO_STEPS:-}" ]; then # e.g. LAFOV_DEMO_STEPS="step_study_seed_case": only these (their inputs exist)
    read -r -a DEMO_STEPS <<<"$LAFOV_DEMO_STEPS"
fi

lf_deps
lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO || lf_die "the build failed (see above)"
if [ ! -f "$MMR" ]; then
    lf_die "the shared data folder is missing: expected the mMR sample at $LAFOV_ROOT/$MMR
(the folder 'shared' beside the repository holds data/mmr/small_listmode_file.l and its .hdr;
point LAFOV_SHARED at it if it lives elsewhere)"
fi
mkdir -p "$OUT"
"$LAFOV" --version
for step in "${DEMO_STEPS[@]}"; do
    "$step"
done

lf_say "demo done; outputs in $LAFOV_ROOT/$OUT:"
find "$OUT" -type f | sort | sed 's/^/  /'
