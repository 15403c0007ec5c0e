#!/usr/bin/env bash
# Install Tilewise's system dependencies on Debian 12 (bookworm). Run as root.
#
#   bash scripts/install-deps.sh           # QGIS 3.22 + Python libs used by the plugin/demo
#   bash scripts/install-deps.sh --tests   # ... plus pytest, hypothesis, pytest-timeout
#
# Idempotent: if every package is already installed, apt is not touched at all.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"

PACKAGES=(
  qgis python3-qgis qgis-providers
  python3-numpy python3-scipy python3-rasterio python3-distributed python3-psutil
  python3-gdal gdal-bin python3-yaml
)
TEST_PACKAGES=(python3-pytest python3-hypothesis python3-pytest-timeout xvfb xauth)

for arg in "$@"; do
  case "$arg" in
    --tests) PACKAGES+=("${TEST_PACKAGES[@]}") ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option: $arg" >&2; exit 2 ;;
  esac
done

apt_install_missing install-deps "${PACKAGES[@]}"
