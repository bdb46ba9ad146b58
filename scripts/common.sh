# shellcheck shell=bash
# lafov scripts: shared helpers. Source it from a script in scripts/:
#   source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# It sets LAFOV_ROOT (the repository root) and cds there, so every script runs from any cwd.

LAFOV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$LAFOV_ROOT" || exit 1
LAFOV_JOBS="${LAFOV_JOBS:-2}"

# Debian packages the build, the tests, the fuzzers and the scripts need (libomp-dev: OpenMP for clang).
LAFOV_DEB_PACKAGES=(cmake make gcc g++ pkg-config libcmocka-dev libfftw3-dev libhdf5-dev libnifti2-dev libpng-dev
    libdcmtk-dev zlib1g-dev clang libclang-rt-14-dev libomp-dev libopenmpi-dev openmpi-bin)

lf_say() { printf '\n==> %s\n' "$*"; }
lf_die() { printf 'lafov: %s\n' "$*" >&2; exit 1; }

# Installs the missing packages when root; otherwise prints the apt-get line and fails.
lf_deps() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "lafov: dpkg-query not found (not Debian?): assuming these are installed: ${LAFOV_DEB_PACKAGES[*]}" >&2
        return 0
    fi
    local missing=() p
    for p in "${LAFOV_DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "lafov: missing Debian packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    lf_say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# lf_build DIR [cmake args...]: configures (only what changed) and builds DIR with LAFOV_JOBS jobs.
# LAFOV_BUILD_TARGETS (space-separated) limits the build to some targets.
lf_build() {
    local dir="$1"
    shift
    lf_say "configure $dir: $*"
    cmake -S "$LAFOV_ROOT" -B "$LAFOV_ROOT/$dir" "$@" || return 1
    lf_say "build $dir"
    local targets=()
    [ -n "${LAFOV_BUILD_TARGETS:-}" ] && read -r -a targets <<<"$LAFOV_BUILD_TARGETS"
    if [ ${#targets[@]} -gt 0 ]; then
        cmake --build "$LAFOV_ROOT/$dir" -j "$LAFOV_JOBS" --target "${targets[@]}" || return 1
    else
        cmake --build "$LAFOV_ROOT/$dir" -j "$LAFOV_JOBS" || return 1
    fi
}

# lf_truth_label TRUTH_JSON NAME: the label number of a shape in a simulator's truth.json (its "labels" list of
# {"label": N, "name": "..."}, as lafov simulate writes it one key per line); prints nothing when absent.
lf_truth_label() {
    awk -v n="\"$2\"" '/"label":/ { gsub(/[^0-9]/, "", $2); l = $2 } /"name":/ && $2 ~ n { print l; exit }' "$1"
}

# lf_lafov_binary: sets LAFOV to $LAFOV_BIN when given (an already built lafov), else installs what is missing
# and builds build/lafov (Release, CUDA AUTO) — the validation and benchmark scripts' first step.
lf_lafov_binary() {
    if [ -n "${LAFOV_BIN:-}" ]; then
        LAFOV=$LAFOV_BIN
    else
        lf_deps
        LAFOV_BUILD_TARGETS=lafov_cli lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
            lf_die "the build failed (see above)"
        LAFOV=$LAFOV_ROOT/build/lafov
    fi
}
