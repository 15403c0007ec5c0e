#!/usr/bin/env bash
# Tilewise demo: install dependencies, make a synthetic DSM and run the three Tilewise
# algorithms through the real QGIS Processing executor (qgis_process), headless.
#
#   sudo bash scripts/demo.sh [--size N] [--outdir DIR]
#
#   --size N      DSM size in pixels (N x N, default 4000)
#   --outdir DIR  where to put everything (default: a new /tmp/tilewise-demo.XXXXXX)
#
# Steps: scripts/install-deps.sh (apt, skipped when all is installed; needs root otherwise),
# an isolated QGIS profile with the plugin enabled (DIR/qgis), dsm.tif (scripts/make_dsm.py),
# tilewise:nodatamask -> mask.tif, tilewise:fillnodata (MASK=mask.tif) -> filled.tif,
# tilewise:meanfilter on filled.tif -> smooth.tif, and quicklook.png (dsm vs smooth).
# Prints each step's wall time; exits non-zero if any step fails (its log is shown).
set -euo pipefail

SIZE=4000
OUTDIR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) SIZE="${2:?--size needs a value}"; shift 2 ;;
    --outdir) OUTDIR="${2:?--outdir needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$SIZE" =~ ^[1-9][0-9]*$ ]] || { echo "demo.sh: --size must be a positive integer" >&2; exit 2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3
if [[ -z "$OUTDIR" ]]; then OUTDIR="$(mktemp -d /tmp/tilewise-demo.XXXXXX)"; fi
mkdir -p "$OUTDIR/logs"
OUTDIR="$(cd "$OUTDIR" && pwd)"
LOGS="$OUTDIR/logs"
FLOAT_OPTS="COMPRESS=DEFLATE|PREDICTOR=3|NUM_THREADS=ALL_CPUS"
MASK_OPTS="COMPRESS=DEFLATE|NUM_THREADS=ALL_CPUS"  # PREDICTOR=3 is for floating point only

TIMES=()
elapsed() {  # microsecond timestamps -> "S.ss"
  local us=$(($2 - $1))
  printf '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
}
now_us() { local t="${EPOCHREALTIME/./}"; echo "$((10#$t))"; }

# step NAME EXPECTED_OUTPUT COMMAND...: run, log to $LOGS/NAME.log, time, check output exists.
step() {
  local name="$1" expect="$2"; shift 2
  local log="$LOGS/$name.log" t0 t1 rc=0
  printf '%-12s ... ' "$name"
  [[ -z "$expect" ]] || rm -f "$expect"  # no stale result from an earlier run
  t0=$(now_us)
  "$@" >"$log" 2>&1 || rc=$?
  t1=$(now_us)
  if [[ $rc -ne 0 || ( -n "$expect" && ! -s "$expect" ) ]]; then
    echo "FAILED (exit $rc$([[ -n "$expect" && ! -s "$expect" ]] && echo ", no $expect"))"
    echo "---- last lines of $log ----" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  TIMES+=("$(printf '%-12s %8s s' "$name" "$(elapsed "$t0" "$t1")")")
  echo "ok ($(elapsed "$t0" "$t1") s)"
}

T_START=$(now_us)
echo "Tilewise demo: ${SIZE}x${SIZE} DSM, output folder $OUTDIR"
step install-deps "" bash "$HERE/install-deps.sh"

# shellcheck source=_plugin_env.sh
source "$HERE/_plugin_env.sh"
tilewise_plugin_env "$OUTDIR/qgis"
# The profile already enables the plugin; check that qgis_process loads it and its algorithms.
check_plugin() {
  local out
  out="$("$QGIS_PROCESS" plugins 2>&1)" && echo "$out" && grep -q '^\* tilewise$' <<<"$out" &&
    out="$("$QGIS_PROCESS" list 2>&1)" && echo "$out" && grep -q 'tilewise:meanfilter' <<<"$out"
}
step plugin "" check_plugin

run_alg() {  # run_alg ALG NAME=VALUE...
  local alg="$1"; shift
  "$QGIS_PROCESS" run "$alg" --json -- "$@"
}

cd "$OUTDIR"
step make_dsm dsm.tif "$PY" "$HERE/make_dsm.py" dsm.tif --size "$SIZE"
D="$OUTDIR"
step nodatamask mask.tif run_alg tilewise:nodatamask \
  INPUT="$D/dsm.tif" BAND=1 WORKERS=0 "OPTIONS=$MASK_OPTS" OUTPUT="$D/mask.tif"
step fillnodata filled.tif run_alg tilewise:fillnodata \
  INPUT="$D/dsm.tif" BAND=1 MASK="$D/mask.tif" MAX_DISTANCE=100 SMOOTHING_ITERATIONS=0 \
  WORKERS=0 "OPTIONS=$FLOAT_OPTS" OUTPUT="$D/filled.tif"
step meanfilter smooth.tif run_alg tilewise:meanfilter \
  INPUT="$D/filled.tif" SIZE=3 WORKERS=0 "OPTIONS=$FLOAT_OPTS" OUTPUT="$D/smooth.tif"
step quicklook quicklook.png "$PY" "$HERE/quicklook.py" dsm.tif smooth.tif quicklook.png
T_END=$(now_us)

echo
echo "Step times (wall clock):"
printf '  %s\n' "${TIMES[@]}"
printf '  %-12s %8s s\n' total "$(elapsed "$T_START" "$T_END")"
echo
echo "Outputs in $OUTDIR:"
for f in dsm.tif mask.tif filled.tif smooth.tif quicklook.png; do
  printf '  %-14s %s\n' "$f" "$(du -h "$f" | cut -f1)"
done
echo "  $(sed -n 's/^make_dsm: //p' "$LOGS/make_dsm.log")"
echo "  $(sed -n 's/^quicklook: //p' "$LOGS/quicklook.log")"
echo "Logs in $LOGS; QGIS profile and plugin path in $OUTDIR/qgis"
