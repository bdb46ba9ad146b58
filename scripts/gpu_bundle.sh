#!/usr/bin/env bash
# lafov GPU bundle: packs a CUDA build's programs with every shared library they need that is not part of
# the C library (hdf5 and what it pulls in, fftw, cmocka, png, nifti, dcmtk, zlib, gomp, libstdc++,
# cudart, ...) into one xz tarball (bin/, lib/; binaries and libraries stripped), so that they run on a GPU
# machine that has a driver but not those packages (glibc there must be at least as new as here).
#   scripts/gpu_bundle.sh BUILD_DIR OUT.tar.xz [PROGRAM...]
#     default programs: lafov lafov_bench_projectors lafov_bench_sensitivity tests/test_cuda
#     tests/test_projectors (relative to BUILD_DIR; build them first, e.g. -DLAFOV_CUDA=ON
#     -DCMAKE_CUDA_ARCHITECTURES=90).
# On the GPU machine, from the repository root (the tests read data/scanners):
#   mkdir -p /tmp/g && python3 -c "import tarfile; tarfile.open('OUT.tar.xz').extractall('/tmp/g')"
#   export LD_LIBRARY_PATH=/tmp/g/lib LAFOV_SCANNER_DIR=$PWD/data/scanners
#   /tmp/g/bin/test_cuda; LAFOV_BENCH_BIN=/tmp/g/bin/lafov_bench_projectors scripts/bench_projectors.sh --threads 16
# (2026-11-23: 55 libraries, 67 MB unpacked, 19 MB packed; libicudata alone is 30 MB.)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR OUT.tar.xz [PROGRAM...]" >&2; exit 2; }
B=$1 O=$2
shift 2
PROGS=("$@")
[ ${#PROGS[@]} -gt 0 ] ||
    PROGS=(lafov lafov_bench_projectors lafov_bench_sensitivity tests/test_cuda tests/test_projectors)
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT
mkdir -p "$S/bin" "$S/lib"
# glibc's own libraries and the driver are never carried: the target's must be used
SKIP='^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux-x86-64|linux-vdso|libcuda|libnvidia-.*)\.so'
for p in "${PROGS[@]}"; do
    [ -x "$B/$p" ] || { echo "gpu_bundle: $B/$p is not built" >&2; exit 1; }
    cp -f "$B/$p" "$S/bin/"
    strip "$S/bin/$(basename "$p")"
    while read -r name path; do
        [[ $name =~ $SKIP ]] && continue
        if [ ! -e "$S/lib/$name" ]; then
            cp -L "$path" "$S/lib/$name"
            strip --strip-unneeded "$S/lib/$name" 2>/dev/null || true
        fi
    done < <(ldd "$B/$p" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
done
tar -C "$S" -cf - bin lib | xz -6 -T2 >"$O"
echo "gpu_bundle: $O: $(ls "$S/bin" | wc -l) programs, $(ls "$S/lib" | wc -l) libraries, $(du -sh "$S" | cut -f1) unpacked, $(du -h "$O" | cut -f1) packed"
