#!/usr/bin/env bash
# lafov frame selection at full Quadra scale (issue 7): does reconstructing the stable minutes after a
# patient shift remove the artefact, and do respiratory gates separate the liver dome?
#   1. torso (0.3 MBq/kg x 70 kg, 60 min uptake, 20 min) without motion (A), and moved +10 mm along z at
#      600 s: all 20 minutes (B, a doubled bladder) and only minutes 10-20 (C, --frames 600-1200).
#      Checks: bladder axial FWHM of C within 10 % of A (B shown for comparison); liver SUVmean of C
#      within 3 % of A (ROI: the truth liver eroded by 10 mm, which still lies inside the moved liver).
#   2. the same torso breathing (--resp 4:10: period 4 s, peak-to-peak 10 mm, liver resp weight 1),
#      reconstructed in 4 phase gates (--gate resp:4) and ungated. Each gate's liver dome position (the edge
#      of an axial profile through the liver, `lafov profile`, see dome() below) against the displacement
#      the simulator applied, averaged over the gate's quarter cycle: w·A·(1 − mean cos)/2 = 1.82, 8.18,
#      8.18, 1.82 mm; check within 2 mm (relative to the mean of all gates, which removes the partial-volume
#      offset of the edge). The check uses gates reconstructed without attenuation correction: the one CT
#      shows the dome at rest, so attenuation-corrected gates are corrected with a μ-map that does not
#      match the moved dome (lung μ where the liver now is), which pulls the dome edges of the displaced
#      gates back towards rest — a real artefact (per-gate μ-maps are not made); those gates are reported
#      beside. The dome's 25-75 % edge width shows the ungated blur.
# Usage: scripts/validate_frames.sh [WORKDIR]   (default: a temporary folder, removed at the end)
# Environment: LAFOV_FRAMES_FRACTION (count fraction of the simulations, 0.02), LAFOV_VOXEL_MM (3.3),
# LAFOV_DEVICE (cpu), LAFOV_FRAMES_SIM_ARGS (physics switches of the simulations, default
# "--no-scatter --no-randoms --no-lu": every comparison here is relative, between images of the same
# reconstruction), LAFOV_FRAMES_RECON_ARGS (corrections of the reconstructions, default "--no-scatter
# --no-randoms", matching the default simulations), LAFOV_BIN (an already built lafov: skips the build).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_lafov_binary
export LAFOV_SCANNER_DIR="${LAFOV_SCANNER_DIR:-$LAFOV_ROOT/data/scanners}"
FRAC="${LAFOV_FRAMES_FRACTION:-0.02}"
VOX="${LAFOV_VOXEL_MM:-3.3}"
DEV="${LAFOV_DEVICE:-cpu}"
read -r -a PHYS <<<"${LAFOV_FRAMES_SIM_ARGS:---no-scatter --no-randoms --no-lu}"
read -r -a CORR <<<"${LAFOV_FRAMES_RECON_ARGS:---no-scatter --no-randoms}"
if [ $# -ge 1 ]; then
    W=$1
    mkdir -p "$W"
else
    W=$(mktemp -d "${TMPDIR:-/tmp}/lafov_frames.XXXXXX")
    trap 'rm -rf "$W"' EXIT
fi
export LAFOV_CACHE_DIR="${LAFOV_CACHE_DIR:-$W/cache}"
failures=0
verdict() { # verdict OK TEXT
    if [ "$1" = 1 ]; then echo "  PASS  $2"; else echo "  FAIL  $2"; failures=$((failures + 1)); fi
}
timed() { # timed NAME COMMAND...: runs it (skipped when NAME.done exists), prints the wall time
    [ -e "$W/$1.done" ] && { echo "  $1: done before"; return; }
    local t0=$SECONDS
    "${@:2}" >"$W/$1.log" 2>&1 || { cat "$W/$1.log"; lf_die "$1 failed"; }
    touch "$W/$1.done"
    echo "  $1: $((SECONDS - t0)) s"
}
jget() { python3 -c 'import json,sys; v=json.loads(sys.stdin.read())[sys.argv[1]]; print("nan" if v is None else v)' "$1"; }
profile() { # profile IMAGE X,Y R Z0,Z1 LEVEL KEY
    "$LAFOV" profile "$1" --at "$2" --radius-mm "$3" --z-range "$4" --level "$5" | jget "$6"
}
sim() { # sim NAME ARGS...
    timed "sim_$1" "$LAFOV" simulate --phantom torso --scanner quadra --activity-mbq-per-kg 0.3 --weight-kg 70 \
        --uptake-s 3600 --duration-s 1200 --count-fraction "$FRAC" "${PHYS[@]}" --seed 13 --out "$W/$1" "${@:2}"
}
rec() { # rec NAME SIM ARGS...
    timed "rec_$1" "$LAFOV" recon "$W/$2/acq.l" --ct "$W/$2/ct.nii.gz" --voxel-mm "$VOX" --device "$DEV" \
        --out "$W/$1" --force "${CORR[@]}" "${@:3}"
}
liver() { # liver IMAGE: liver SUVmean in the eroded truth liver (labels of the motion-free simulation)
    "$LAFOV" roi "$1" --labels "$W/still/truth_labels.nii.gz" --names "$W/still/truth.json" --erode-mm 10 --json |
        python3 -c 'import json,sys; print([r["mean"] for r in json.load(sys.stdin) if r["name"] == "liver"][0])'
}

lf_say "1. a 10 mm craniocaudal shift at 600 s (count fraction $FRAC, ${PHYS[*]})"
sim still
sim moved --motion 600:0,0,10
rec A still
rec B moved
rec C moved --frames 600-1200
BL="0,-25 15 -420,-240 0.5"
# shellcheck disable=SC2086
{
    fa=$(profile "$W/A/image_bqml.nii.gz" $BL width_mm)
    fb=$(profile "$W/B/image_bqml.nii.gz" $BL width_mm)
    fc=$(profile "$W/C/image_bqml.nii.gz" $BL width_mm)
}
la=$(liver "$W/A/image_suv.nii.gz")
lb=$(liver "$W/B/image_suv.nii.gz")
lc=$(liver "$W/C/image_suv.nii.gz")
printf "  bladder axial FWHM: still %.2f mm, moved 0-20 min %.2f mm (%+.1f %%), moved 10-20 min %.2f mm (%+.1f %%)\n" \
    "$fa" "$fb" "$(awk -v a="$fa" -v b="$fb" 'BEGIN{print 100*(b/a-1)}')" "$fc" "$(awk -v a="$fa" -v b="$fc" 'BEGIN{print 100*(b/a-1)}')"
printf "  liver SUVmean: still %.4f, moved 0-20 min %.4f (%+.2f %%), moved 10-20 min %.4f (%+.2f %%)\n" \
    "$la" "$lb" "$(awk -v a="$la" -v b="$lb" 'BEGIN{print 100*(b/a-1)}')" "$lc" "$(awk -v a="$la" -v b="$lc" 'BEGIN{print 100*(b/a-1)}')"
verdict "$(awk -v a="$fa" -v c="$fc" 'BEGIN{d=c/a-1; if(d<0)d=-d; print (d<=0.10)}')" "bladder FWHM of minutes 10-20 within 10 % of the motion-free image"
verdict "$(awk -v a="$la" -v c="$lc" 'BEGIN{d=c/a-1; if(d<0)d=-d; print (d<=0.03)}')" "liver SUVmean of minutes 10-20 within 3 % of the motion-free image"

lf_say "2. breathing torso (--resp 4:10), 4 respiratory gates"
sim breath --resp 4:10
rec U breath
rec G breath --gate resp:4
timed rec_G_nac "$LAFOV" recon "$W/breath/acq.l" --no-attenuation --voxel-mm "$VOX" --device "$DEV" --out "$W/G_nac" \
    --force "${CORR[@]}" --gate resp:4
timed rec_U_nac "$LAFOV" recon "$W/breath/acq.l" --no-attenuation --voxel-mm "$VOX" --device "$DEV" --out "$W/U_nac" \
    --force "${CORR[@]}"
# the dome: an axial profile through the liver (disc of 25 mm around x, y = -70, -5), smoothed over 3 slices;
# its edge is where it crosses halfway between the liver's level (median over z -100..-30 mm) and the
# lung's above it (median over z 20..60 mm), searched downwards from the lung (robust to voxel noise,
# unlike a half maximum); the edge's 25-75 % width shows the blur
dome() { # dome IMAGE: "EDGE_Z WIDTH"
    "$LAFOV" profile "$1" --at -70,-5 --radius-mm 25 --z-range -200,80 --out "$W/profile.csv" >/dev/null
    python3 - "$W/profile.csv" <<'PY'
import sys
rows = [l.split(",") for l in open(sys.argv[1]).read().split("\n")[1:] if l]
z = [float(r[0]) for r in rows]; v = [float(r[1]) for r in rows]
s = [sum(v[max(0, i - 1):i + 2]) / len(v[max(0, i - 1):i + 2]) for i in range(len(v))]
med = lambda a: sorted(a)[len(a) // 2]
liver = med([s[i] for i in range(len(z)) if -100 <= z[i] <= -30])
lung = med([s[i] for i in range(len(z)) if 20 <= z[i] <= 60])
def cross(f):
    lvl = lung + f * (liver - lung)
    i = max(i for i in range(len(z)) if z[i] <= 60)
    while i > 0 and s[i - 1] < lvl:
        i -= 1
    if i == 0:
        return float("nan")
    # s[i-1] >= lvl > s[i]: interpolate between slices i-1 and i
    return z[i - 1] + (s[i - 1] - lvl) / (s[i - 1] - s[i]) * (z[i] - z[i - 1])
print("%.3f %.3f" % (cross(0.5), cross(0.25) - cross(0.75)))
PY
}
expect=(1.817 8.183 8.183 1.817)
edges=()
widths=()
edges_ac=()
for g in 1 2 3 4; do
    read -r e wd <<<"$(dome "$W/G_nac/frame_0$g/image_bqml.nii.gz")"
    edges+=("$e")
    widths+=("$wd")
    read -r e wd <<<"$(dome "$W/G/frame_0$g/image_bqml.nii.gz")"
    edges_ac+=("$e")
done
printf "  attenuation-corrected gates (CT at rest): dome at z = %s mm\n" "${edges_ac[*]}"
echo "  gates without attenuation correction:"
python3 - "${edges[@]}" "${expect[@]}" <<'PY' | tee "$W/gates.txt"
import sys
e = [float(x) for x in sys.argv[1:5]]; x = [float(x) for x in sys.argv[5:9]]
me, mx = sum(e) / 4, sum(x) / 4
worst = 0
for g in range(4):
    d = (e[g] - me) - (x[g] - mx)
    worst = max(worst, abs(d))
    print("  gate %d: liver dome at z = %.2f mm; displacement %+.2f mm against the simulated %+.2f mm (error %+.2f)" % (g + 1, e[g], e[g] - me, x[g] - mx, d))
print("  spread of the dome over the gates %.2f mm (simulated %.2f mm); worst error %.2f mm" % (max(e) - min(e), max(x) - min(x), worst))
print("WORST %.4f" % worst)
PY
worst=$(awk '/^WORST/ {print $2}' "$W/gates.txt")
verdict "$(awk -v w="$worst" 'BEGIN{print (w<=2.0)}')" "each gate's liver dome within 2 mm of the simulated displacement"
read -r eu wu <<<"$(dome "$W/U_nac/image_bqml.nii.gz")"
printf "  liver dome 25-75 %% edge width: ungated %.2f mm (edge at z = %.2f), gates %s mm\n" "$wu" "$eu" "${widths[*]}"
verdict "$(awk -v u="$wu" -v a="${widths[0]}" -v b="${widths[1]}" -v c="${widths[2]}" -v d="${widths[3]}" \
    'BEGIN{print (u > (a+b+c+d)/4)}')" "the ungated dome is blurred (wider edge than the gates' mean)"

lf_say "validation: $failures failure(s); work folder $W"
[ "$failures" -eq 0 ]
