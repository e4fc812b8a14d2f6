#!/usr/bin/env bash
# Runs a script with the project's Node 24 (the machine's node may be older) and the
# tool folders on PATH, so every entry point sees the same runtime and binaries.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/tools.env"
export PATH="$NODE_HOME/bin:$OTA_BIN:$OTA_VENV/bin:$PATH"
export OTA_TOOLS
exec node "$@"
