#!/usr/bin/env bash
# End-to-end tests of `lafov export` and `lafov motion` on a short simulation (small scanner, a water
# cylinder 30 mm long with a hot ball, inside the axial FOV, 5 MBq, 4 s, randoms on so that delayeds
# exist, moved 10 mm along z at 2 s):
#  - export 0-1,2-3: the kept prompts and delayeds equal those of the two windows counted here
#    independently from the raw words, every time marker and tag kept, the header's kept windows and
#    word count, `lafov info --json` on the result; --force, refusing an existing output and the input;
#  - motion: exit codes, motion.json keys and sizes, motion.png, the move found at 2 s; on the exported
#    stream (a dropped window) too.
# usage: test_motion_cli.sh LAFOV_BINARY   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
json() { # json FILE PYTHON-EXPRESSION-ON-d
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"
}

cat >"$tmp/short.phantom" <<'PH'
phantom name := short water cylinder with a hot ball (motion test)
default uptake (s) := 0
shape := water
type := cylinder
axis := z
centre (mm) := 0, 0, -5
radius (mm) := 50
half-length (mm) := 15
relative activity := 1
HU := 0
mu (1/cm) := 0.096
shape := ball
type := ellipsoid
centre (mm) := 25, 0, -5
radius (mm) := 8
relative activity := 4
HU := 0
mu (1/cm) := 0.096
PH
sim=$tmp/sim
"$lafov" simulate --phantom "$tmp/short.phantom" --scanner small --activity-mbq 5 \
  --duration-s 4 --no-scatter --no-ct --seed 5 --motion 2:0,0,10 --out "$sim" >"$tmp/sim.log" 2>&1 ||
  { echo "lafov simulate failed:"; cat "$tmp/sim.log"; exit 1; }
acq=$sim/acq.l

# ---- independent count of the raw words: prompts/delayeds in [0,1) s and [2,3) s, markers, tags
read -r P D M T W <<<"$(python3 - "$acq" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
p = d = m = t = 0
ms = 0
for (w,) in struct.iter_unpack("<Q", data):
    if w >> 63:
        if (w >> 61) == 0x4:           # time marker: upper word 100x xxxx
            ms = (w >> 32) & 0x1FFFFFFF | ((w & 0xFFFFFFFF) << 29); m += 1
        else:
            t += 1
    elif ms < 1000 or 2000 <= ms < 3000:
        if (w >> 62) & 1: p += 1
        else: d += 1
print(p, d, m, t, m + t + p + d)
PY
)"
check "raw count" [ "$P" -gt 0 ] && [ "$D" -gt 0 ] && [ "$M" -eq 4000 ]

# ---- export
out=$tmp/kept.l
check "export" exit_code 0 "$lafov" export "$acq" --frames 0-1,2-3 --out "$out"
check "export message" grep -qF "wrote $out: kept windows {0-1,2-3}" "$tmp/out"
check "info on the export" exit_code 0 "$lafov" info "$out" --json
cp "$tmp/out" "$tmp/info.json"
check "kept prompts" [ "$(json "$tmp/info.json" 'd["prompts"]')" -eq "$P" ]
check "kept delayeds" [ "$(json "$tmp/info.json" 'd["delayeds"]')" -eq "$D" ]
check "every marker" [ "$(json "$tmp/info.json" 'd["time_markers"]')" -eq 4000 ]
check "every tag" [ "$(json "$tmp/info.json" 'd["tags"]["singles"]')" -eq "$T" ]
check "no warnings" [ "$(json "$tmp/info.json" 'len(d["warnings"])')" -eq 0 ]
check "header word count" [ "$(json "$tmp/info.json" 'd["header"]["total_listmode_word_counts"]')" -eq "$W" ]
check "header duration" [ "$(json "$tmp/info.json" 'd["header"]["image_duration_s"]')" = "4" ]
check "no counts in the dropped second" [ "$(json "$tmp/info.json" 'd["count_rate"][1]["prompts"] + d["count_rate"][3]["prompts"]')" -eq 0 ]
check "kept windows key" grep -qx '%kept windows (sec):={0-1,2-3}' "$out.hdr"
check "study keys copied" grep -qF "$(grep 'tracer activity at time of injection' "$acq.hdr")" "$out.hdr"
check "header ends the file" [ "$(tail -n 1 "$out.hdr")" = '!END OF INTERFILE:=' ]
check "no temporary left" [ -z "$(ls "$tmp" | grep '\.tmp\.')" ]
# exporting an export: the intersection of the windows
check "re-export" exit_code 0 "$lafov" export "$out" --frames 0.5-2.5 --out "$tmp/again.l"
check "intersected windows" grep -qx '%kept windows (sec):={0.5-1,2-2.5}' "$tmp/again.l.hdr"
# --exclude and m:ss
check "exclude" exit_code 0 "$lafov" export "$acq" --frames 0:00-0:04 --exclude 1-3 --out "$tmp/ex.l"
check "exclude windows" grep -qx '%kept windows (sec):={0-1,3-4}' "$tmp/ex.l.hdr"

# ---- refusals
check "existing output" exit_code 1 "$lafov" export "$acq" --frames 0-1 --out "$out"
check "existing output message" err_has "kept.l" "--force"
check "unchanged without --force" grep -qx '%kept windows (sec):={0-1,2-3}' "$out.hdr"
check "--force" exit_code 0 "$lafov" export "$acq" --frames 0-1 --out "$out" --force
check "--force replaced" grep -qx '%kept windows (sec):={0-1}' "$out.hdr"
check "output is input" exit_code 1 "$lafov" export "$acq" --frames 0-1 --out "$acq" --force
check "output is input message" err_has "the output is the input"
check "window beyond the data" exit_code 1 "$lafov" export "$acq" --frames 0-9 --out "$tmp/x.l"
check "window beyond message" err_has "--frames item 1" "after the end of the data"
check "missing input" exit_code 1 "$lafov" export "$tmp/nope.l" --frames 0-1 --out "$tmp/y.l"
check "missing input message" err_has "nope.l"
check "no --frames" exit_code 2 "$lafov" export "$acq" --out "$tmp/z.l"
check "no --out" exit_code 2 "$lafov" export "$acq" --frames 0-1
check "bad frames" exit_code 1 "$lafov" export "$acq" --frames 3-1 --out "$tmp/z.l"
check "bad frames message" err_has "--frames item 1"
check "nothing written on failure" [ ! -e "$tmp/z.l" ] && [ ! -e "$tmp/x.l" ]
check "export help" exit_code 0 "$lafov" export --help
check "listed in lafov --help" bash -c "'$lafov' --help | grep -q '^  export '"

# ---- motion
m=$tmp/motion
check "motion" exit_code 0 "$lafov" motion "$acq" --out "$m" --resolution-s 0.2 --min-segment-s 1 --min-window-s 0.5
check "motion.json" [ -s "$m/motion.json" ]
check "motion.png" [ "$(head -c 8 "$m/motion.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
check "json keys" [ "$(json "$m/motion.json" '",".join(k for k in ("traces", "change_points", "stable_windows") if k in d)')" = "traces,change_points,stable_windows" ]
check "trace keys" [ "$(json "$m/motion.json" '",".join(sorted(k for k in d["traces"] if k in ("time_s", "counts_per_s", "centroid_mm")))')" = "centroid_mm,counts_per_s,time_s" ]
check "20 bins" [ "$(json "$m/motion.json" 'len(d["traces"]["time_s"])')" -eq 20 ]
check "centroids x,y,z" [ "$(json "$m/motion.json" 'len(d["traces"]["centroid_mm"][7])')" -eq 3 ]
check "move found at 2 s" [ "$(json "$m/motion.json" 'sum(1 for c in d["change_points"] if abs(c["time_s"] - 2) < 0.21)')" -eq 1 ]
check "shift triple" [ "$(json "$m/motion.json" 'len(d["change_points"][0]["shift_mm"])')" -eq 3 ]
check "shift ~10 mm" [ "$(json "$m/motion.json" 'int(abs(d["change_points"][0]["shift_mm"][2] - 10) < 2)')" -eq 1 ]
check "stable windows pairs" [ "$(json "$m/motion.json" 'all(len(w) == 2 and w[0] < w[1] for w in d["stable_windows"])')" = "True" ]
check "motion message" grep -qF "wrote $m/motion.json" "$tmp/out"
check "motion on the export" exit_code 0 "$lafov" motion "$tmp/ex.l" --out "$tmp/m2" --resolution-s 0.5 --min-segment-s 0.5 \
  --min-window-s 0.5
check "empty bins are null" [ "$(json "$tmp/m2/motion.json" 'd["traces"]["centroid_mm"][3][2]')" = "None" ]
# lafov recon --frames auto / auto-all: the still windows the motion detection proposes
check "recon auto-all" exit_code 0 "$lafov" recon "$acq" --no-attenuation --frames auto-all --motion-resolution-s 0.2 \
  --motion-min-segment-s 1 --motion-min-window-s 0.5 --iterations 1 --cache-dir "$tmp/cache" --out "$tmp/ra"
check "auto-all: one image per still window" test -s "$tmp/ra/frame_02/image_bqml.nii.gz"
check "auto-all: frames.json" grep -q '"frame_02"' "$tmp/ra/frames.json"
check "auto-all: the change logged" grep -q "motion: change at" "$tmp/ra/recon.log"
check "recon auto" exit_code 0 "$lafov" recon "$acq" --no-attenuation --frames auto --motion-resolution-s 0.2 \
  --motion-min-segment-s 1 --motion-min-window-s 0.5 --iterations 1 --cache-dir "$tmp/cache" --out "$tmp/rb"
check "auto: one frame" test -s "$tmp/rb/image_bqml.nii.gz"
check "auto: no still window" exit_code 1 "$lafov" recon "$acq" --no-attenuation --frames auto --iterations 1 \
  --cache-dir "$tmp/cache" --out "$tmp/rc"
check "auto: message" err_has "no stable window"
check "motion missing input" exit_code 1 "$lafov" motion "$tmp/nope.l" --out "$tmp/m3"
check "motion missing message" err_has "nope.l"
check "motion no --out" exit_code 2 "$lafov" motion "$acq"
check "motion bad resolution" exit_code 2 "$lafov" motion "$acq" --out "$tmp/m3" --resolution-s 0
check "motion bad resolution message" err_has "--resolution-s"
check "motion bad threshold" exit_code 2 "$lafov" motion "$acq" --out "$tmp/m3" --threshold-mm -1
check "motion bad option" exit_code 2 "$lafov" motion "$acq" --out "$tmp/m3" --bogus
check "motion help" exit_code 0 "$lafov" motion --help
check "motion listed" bash -c "'$lafov' --help | grep -q '^  motion '"

echo "motion cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
