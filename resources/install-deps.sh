#!/usr/bin/env bash
# Installs the Debian packages the NUMA lab needs (only the missing ones).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=resources/lib.sh
. "$here/lib.sh"
ensure_packages "${LAB_PACKAGES[@]}"
