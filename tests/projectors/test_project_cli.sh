#!/usr/bin/env bash
# End-to-end tests of `lafov project fwd|back`: the CLI contract (exit codes, size checks and their
# messages, output files and their sizes, sform kept), plus two numeric checks through the files: a
# chord length on a uniform image, and <fwd(x), y> = <x, back(y)>. Inputs are made with perl (no python).
# usage: test_project_cli.sh LAFOV_BINARY   (LAFOV_SCANNER_DIR should point at data/scanners)
set -u
lafov=$1
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
err_has() { # err_has TEXT...: every TEXT occurs in the last command's stderr
  local t
  for t in "$@"; do
    grep -qF -- "$t" "$tmp/err" || { echo "  stderr lacks '$t':"; cat "$tmp/err"; return 1; }
  done
}
size_is() { # size_is FILE BYTES
  [ -f "$1" ] || { echo "  $1 missing"; return 1; }
  local s
  s=$(wc -c <"$1")
  [ "$s" -eq "$2" ] || { echo "  $1: $s bytes, expected $2"; return 1; }
}

# mknii PATH NX NY NZ 'SROW_X' 'SROW_Y' 'SROW_Z' KIND: an uncompressed NIfTI-1 float32 volume with the
# given sform rows (4 numbers each); KIND uniform (all 1) or random (seeded, in [0, 2)).
mknii() {
  perl -e '
    my ($path, $nx, $ny, $nz, $sx, $sy, $sz, $kind) = @ARGV;
    my @sx = split " ", $sx; my @sy = split " ", $sy; my @sz = split " ", $sz;
    my $vx = sqrt($sx[0]**2 + $sy[0]**2 + $sz[0]**2);
    my $vy = sqrt($sx[1]**2 + $sy[1]**2 + $sz[1]**2);
    my $vz = sqrt($sx[2]**2 + $sy[2]**2 + $sz[2]**2);
    my $h = pack("l< a10 a18 l< s< a1 a1 s<8 f<3 s< s< s< s< f<8 f< f< f< s< a1 a1 f<4 l<2 a80 a24 s<2 f<6 f<4 f<4 f<4 a16 a4",
      348, "", "", 0, 0, "r", "", 3, $nx, $ny, $nz, 1, 1, 1, 1, 0, 0, 0, 0, 16, 32, 0,
      1, $vx, $vy, $vz, 1, 1, 1, 1, 352, 1, 0, 0, "", "\x02", 0, 0, 0, 0, 0, 0,
      "test", "", 0, 2, 0, 0, 0, 0, 0, 0, @sx, @sy, @sz, "", "n+1\0");
    length($h) == 348 or die "header is " . length($h) . " bytes";
    srand(7);
    my $n = $nx * $ny * $nz;
    my @v = map { $kind eq "uniform" ? 1.0 : 2.0 * rand() } 1 .. $n;
    open(my $f, ">:raw", $path) or die "$path: $!";
    print $f $h, "\0\0\0\0", pack("f<*", @v);
    close($f) or die;
  ' "$@"
}

# mklors PATH N SEED: N LORs between two points on a cylinder of radius 300 mm, |z| <= 200 mm, aimed
# through the middle of the test images (each a random chord through a ball of 40 mm around (5, 0, 0)).
mklors() {
  perl -e '
    my ($path, $n, $seed) = @ARGV;
    srand($seed);
    my @x;
    for (1 .. $n) {
      my @c = (5 + 80 * (rand() - 0.5), 80 * (rand() - 0.5), 80 * (rand() - 0.5));
      my $ph = 6.2831853 * rand(), $ct = 2 * rand() - 1;
      my $st = sqrt(1 - $ct * $ct) * 0.3 + 0.7;  # mostly transaxial, some oblique
      my @d = ($st * cos($ph), $st * sin($ph), $ct * 0.5);
      push @x, (map { $c[$_] + 300 * $d[$_] } 0 .. 2), (map { $c[$_] - 300 * $d[$_] } 0 .. 2);
    }
    open(my $f, ">:raw", $path) or die; print $f pack("f<*", @x); close($f) or die;
  ' "$@"
}

# mkbins PATH N LO HI SEED: N int8 TOF bins uniform in LO..HI.   mkvals PATH N SEED: N float32 in [0, 1).
mkbins() {
  perl -e 'my ($p, $n, $lo, $hi, $s) = @ARGV; srand($s); open(my $f, ">:raw", $p) or die;
           print $f pack("c*", map { $lo + int(rand($hi - $lo + 1)) } 1 .. $n); close($f) or die;' "$@"
}
mkvals() {
  perl -e 'my ($p, $n, $s) = @ARGV; srand($s); open(my $f, ">:raw", $p) or die;
           print $f pack("f<*", map { rand() } 1 .. $n); close($f) or die;' "$@"
}

# f32_at FILE INDEX: one little-endian float32 of a raw file.
f32_at() {
  perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; local $/; my @v = unpack("f<*", <$f>); printf "%.9g\n", $v[$ARGV[1]];' "$@"
}
near() { # near GOT WANT TOL
  perl -e 'my ($g, $w, $t) = @ARGV; exit(abs($g - $w) <= $t ? 0 : 1)' "$1" "$2" "$3" || { echo "  got $1, expected $2 +- $3"; return 1; }
}
# adjoint IMG.nii PROJ.f32 VALUES.f32 BACK.nii: |<proj, values> - <img, back>| <= 1e-4 relative (doubles)
adjoint() {
  perl -e '
    sub slurp { open(my $f, "<:raw", $_[0]) or die "$_[0]: $!"; local $/; my $d = <$f>; return $d }
    my ($img, $proj, $vals, $back) = map { slurp($_) } @ARGV;
    my @x = unpack("f<*", substr($img, 352)); my @bx = unpack("f<*", substr($back, 352));
    my @p = unpack("f<*", $proj); my @y = unpack("f<*", $vals);
    die "sizes differ" unless @x == @bx && @p == @y;
    my ($a, $b) = (0, 0);
    $a += $p[$_] * $y[$_] for 0 .. $#p;
    $b += $x[$_] * $bx[$_] for 0 .. $#x;
    my $rel = abs($a - $b) / (abs($a) > 0 ? abs($a) : 1);
    printf "  <fwd x, y> = %.9g, <x, back y> = %.9g, relative difference %.2g\n", $a, $b, $rel;
    exit($a > 0 && $rel <= 1e-4 ? 0 : 1);
  ' "$@"
}
# same_geometry A.nii B.nii: dim[0..3] (bytes 40..48) and the sform rows (280..328) identical
same_geometry() {
  perl -e '
    sub slurp { open(my $f, "<:raw", $_[0]) or die "$_[0]: $!"; local $/; my $d = <$f>; return $d }
    my ($a, $b) = map { slurp($_) } @ARGV;
    exit(substr($a, 40, 8) eq substr($b, 40, 8) && substr($a, 280, 48) eq substr($b, 280, 48) ? 0 : 1);
  ' "$@" || { echo "  $1 and $2 differ in dims or sform"; return 1; }
}
# close_f32 A.f32 B.f32: same length, every value within 1e-4 relative (of the largest magnitude)
close_f32() {
  perl -e '
    sub slurp { open(my $f, "<:raw", $_[0]) or die "$_[0]: $!"; local $/; my $d = <$f>; return $d }
    my ($a, $b, $off) = (slurp($ARGV[0]), slurp($ARGV[1]), $ARGV[2] // 0);
    my @a = unpack("f<*", substr($a, $off)); my @b = unpack("f<*", substr($b, $off));
    exit 1 unless @a == @b;
    my $m = 0; for (@a) { $m = abs($_) if abs($_) > $m }
    for (0 .. $#a) { exit 1 if abs($a[$_] - $b[$_]) > 1e-4 * ($m > 0 ? $m : 1) }
    exit 0;
  ' "$@" || { echo "  $1 and $2 differ beyond 1e-4"; return 1; }
}

N=400
# 20 x 20 x 10 voxels of 4 mm: x in [-35, 45] mm... (voxel 0 centred at x = -33), y in [-40, 40], z in [-20, 20]
G=(20 20 10 "4 0 0 -33" "0 4 0 -38" "0 0 4 -18")
mknii "$tmp/img.nii" "${G[@]}" random
mknii "$tmp/one.nii" "${G[@]}" uniform
mklors "$tmp/lors.f32" $N 11
mkbins "$tmp/bins.i8" $N -3 3 12
mkvals "$tmp/vals.f32" $N 13
check "inputs made" size_is "$tmp/lors.f32" $((24 * N))

# ---------------------------------------------------------------- usage (exit 2)
check "listed in lafov --help" exit_code 0 "$lafov" --help
check "help names project" grep -q '^  project' "$tmp/out"
check "project --help" exit_code 0 "$lafov" project --help
check "help text" grep -q 'lafov project fwd' "$tmp/out"
check "bad option" exit_code 2 "$lafov" project fwd --no-such-option x
check "no mode" exit_code 2 "$lafov" project --image "$tmp/img.nii" --lors "$tmp/lors.f32" --out "$tmp/p.f32"
check "unknown mode" exit_code 2 "$lafov" project sideways --image "$tmp/img.nii" --lors "$tmp/lors.f32" --out "$tmp/p.f32"
check "unknown mode message" err_has sideways
check "needs --image" exit_code 2 "$lafov" project fwd --lors "$tmp/lors.f32" --out "$tmp/p.f32"
check "needs --image message" err_has -- --image
check "needs --lors" exit_code 2 "$lafov" project fwd --image "$tmp/img.nii" --out "$tmp/p.f32"
check "needs --out" exit_code 2 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32"
check "back needs --values" exit_code 2 "$lafov" project back --image "$tmp/img.nii" --lors "$tmp/lors.f32" --out "$tmp/b.nii"
check "back needs --values message" err_has -- --values
check "fwd takes no --values" exit_code 2 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --values "$tmp/vals.f32" --out "$tmp/p.f32"
check "--tof-bins needs --scanner" exit_code 2 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --tof-bins "$tmp/bins.i8" --out "$tmp/p.f32"
check "--tof-bins needs --scanner message" err_has -- --scanner
check "--scanner needs --tof-bins" exit_code 2 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --scanner quadra --out "$tmp/p.f32"
check "unknown projector" exit_code 2 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --projector bresenham --out "$tmp/p.f32"
check "unknown projector message" err_has bresenham joseph siddon
check "unknown device" exit_code 2 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --device tpu --out "$tmp/p.f32"
check "unknown device message" err_has tpu cpu cuda
check "usage errors wrote nothing" test ! -e "$tmp/p.f32"

# ---------------------------------------------------------------- projections (exit 0)
for kind in joseph siddon; do
  check "fwd $kind" exit_code 0 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
    --projector $kind --out "$tmp/fwd_$kind.f32"
  check "fwd $kind: one float32 per LOR" size_is "$tmp/fwd_$kind.f32" $((4 * N))
  check "back $kind" exit_code 0 "$lafov" project back --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
    --values "$tmp/vals.f32" --projector $kind --out "$tmp/back_$kind.nii"
  check "back $kind: NIfTI of the image's size" size_is "$tmp/back_$kind.nii" $((352 + 4 * 20 * 20 * 10))
  check "back $kind: dims and sform of --image" same_geometry "$tmp/img.nii" "$tmp/back_$kind.nii"
  check "back $kind: adjoint of fwd" adjoint "$tmp/img.nii" "$tmp/fwd_$kind.f32" "$tmp/vals.f32" "$tmp/back_$kind.nii"
  check "fwd $kind TOF" exit_code 0 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
    --tof-bins "$tmp/bins.i8" --scanner quadra --projector $kind --out "$tmp/fwdt_$kind.f32"
  check "fwd $kind TOF: one float32 per LOR" size_is "$tmp/fwdt_$kind.f32" $((4 * N))
  check "back $kind TOF" exit_code 0 "$lafov" project back --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
    --tof-bins "$tmp/bins.i8" --scanner quadra --values "$tmp/vals.f32" --projector $kind --out "$tmp/backt_$kind.nii"
  check "back $kind TOF: adjoint of fwd" adjoint "$tmp/img.nii" "$tmp/fwdt_$kind.f32" "$tmp/vals.f32" \
    "$tmp/backt_$kind.nii"
done
check "back .nii.gz" exit_code 0 "$lafov" project back --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --values "$tmp/vals.f32" --out "$tmp/back.nii.gz"
check "back .nii.gz written" test -s "$tmp/back.nii.gz"

# The grid comes from the sform: on the uniform image (x in [-35, 45] mm), a LOR along x from x = -100 to
# x = 20 at y = z = 1 mm crosses 55 mm of it (Siddon: exact; Joseph: within a voxel fraction).
perl -e 'open(my $f, ">:raw", $ARGV[0]) or die; print $f pack("f<*", -100, 1, 1, 20, 1, 1, 20, 1, 1, -100, 1, 1);' \
  "$tmp/xlor.f32"
for kind in siddon joseph; do
  check "chord $kind" exit_code 0 "$lafov" project fwd --image "$tmp/one.nii" --lors "$tmp/xlor.f32" \
    --projector $kind --out "$tmp/chord_$kind.f32"
done
check "chord siddon = 55 mm" near "$(f32_at "$tmp/chord_siddon.f32" 0)" 55 1e-3
check "chord siddon reversed = 55 mm" near "$(f32_at "$tmp/chord_siddon.f32" 1)" 55 1e-3
check "chord joseph ~ 55 mm" near "$(f32_at "$tmp/chord_joseph.f32" 0)" 55 4
# TOF bins of a LOR sum to its non-TOF projection (all 33 Quadra bins of one LOR)
perl -e 'open(my $f, ">:raw", $ARGV[0]) or die; print $f pack("f<*", (-100, 1, 1, 20, 1, 1) x 33); close $f;
         open($f, ">:raw", $ARGV[1]) or die; print $f pack("c*", -16 .. 16);' "$tmp/xlor33.f32" "$tmp/bins33.i8"
check "chord TOF, all bins" exit_code 0 "$lafov" project fwd --image "$tmp/one.nii" --lors "$tmp/xlor33.f32" \
  --tof-bins "$tmp/bins33.i8" --scanner quadra --projector siddon --out "$tmp/chord33.f32"
check "chord TOF bins sum to 55 mm" near "$(perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; local $/;
  my $s = 0; $s += $_ for unpack("f<*", <$f>); print $s' "$tmp/chord33.f32")" 55 1e-2

# an empty LOR file: nothing to project, an empty output
: >"$tmp/none.f32"
check "fwd of no LORs" exit_code 0 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/none.f32" --out "$tmp/none_out.f32"
check "fwd of no LORs: empty output" size_is "$tmp/none_out.f32" 0

# ---------------------------------------------------------------- bad input (exit 1, the file named, nothing written)
head -c 100 "$tmp/lors.f32" >"$tmp/lors100.f32"
check "LORS not a multiple of 24" exit_code 1 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors100.f32" \
  --out "$tmp/bad.f32"
check "LORS size message" err_has lors100.f32 "100 bytes" "multiple of 24"
head -c $((N - 1)) "$tmp/bins.i8" >"$tmp/bins_short.i8"
check "BINS length" exit_code 1 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --tof-bins "$tmp/bins_short.i8" --scanner quadra --out "$tmp/bad.f32"
check "BINS length message" err_has bins_short.i8 "$((N - 1)) bytes" "expected $N"
head -c $((4 * N - 4)) "$tmp/vals.f32" >"$tmp/vals_short.f32"
check "VALUES length" exit_code 1 "$lafov" project back --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --values "$tmp/vals_short.f32" --out "$tmp/bad.nii"
check "VALUES length message" err_has vals_short.f32 "$((4 * N - 4)) bytes" "expected $((4 * N))"
mkbins "$tmp/bins_wide.i8" $N 17 17 14
check "TOF bin outside the scanner's" exit_code 1 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --tof-bins "$tmp/bins_wide.i8" --scanner quadra --out "$tmp/bad.f32"
check "TOF bin message" err_has bins_wide.i8 "TOF bin 17" "-16..16"
check "non-TOF scanner" exit_code 1 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --tof-bins "$tmp/bins.i8" --scanner mmr --out "$tmp/bad.f32"
check "non-TOF scanner message" err_has mmr TOF
check "unknown scanner" exit_code 1 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --tof-bins "$tmp/bins.i8" --scanner no_such_scanner --out "$tmp/bad.f32"
check "unknown scanner message" err_has no_such_scanner
check "missing image" exit_code 1 "$lafov" project fwd --image "$tmp/nothere.nii" --lors "$tmp/lors.f32" --out "$tmp/bad.f32"
check "missing image message" err_has nothere.nii
check "missing LORS" exit_code 1 "$lafov" project fwd --image "$tmp/img.nii" --lors "$tmp/nothere.f32" --out "$tmp/bad.f32"
check "missing LORS message" err_has nothere.f32
mknii "$tmp/rot.nii" 20 20 10 "3.9 0.5 0 -33" "-0.5 3.9 0 -38" "0 0 4 -18" random
check "rotated sform" exit_code 1 "$lafov" project fwd --image "$tmp/rot.nii" --lors "$tmp/lors.f32" --out "$tmp/bad.f32"
check "rotated sform message" err_has rot.nii axis-aligned
mknii "$tmp/flip.nii" 20 20 10 "-4 0 0 45" "0 4 0 -38" "0 0 4 -18" random
check "negative voxel size" exit_code 1 "$lafov" project fwd --image "$tmp/flip.nii" --lors "$tmp/lors.f32" --out "$tmp/bad.f32"
check "negative voxel size message" err_has flip.nii "positive voxel sizes"
check "back to a non-NIfTI name" exit_code 1 "$lafov" project back --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
  --values "$tmp/vals.f32" --out "$tmp/bad.raw"
check "failures wrote nothing" test ! -e "$tmp/bad.f32" -a ! -e "$tmp/bad.nii" -a ! -e "$tmp/bad.raw"
check "no temporary files left" test -z "$(ls "$tmp" | grep -F .tmp.)"

# ---------------------------------------------------------------- --device cuda
"$lafov" --version >"$tmp/version"
if grep -q '^CUDA device' "$tmp/version"; then
  # a GPU: the CUDA projections equal the CPU's to 1e-4
  for kind in joseph siddon; do
    check "cuda fwd $kind" exit_code 0 "$lafov" project fwd --device cuda --image "$tmp/img.nii" --lors "$tmp/lors.f32" \
      --projector $kind --out "$tmp/cfwd_$kind.f32"
    check "cuda fwd $kind = cpu" close_f32 "$tmp/fwd_$kind.f32" "$tmp/cfwd_$kind.f32"
    check "cuda back $kind TOF" exit_code 0 "$lafov" project back --device cuda --image "$tmp/img.nii" \
      --lors "$tmp/lors.f32" --tof-bins "$tmp/bins.i8" --scanner quadra --values "$tmp/vals.f32" --projector $kind \
      --out "$tmp/cbackt_$kind.nii"
    check "cuda back $kind TOF = cpu" close_f32 "$tmp/backt_$kind.nii" "$tmp/cbackt_$kind.nii" 352
  done
else
  # no GPU (or a CPU-only build): a clear failure, never a silent fall-back to the CPU
  check "cuda without a GPU fails" exit_code 1 "$lafov" project fwd --device cuda --image "$tmp/img.nii" \
    --lors "$tmp/lors.f32" --out "$tmp/cuda.f32"
  check "cuda without a GPU: message" err_has CUDA
  check "cuda without a GPU: nothing written" test ! -e "$tmp/cuda.f32"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
