#!/usr/bin/env bash
# Install Tilewise's system dependencies on Debian 12 (bookworm). Run as root.
#
#   bash scripts/install-deps.sh           # QGIS 3.22 + Python libs used by the plugin/demo
#   bash scripts/install-deps.sh --tests   # ... plus pytest, hypothesis, pytest-timeout
#
# Idempotent: if every package is already installed, apt is not touched at all.
set -euo pipefail

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

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
