#!/usr/bin/env bash
# Install what the tests need on Debian 12 (as root) and run the whole suite.
#   bash scripts/test.sh [pytest args...]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/install-deps.sh" --tests
cd "$repo"
export QT_QPA_PLATFORM=offscreen
exec /usr/bin/python3 -m pytest "$@"
