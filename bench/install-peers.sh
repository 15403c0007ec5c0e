#!/usr/bin/env bash
# Install the peer tools bench/run.py compares the engine with, from Debian 12 (bookworm). Root.
#
#   bash bench/install-peers.sh
#
# Benchmark-only: none of this is a dependency of the plugin or of its tests.
#   python3-dask python3-distributed   dask.array.map_overlap peer
#   python3-matplotlib                 bench/results.png
#   otb-bin                            Orfeo ToolBox 8 command-line apps (otbcli_*)
#   grass-core                         GRASS GIS 8 (r.neighbors nprocs=2)
#   gdal-bin python3-gdal              gdal_fillnodata.py, gdal_calc.py
# and exactextract 0.3.0 (bench/vectors.py) and EOScale 1.0.0 (bench/streaming.py --case seed, bench/eoscale_seed.py) in a bench-only
# venv that sees the system packages (numpy, scipy, rasterio): $BENCH_VENV, /tmp/benchvenv by
# default (bench/streaming.py runs $TILEWISE_BENCH_PYTHON, /tmp/benchvenv/bin/python).
# Idempotent: if every package is already installed, apt is not touched at all.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/_apt.sh"

BENCH_VENV=${BENCH_VENV:-/tmp/benchvenv}

install_eoscale() {
  if [[ -x "$BENCH_VENV/bin/python" ]] && "$BENCH_VENV/bin/python" -c "import eoscale" 2>/dev/null; then
    echo "install-peers: EOScale already in $BENCH_VENV"
    return
  fi
  /usr/bin/python3 -m venv --system-site-packages "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install eoscale==1.0.0 --no-deps tqdm laspy
}

install_exactextract() {  # bench/vectors.py's zonal statistics peer
  if "$BENCH_VENV/bin/python" -c "import exactextract" 2>/dev/null; then
    echo "install-peers: exactextract already in $BENCH_VENV"
    return
  fi
  "$BENCH_VENV/bin/pip" install exactextract==0.3.0
}

PACKAGES=(python3-dask python3-distributed python3-matplotlib otb-bin grass-core gdal-bin python3-gdal)

apt_install_missing install-peers "${PACKAGES[@]}"
install_eoscale
install_exactextract
