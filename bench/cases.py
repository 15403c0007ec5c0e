"""The benchmark cases: what the engine runs, the whole-image reference, the peers, the check.

A Case names its dataset (bench/data.py), how the engine computes it (``engine(eng, tw,
inputs)`` with ``tw`` = the ``tilewise.engine`` module), the whole-image reference
(bench/peers.py, also the serial peer), the margin the tiled peers need (None: no tiled
peer), the check of the engine's output against the reference, and the command-line peers.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

import peers
from _common import MAX_DISTANCE, SIZE


@dataclass(frozen=True)
class Check:
    """How an output must agree with the reference.

    ``exact``: bit-identical (else values within ``rtol`` relative, nodata pixels the same;
    ``rtol`` None: not the same operation, the difference is only reported).
    ``clean``: compare only pixels whose window (``clean`` px around) holds no input nodata
    and that are at least ``border`` px from the image edge (peers whose nodata or border
    handling differs); input nodata pixels are compared too unless ``skip_nodata``.
    """

    exact: bool = True
    rtol: float = 0.0
    clean: int = -1
    border: int = 0
    skip_nodata: bool = False
    note: str = ""


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    data: str                      # dataset name in bench/data.py
    engine: Callable               # (eng, tw, raster) -> SharedRaster or statistics
    reference: Callable            # peers.* whole-image function (array, nodata) -> result
    margin: Optional[int]          # for the thread-pool and dask peers; None = no tiled peer
    out_count: int = 1
    check: Check = Check()
    tools: dict = field(default_factory=dict)    # name -> (command builder, Check)
    stats: bool = False            # output is statistics (JSON), not a raster
    holds_gil: bool = False        # runs GDAL's FillNodata: file to file, the engine starts
    #                                its worker processes before reading (Engine.prepare)


def _seed(eng, tw, dsm):
    f = tw.filters
    seed = (tw.Pipeline(["dsm"])
            .add("mask", f.nodata_mask, "dsm")
            .add("filled", f.fill_nodata, ["dsm", "mask"], max_distance=MAX_DISTANCE)
            .add("smooth", f.mean, "filled", size=SIZE))
    return eng.run(seed, {"dsm": dsm}, keep=["smooth"])["smooth"]


NDVI = "(A@4 - A@3) / (A@4 + A@3)"
ROUNDING = Check(exact=False, rtol=1e-6, note="float rounding (position-independent sums)")

CASES = [
    Case("seed", "seed pipeline (mask, fill 100, mean 3)", "dsm", _seed, peers.seed,
         MAX_DISTANCE + SIZE // 2, check=ROUNDING, holds_gil=True),
    Case("mean3", "mean 3x3", "s2", lambda e, tw, r: e.apply(tw.filters.mean, r, size=3),
         peers.mean3, 1, check=ROUNDING,
         tools={"otb": (peers.otb_smoothing_mean, Check(False, 1e-5, clean=1, border=1,
                                                        skip_nodata=True, note="OTB has no nodata")),
                "grass nprocs=2": (peers.grass_neighbors("average", 3),
                                   Check(False, 1e-6, clean=1, border=1, skip_nodata=True))}),
    Case("gaussian", "gaussian sigma 2", "dsm",
         lambda e, tw, r: e.apply(tw.filters.gaussian, r, sigma=2.0), peers.gaussian, 8,
         check=ROUNDING,
         tools={"otb": (peers.otb_smoothing_gaussian,
                        Check(False, 1e-3, clean=8, border=8, skip_nodata=True,
                              note="OTB: discrete kernel (max error 0.01)"))}),
    Case("median5", "median 5x5", "s2",
         lambda e, tw, r: e.apply(tw.filters.median, r, size=5), peers.median5, 2,
         check=Check(True, clean=2, note="exact where the window holds no nodata"),
         tools={"grass nprocs=2": (peers.grass_neighbors("median", 5),
                                   Check(False, 1e-6, clean=2, border=2, skip_nodata=True))}),
    Case("fill", "fillnodata 100", "dsm",
         lambda e, tw, r: e.apply(tw.filters.fill_nodata, r, max_distance=MAX_DISTANCE),
         peers.fill, MAX_DISTANCE, holds_gil=True,
         tools={"gdal_fillnodata.py": (peers.gdal_fillnodata, Check(True))}),
    Case("opening", "grey opening, disk r=2", "dsm",
         lambda e, tw, r: e.apply(tw.filters.morphology, r, operation="opening", radius=2,
                                  shape="disk"), peers.opening, 4,
         tools={"otb": (peers.otb_opening, Check(False, None, clean=4, border=4, skip_nodata=True,
                                                 note="ITK's ball r=2 is wider than the disk"))}),
    Case("ndvi", "band math NDVI", "stack",
         lambda e, tw, r: e.apply(tw.band_math, [r], expression=NDVI), peers.ndvi, 0,
         tools={"gdal_calc.py": (peers.gdal_calc_ndvi, Check(False, 1e-6)),
                "otb": (peers.otb_ndvi, Check(False, 1e-6, skip_nodata=True))}),
    Case("stats", "band_statistics", "s2",
         lambda e, tw, r: tw.band_statistics(e, r), peers.statistics, None, stats=True),
]
BY_NAME = {c.name: c for c in CASES}


# -- checks --------------------------------------------------------------------------------
def _bad(a, nodata):
    return peers.invalid(a, nodata)


def compare(ref, ref_nodata, got, got_nodata, check, src=None, src_nodata=None):
    """(ok, text): ``got`` against ``ref`` under ``check``; ``src`` = the input, for ``clean``."""
    if got.shape != ref.shape:
        return False, f"shape {got.shape} vs {ref.shape}"
    region = np.ones(ref.shape, bool)
    if check.clean >= 0 and src is not None:
        src_bad = np.any(_bad(src, src_nodata), axis=0)
        near = ndimage.maximum_filter(src_bad, size=2 * check.clean + 1)
        region &= (~near | (src_bad & (not check.skip_nodata)))[None]
    if check.border:
        b = check.border
        edge = np.ones(ref.shape[1:], bool)
        edge[b:-b, b:-b] = False
        region &= ~edge[None]
    rbad, gbad = _bad(ref, ref_nodata), _bad(got, got_nodata)
    if check.skip_nodata:
        region &= ~rbad
    n = int(region.sum())
    where = "" if region.all() else f" on {100 * n / region.size:.0f}% of pixels"
    if got.dtype == ref.dtype and np.array_equal(
            np.where(rbad, 0, ref.view(f"u{ref.itemsize}"))[region],
            np.where(gbad, 0, got.view(f"u{got.itemsize}"))[region]) and \
            np.array_equal(rbad[region], gbad[region]):
        return True, "bit-identical" + where
    if check.exact:
        diff = int(np.count_nonzero((ref != got)[region]))
        return False, f"{diff} pixels differ{where}"
    nodata_diff = int(np.count_nonzero((rbad != gbad)[region]))
    both = region & ~rbad & ~gbad
    r, g = ref[both].astype(np.float64), got[both].astype(np.float64)
    rel = float((np.abs(r - g) / np.maximum(np.abs(r), 1e-30)).max()) if r.size else 0.0
    text = f"max rel {rel:.1e}, nodata differs at {nodata_diff} px{where}"
    if check.rtol is None:
        return None, f"{text} ({check.note})"
    return nodata_diff == 0 and rel <= check.rtol, text.replace(",", f" (tol {check.rtol:g}),", 1)


def compare_stats(ref, got):
    """Exact for counts, min, max, histogram, percentiles; mean 1e-12 and std 1e-9 relative."""
    bad = []
    for r, g in zip(ref, got):
        for key in ("count", "nodata_count", "min", "max"):
            if r[key] != g[key]:
                bad.append(f"{key} {g[key]} vs {r[key]}")
        if list(r["histogram"]) != list(g["histogram"]["counts"]):
            bad.append("histogram")
        if r["percentiles"] != g["percentiles"]:
            bad.append("percentiles")
        for key, tol in (("mean", 1e-12), ("std", 1e-9)):
            if abs(r[key] - g[key]) > tol * abs(r[key]):
                bad.append(f"{key} {g[key]!r} vs {r[key]!r}")
    if bad:
        return False, "; ".join(bad)
    return True, "exact (mean 1e-12, std 1e-9 rel)"
