#!/usr/bin/env bash
# Installs the Debian packages lafov needs (as root), or prints the apt-get line to run.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
lf_deps
echo "lafov: all Debian packages are installed (${LAFOV_DEB_PACKAGES[*]})"
