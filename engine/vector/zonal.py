"""Zonal statistics of polygons over a raster band, from per-row prefix tables.

Each feature's pixels are its spans (``scanline.spans``). The band is then read by chunks
of rows (a file within the memory budget, the next chunk read while this one is computed)
and cut into strips; per strip, ``zonal_tables`` gives each span's count, sum, sum of
squares, min and max in a few lookups whatever its length. Per-span results are reduced per
feature in span order. Median, minority, majority, variety and percentiles gather the
feature's values and sort them (``zonal_values``). Spans and strips run on threads; each
span and each feature is computed the same way whatever the number of workers or the
budget, so the results do not depend on them.
"""

import threading

import numpy as np

from ..core.errors import InputError
from ..io.rows import DEFAULT_BUDGET, Rows
from .geometry import Rings, from_wkb
from .parallel import map_batches, thread_count
from .zonal_tables import EPS, SUM_BLOCK, WORKSPACE_BYTES, SpanTables, _offset
from .zonal_values import (GATHER_LIMIT, _gather_groups, _moments_visitor, _sorted_visitor,
                           percentile_name)
from .scanline import spans

#: statistic names, in the order (and with the codes) of QGIS's native:zonalstatisticsfb,
#: then the nodata count
STATISTICS = ("count", "sum", "mean", "median", "stdev", "min", "max", "range", "minority",
              "majority", "variety", "variance", "nodata")
_SORTED = {"median", "minority", "majority", "variety"}
BATCH_FEATURES = 512      # features per span batch
STRIP_ROWS = 128          # rows per table strip (at most)
OFFSET_ROWS = 128         # sums are of value - offset: the mean of these first rows with spans
CHUNK_BYTES = 64 * 2**20  # rows read from a file at once (at most)
#: sums and means whose rounding-error estimate exceeds TOLERANCE of the value, and
#: variances (sum of squared deviations) whose estimate exceeds VARIANCE_TOLERANCE of it,
#: are computed again from the gathered values (two-pass)
TOLERANCE = 1e-10
VARIANCE_TOLERANCE = 1e-9


def check_statistics(stats, percentiles):
    """Validated ``(stats, percentiles)`` lists; InputError naming the bad one."""
    stats = list(dict.fromkeys(stats))
    unknown = [s for s in stats if s not in STATISTICS]
    if unknown:
        raise InputError("statistics", f"unknown statistic {unknown[0]!r}; "
                         f"choose from {', '.join(STATISTICS)}")
    qs = []
    for q in percentiles:
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
            raise InputError("percentiles", f"{q!r} is not a number in 0..100")
        qs.append(float(q))
    if not stats and not qs:
        raise InputError("statistics", "choose at least one statistic or percentile")
    return stats, list(dict.fromkeys(qs))


def _plan(rows, threads, budget):
    """``(table_rows, chunk_rows)``: rows per table strip (a thread's workspace) and per read
    chunk (a multiple of table_rows; two in flight), so that both fit ``budget`` bytes."""
    _, height, width = rows.shape
    if budget is None:
        return STRIP_ROWS, height
    per_row = (width + SUM_BLOCK) * WORKSPACE_BYTES * threads
    table_rows = min(STRIP_ROWS, int(budget // 2 // per_row))
    if rows.in_memory:
        return max(1, table_rows), height
    least = per_row + 2 * rows.row_bytes
    if table_rows < 1 or budget < least:
        raise InputError("memory_budget", f"needs at least {-(-least // 2**20) + 1} MiB for "
                         f"zonal statistics of {width}-pixel rows on {threads} thread(s), got "
                         f"{budget / 2**20:.0f} MiB")
    room = budget - per_row * table_rows
    chunk = min(CHUNK_BYTES, room // 2) // rows.row_bytes
    return table_rows, int(max(table_rows, chunk // table_rows * table_rows))


def _chunks(strips, chunk_rows):
    """Strips grouped into chunks of rows ``[R0, R1)`` at most ``chunk_rows`` tall."""
    chunks = []
    for strip in strips:
        if chunks and strip[1] - chunks[-1][0] <= chunk_rows:
            chunks[-1] = (chunks[-1][0], strip[1], chunks[-1][2] + [strip])
        else:
            chunks.append((strip[0], strip[1], [strip]))
    return chunks


def _read_ahead(rows, chunks):
    """The chunks' rows, in order, chunk k + 1 read on a thread while k is used."""
    if rows.in_memory or len(chunks) < 2:
        for r0, r1, strips in chunks:
            yield r0, rows.read(r0, r1)[0], strips
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1, thread_name_prefix="tilewise-zonal-read") as reader:
        ahead = reader.submit(rows.read, chunks[0][0], chunks[0][1])
        for k, (r0, r1, strips) in enumerate(chunks):
            band = ahead.result()[0]
            if k + 1 < len(chunks):
                ahead = reader.submit(rows.read, chunks[k + 1][0], chunks[k + 1][1])
            yield r0, band, strips
            del band


def _reduce(band, nodata, feature, row, c0, c1, count, stats, qs, workers, stage, cancel,
            memory_budget=None):
    """Steps 2 and 3 of ``zonal_statistics`` for one band (an array or a one-band ``Rows``),
    given every feature's spans; within ``memory_budget`` bytes when given."""
    rows = band if isinstance(band, Rows) else Rows(band)
    height = rows.shape[1]
    if memory_budget is None and not rows.in_memory:
        memory_budget = DEFAULT_BUDGET  # a file is never read whole
    wanted = set(stats)
    sorted_wanted = wanted & _SORTED
    need = set()
    if wanted & {"sum", "mean", "stdev", "variance"}:
        need.add("sum")
    if wanted & {"stdev", "variance"}:
        need |= {"sum", "sumsq"}
    if wanted & {"min", "range"}:
        need.add("min")
    if wanted & {"max", "range"}:
        need.add("max")
    out = {"count": np.zeros(count)}
    # 2. per-span sums and extremes, strip by strip
    per_span = {"n": np.zeros(len(row))}
    for name in need - {"sum", "sumsq"}:
        per_span[name] = np.zeros(len(row))
    if "sum" in need:
        for name in ("s1", "s2", "e1", "e2"):
            per_span[name] = np.zeros(len(row))
    threads = thread_count(workers)
    table_rows, chunk_rows = _plan(rows, threads, memory_budget)
    by_row = np.argsort(row, kind="stable")
    cuts = np.searchsorted(row[by_row], np.arange(0, height + table_rows, table_rows))
    strips = [(r0, min(r0 + table_rows, height), cuts[i], cuts[i + 1])
              for i, r0 in enumerate(range(0, height, table_rows)) if cuts[i + 1] > cuts[i]]
    offset = 0.0
    if "sum" in need and len(row):
        r0 = int(row.min())
        offset = _offset(rows.read(r0, min(height, r0 + OFFSET_ROWS))[0], nodata)
    local = threading.local()
    done = [0]

    def strip(item, chunk, q0):
        r0, r1, s0, s1 = item
        if not hasattr(local, "workspace"):
            local.workspace = {}
        where = by_row[s0:s1]
        SpanTables(chunk, nodata, need, offset, local.workspace).run(
            r0 - q0, r1 - q0, row[where] - q0, c0[where], c1[where], per_span, where)
    for q0, chunk, chunk_strips in _read_ahead(rows, _chunks(strips, chunk_rows)):
        map_batches(lambda item: strip(item, chunk, q0), chunk_strips, workers,
                    lambda f, n=len(chunk_strips), d=done[0]: stage((d + f * n) / 2 /
                                                                    len(strips)), cancel)
        done[0] += len(chunk_strips)
    del by_row
    n = per_span["n"]
    valid_count = np.bincount(feature, weights=n, minlength=count)
    out["count"] = valid_count
    empty = valid_count == 0
    if "nodata" in wanted:
        out["nodata"] = np.bincount(feature, weights=(c1 - c0).astype(np.float64),
                                    minlength=count) - valid_count
    again = np.zeros(count, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        if "sum" in need:
            s1 = np.bincount(feature, weights=per_span["s1"], minlength=count)
            spans_per = np.bincount(feature, minlength=count)
            root = np.sqrt(spans_per) + 2
            e1 = np.bincount(feature, weights=per_span["e1"], minlength=count) + \
                EPS * root * np.bincount(feature, weights=np.abs(per_span["s1"]),
                                         minlength=count)
            mean_d = s1 / valid_count
            out["sum"] = s1 + offset * valid_count
            out["mean"] = np.where(empty, np.nan, out["sum"] / valid_count)
            again |= ~empty & ~(e1 <= TOLERANCE * np.abs(out["sum"]))
        if "sumsq" in need:
            s2 = np.bincount(feature, weights=per_span["s2"], minlength=count)
            m2 = s2 - s1 * mean_d
            e2 = np.bincount(feature, weights=per_span["e2"], minlength=count) + \
                EPS * root * s2 + 2 * np.abs(mean_d) * e1
            variance = np.where(empty, np.nan, np.maximum(m2 / valid_count, 0))
            out["variance"] = variance
            out["stdev"] = np.sqrt(variance)
            again |= ~empty & ~(e2 <= VARIANCE_TOLERANCE * m2)
    if need & {"min", "max"}:
        has_valid = np.flatnonzero(n > 0)  # spans without a valid pixel hold +-inf
        fv = feature[has_valid]
        starts = np.flatnonzero(np.r_[True, fv[1:] != fv[:-1]]) if len(fv) else fv
        for name, ufunc in (("min", np.minimum), ("max", np.maximum)):
            if name in need:
                result = np.full(count, np.nan)
                if len(fv):
                    result[fv[starts]] = ufunc.reduceat(per_span[name][has_valid], starts)
                out[name] = result
        if "range" in wanted:
            out["range"] = out["max"] - out["min"]
    del per_span
    # 3. statistics that need the values themselves, and sums whose bound was too loose
    visitors = []
    # values gathered at once by each thread (values, owners, indices, and the chunk read)
    limit = GATHER_LIMIT if memory_budget is None else max(1, min(
        GATHER_LIMIT, memory_budget // 4 // (2 * rows.dtype.itemsize + 17) // threads))
    if sorted_wanted or qs:
        for name in sorted_wanted | {percentile_name(q) for q in qs}:
            out[name] = np.full(count, np.nan)
        visitors.append((np.ones(count, dtype=bool),
                         _sorted_visitor(sorted_wanted, qs, out, limit)))
    if again.any():
        visitors.append((again, _moments_visitor(out)))
    for selected, visit in visitors:
        groups, group = _gather_groups(rows, nodata, feature, row, c0, c1, selected, visit,
                                       limit, None if memory_budget is None else valid_count)
        map_batches(group, groups, workers, lambda f: stage(0.5 + f / 2), cancel)
    keep = wanted | {"count"} | {percentile_name(q) for q in qs}
    return {k: v for k, v in out.items() if k in keep}


def zonal_statistics(band, rings, transform, nodata=None, stats=("count", "sum", "mean"),
                     percentiles=(), all_touched=False, workers=0, progress=None,
                     cancel=None, memory_budget=None):
    """Statistics of ``band`` (rows, cols) inside each polygon of ``rings``.

    ``rings``: a ``Rings`` (world coordinates, in the raster's CRS) or a list of WKB.
    ``transform``: the raster's affine ``(a, b, c, d, e, f)``. A pixel belongs to a polygon
    when its centre does (GDAL's rasterize rule), or when the polygon touches it
    (``all_touched``). Pixels equal to ``nodata`` or NaN are skipped; ``"nodata"`` counts
    them. ``stats``: names from ``STATISTICS``; ``percentiles``: exact, as
    ``numpy.percentile``. Returns ``{name: float64 array (features,)}`` with keys ``stats``,
    ``"count"`` and ``percentile_name(q)``: NaN where undefined (no valid pixel; the sum is
    then 0). Standard deviation and variance are the population ones (divided by the count).
    ``workers`` threads (0 = all cores); ``progress(fraction)``, ``cancel() -> bool``.
    A (bands, rows, cols) ``band`` gives (features, bands) arrays, the spans computed once;
    ``nodata`` may then be a sequence, one value per band.
    ``band`` may be an ``engine.Rows`` (a raster file read by strips of rows, each band in
    turn): with ``memory_budget`` (bytes), what is
    read and computed at once fits it (256 MiB for a file when not given), besides the spans
    (32 bytes for each row of each polygon) and the results. The results do not depend on
    it.
    """
    rows = band if isinstance(band, Rows) else Rows(band)
    if rows.dtype.kind not in "biuf":
        raise InputError("band", f"unsupported data type {rows.dtype}")
    flat = rows.squeeze if isinstance(band, Rows) else np.ndim(band) == 2
    bands = rows.split()
    nodatas = list(nodata) if isinstance(nodata, (list, tuple)) else [nodata] * len(bands)
    if len(nodatas) != len(bands):
        raise InputError("nodata", f"{len(nodatas)} nodata values for {len(bands)} bands")
    stats, qs = check_statistics(stats, percentiles)
    if not isinstance(rings, Rings):
        rings = from_wkb(rings)
    height, width = rows.shape[1:]
    count = rings.count
    pixel_rings = rings.transformed(transform)
    steps = 1 + len(bands)
    done = [0]

    def stage(fraction):
        if progress is not None:
            progress(min(1.0, (done[0] + fraction) / steps))

    # 1. spans of every feature, by batches of features
    def span_batch(start):
        stop = min(start + BATCH_FEATURES, count)
        f, r, a, b = spans(pixel_rings.subset(start, stop), height, width, all_touched)
        return f + start, r, a, b
    parts = map_batches(span_batch, range(0, count, BATCH_FEATURES), workers, stage, cancel)
    feature, row, c0, c1 = (np.concatenate([p[i] for p in parts]) if parts
                            else np.empty(0, np.int64) for i in range(4))
    del parts
    done[0] += 1
    results = []
    for values, nd in zip(bands, nodatas):
        results.append(_reduce(values, nd, feature, row, c0, c1, count, stats, qs, workers,
                               stage, cancel, memory_budget))
        done[0] += 1
    if flat:
        return results[0]
    return {key: np.column_stack([r[key] for r in results]) for key in results[0]}


