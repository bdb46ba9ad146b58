#!/usr/bin/env bash
# lafov I/O benchmark: builds build/ (Release) and runs lafov_bench_io, which generates >= 1e8 events
# per stream format in a temporary folder (removed afterwards) and reports decode MB/s, events/s and
# peak RSS. Arguments go to lafov_bench_io, e.g. `scripts/bench_io.sh --events 2e8`.
# The temporary folder is under ${TMPDIR:-/tmp}; 1e8 events need about 1.4 GB there.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

lf_deps
LAFOV_BUILD_TARGETS=lafov_bench_io lf_build build -DCMAKE_BUILD_TYPE=Release -DLAFOV_CUDA=AUTO ||
    lf_die "the build failed (see above)"
work="$(mktemp -d "${TMPDIR:-/tmp}/lafov_bench_io.XXXXXX")"
case " $* " in
*" --keep "*) echo "lafov: --keep: the streams stay in $work" ;;
*) trap 'rm -rf "$work"' EXIT ;;
esac
lf_say "lafov_bench_io --dir $work $*"
build/lafov_bench_io --dir "$work" "$@"
