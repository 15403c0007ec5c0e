"""Zonal statistics of polygons over a raster band, from per-row prefix tables.

Each feature's pixels are its spans (``scanline.spans``). The band is then cut into strips
of rows; per strip, prefix sums of the valid count, of ``value - offset`` and of its square
give each span's count, sum and sum of squares in two lookups whatever its length, and
``extremes.RowExtremes`` its min and max. Per-span results are reduced per feature in span
order. Median, minority, majority, variety and percentiles gather the feature's values and
sort them. Spans and strips run on threads; each span and each feature is computed the same
way whatever the number of workers, so the results do not depend on it.
"""

import math
import threading

import numpy as np

from ..core.errors import InputError
from .extremes import RowExtremes, _buffer
from .geometry import Rings, from_wkb
from ..io.rows import Rows
from .parallel import map_batches, thread_count
from .selection import Pieces, needed_ranks
from .scanline import spans

#: statistic names, in the order (and with the codes) of QGIS's native:zonalstatisticsfb,
#: then the nodata count
STATISTICS = ("count", "sum", "mean", "median", "stdev", "min", "max", "range", "minority",
              "majority", "variety", "variance", "nodata")
_SORTED = {"median", "minority", "majority", "variety"}
BATCH_FEATURES = 512      # features per span batch
STRIP_ROWS = 128          # rows per table strip (at most)
OFFSET_ROWS = 128         # sums are of value - offset: the mean of these first rows with spans
WORKSPACE_BYTES = 48      # a thread's table workspace, per pixel of its strip
CHUNK_BYTES = 64 * 2**20  # rows read from a file at once (at most)
GATHER_LIMIT = 1 << 23    # values gathered at once for the sorted statistics
EPS = np.finfo(np.float64).eps
SUM_BLOCK = 64            # prefix sums restart every SUM_BLOCK columns (carries: TwoSum)
ERROR_FACTOR = 10.0       # typical error of a span's sum, in eps times its magnitude
#: sums and means whose rounding-error estimate exceeds TOLERANCE of the value, and
#: variances (sum of squared deviations) whose estimate exceeds VARIANCE_TOLERANCE of it,
#: are computed again from the gathered values (two-pass)
TOLERANCE = 1e-10
VARIANCE_TOLERANCE = 1e-9


def percentile_name(q):
    """Column suffix of percentile ``q``: 25 -> "p25", 2.5 -> "p2_5"."""
    return "p" + format(q, "g").replace(".", "_")


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


def _valid(values, nodata):
    ok = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        ok &= values != nodata
    return ok


def _offset(band, nodata):
    """Mean of a sample of the valid pixels: sums are taken of ``value - offset``."""
    h, w = band.shape
    sample = band[::max(1, h // 128), ::max(1, w // 128)]
    sample = sample[_valid(sample, nodata)].astype(np.float64)
    offset = float(np.mean(sample)) if sample.size else 0.0
    return offset if math.isfinite(offset) else 0.0


class _Strip:
    """Per-span results for the spans of one strip of rows."""

    def __init__(self, band, nodata, need, offset, workspace):
        self.band, self.nodata, self.need, self.offset = band, nodata, need, offset
        self.workspace = workspace

    def run(self, r0, r1, row, c0, c1, out, where):
        band = self.band[r0:r1]
        h, w = band.shape
        ws = self.workspace
        valid = _valid(band, self.nodata)
        count = _buffer(ws, "count", (h, w + 1), np.int32)
        count[:, 0] = 0
        np.cumsum(valid, axis=1, out=count[:, 1:])
        flat0 = (row - r0) * (w + 1) + c0
        flat1 = (row - r0) * (w + 1) + c1
        fc = count.reshape(-1)
        out["n"][where] = fc[flat1] - fc[flat0]
        if "sum" in self.need:
            B = SUM_BLOCK
            wp = -(-w // B) * B
            d = _buffer(ws, "d", (h, wp), np.float64)
            d[:, w:] = 0
            np.copyto(d[:, :w], band, casting="unsafe")
            d[:, :w] -= self.offset
            d[:, :w][~valid] = 0
            local = _buffer(ws, "local", (h, wp), np.float64)
            r = row - r0
            s1, s2 = out["s1"], out["s2"]
            for power, target in ((1, s1), (2, s2)):
                if power == 2:
                    np.square(d, out=d)
                np.cumsum(d.reshape(h, -1, B), axis=2, out=local.reshape(h, -1, B))
                hi, lo = _carries(local.reshape(h, -1, B)[:, :, -1], ws)
                target[where] = _span_sums(local, hi, lo, r, c0, c1, B)
            # rounding-error estimates (typical, not worst case): recursive summation of up
            # to SUM_BLOCK terms, sum |d| <= sqrt(n * sum d^2)
            e2 = EPS * ERROR_FACTOR * s2[where]
            out["e2"][where] = e2
            out["e1"][where] = EPS * ERROR_FACTOR * np.sqrt((c1 - c0) * s2[where])
        if self.need & {"min", "max"}:
            floating = band.dtype.kind == "f" and band.dtype.itemsize >= 4
            kind = band.dtype if floating else np.float64
            for name, op, neutral in (("min", np.minimum, np.inf),
                                      ("max", np.maximum, -np.inf)):
                if name in self.need:
                    values = _buffer(ws, "values", (h, w), kind)
                    np.copyto(values, band, casting="unsafe")
                    values[~valid] = neutral
                    extremes = RowExtremes(values, op, ws, name)
                    out[name][where] = extremes.query(row - r0, c0, c1)


def _carries(totals, workspace):
    """Exclusive prefix sums over blocks (rows of ``totals``), as float pairs ``hi + lo``
    (TwoSum), so that the difference of two stays exact to the last bit of the result."""
    h, nb = totals.shape
    hi = _buffer(workspace, "carry_hi", (h, nb + 1), np.float64)
    lo = _buffer(workspace, "carry_lo", (h, nb + 1), np.float64)
    hi[:, 0] = lo[:, 0] = 0
    s, e = np.zeros(h), np.zeros(h)
    for k in range(nb):
        t = totals[:, k]
        a = s + t
        b = a - s
        e += (s - (a - b)) + (t - b)
        s = a
        hi[:, k + 1], lo[:, k + 1] = s, e
    return hi, lo


def _span_sums(local, hi, lo, row, c0, c1, block):
    """Sums over ``[c0, c1)`` of each row from in-block prefix sums (``local``, inclusive) and
    the block carries ``hi + lo``: the rounding error is that of the blocks the span covers."""
    wp = local.shape[1]
    flat, nb1 = local.reshape(-1), hi.shape[1]
    fh, fl = hi.reshape(-1), lo.reshape(-1)

    def prefix(c):
        b, j = c // block, c % block
        inner = np.where(j > 0, flat[row * wp + np.maximum(c - 1, 0)], 0.0)
        k = row * nb1 + b
        return fh[k], fl[k], inner
    h0, l0, i0 = prefix(c0)
    h1, l1, i1 = prefix(c1)
    return (h1 - h0) + ((l1 - l0) + (i1 - i0))


class Passes:
    """The valid values of one feature too large to gather at once: each call yields them
    chunk by chunk (rows read again), in span order; ``count`` of them, of ``dtype``."""

    def __init__(self, rows, nodata, row, c0, c1, chunk_rows, count):
        self.rows, self.nodata, self.row, self.c0, self.c1 = rows, nodata, row, c0, c1
        self.chunk_rows, self.count, self.dtype = chunk_rows, int(count), rows.dtype

    def __len__(self):
        return self.count

    def __call__(self):
        row, c0, c1, w = self.row, self.c0, self.c1, self.rows.shape[2]
        for q0 in range(int(row[0]), int(row[-1]) + 1, self.chunk_rows):
            q1 = min(int(row[-1]) + 1, q0 + self.chunk_rows)
            a, b = np.searchsorted(row, [q0, q1])  # spans are sorted by row
            if a == b:
                continue
            band = self.rows.read(q0, q1)[0]
            n = c1[a:b] - c0[a:b]
            flat = np.repeat((row[a:b] - q0) * w + c0[a:b] - (np.cumsum(n) - n), n) + \
                np.arange(int(n.sum()), dtype=np.int64)
            values = band.reshape(-1)[flat]
            yield values[_valid(values, self.nodata)]


def _gather_groups(rows, nodata, feature, row, c0, c1, selected, visit, limit, large=None):
    """Groups of selected features (at most ``limit`` pixels each, or one feature; features
    taken in the order of their first row, so that a group covers few rows) and a function
    that gathers a group's valid values and calls ``visit(feature, values)`` (in the band's
    data type, in span order) for each of its features that has one. The values are read
    from ``rows`` (a ``Rows`` of one band) by chunks of at most ``limit`` pixels."""
    _, height, w = rows.shape
    count = len(selected)
    lengths = c1 - c0
    per_feature = np.bincount(feature, weights=lengths, minlength=count)
    span_start = np.searchsorted(feature, np.arange(count + 1))
    chosen = np.flatnonzero(selected & (per_feature > 0))
    first_row = row[np.minimum(span_start[chosen], len(row) - 1)] if len(row) else chosen
    last_row = row[np.maximum(span_start[chosen + 1] - 1, 0)] if len(row) else chosen
    if not rows.in_memory:
        order = np.argsort(first_row, kind="stable")
        chosen, first_row, last_row = chosen[order], first_row[order], last_row[order]
    groups, members, total = [], [], 0
    for f in chosen:
        if members and total + per_feature[f] > limit:
            groups.append(members)
            members, total = [], 0
        members.append(f)
        total += per_feature[f]
    if members:
        groups.append(members)
    span_rows = dict(zip(chosen.tolist(), zip(first_row.tolist(), last_row.tolist()))) \
        if len(chosen) else {}
    chunk_rows = max(1, int(limit // max(1, w)))

    valid_count = None if large is None else large

    def group(members):
        if valid_count is not None and len(members) == 1 and \
                per_feature[members[0]] > limit:
            f = members[0]  # more pixels than the limit: read pass after pass
            a, b = span_start[f], span_start[f + 1]
            if valid_count[f] > 0:
                visit(f, Passes(rows, nodata, row[a:b], c0[a:b], c1[a:b], chunk_rows,
                                valid_count[f]))
            return
        members = np.sort(np.asarray(members))
        take = np.concatenate([np.arange(span_start[f], span_start[f + 1]) for f in members])
        r_lo = min(span_rows[f][0] for f in members.tolist())
        r_hi = max(span_rows[f][1] for f in members.tolist()) + 1
        n = lengths[take]
        owner = np.repeat(feature[take], n)
        values = None
        for q0 in range(r_lo, r_hi, chunk_rows if not rows.in_memory else height):
            q1 = min(r_hi, q0 + (chunk_rows if not rows.in_memory else height))
            band = rows.read(q0, q1)[0]
            inside = (row[take] >= q0) & (row[take] < q1)
            part = take[inside]
            pn = lengths[part]
            flat = np.repeat((row[part] - q0) * w + c0[part] - (np.cumsum(pn) - pn), pn) + \
                np.arange(int(pn.sum()), dtype=np.int64)
            got = band.reshape(-1)[flat]
            if values is None and q1 == r_hi:
                values = got  # one chunk: already in span order
                break
            if values is None:
                values = np.empty(int(n.sum()), dtype=got.dtype)
            # where this chunk's spans go among the group's values (span order)
            dest = (np.cumsum(n) - n)[inside]
            where = np.repeat(dest - (np.cumsum(pn) - pn), pn) + \
                np.arange(int(pn.sum()), dtype=np.int64)
            values[where] = got
        keep = _valid(values, nodata)
        values, owner = values[keep], owner[keep]
        cuts = np.searchsorted(owner, np.r_[members, members[-1] + 1])
        for i, f in enumerate(members):
            if cuts[i + 1] > cuts[i]:
                visit(f, values[cuts[i]:cuts[i + 1]])
    return groups, group


def percentile_of_sorted(v, q):
    """``numpy.percentile(v, q)`` (linear, float64) of a sorted 1-D array, bit for bit."""
    n = len(v)
    index = (n - 1) * (np.float64(q) / 100)
    if index >= n - 1:
        return np.float64(v[n - 1])
    below = np.floor(index)
    a, b = np.float64(v[int(below)]), np.float64(v[int(below) + 1])
    gamma = index - below
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def _sorted_visitor(stats, qs, out, limit=None):
    """Median, minority, majority, variety and percentiles of one feature's values (sorted
    in their own data type: the statistics equal numpy's on float64). A feature given as
    ``Passes`` (too many values to hold) goes through ``selection.Pieces``: the same
    results, ``limit`` values at a time."""
    runs_wanted = stats & {"minority", "majority", "variety"}

    def visit(k, v):
        if isinstance(v, Passes):
            v = Pieces(v, v.dtype, limit, needed_ranks(v.count, stats, qs), bool(runs_wanted))
            variety, majority, minority = v.variety, v.majority, v.minority
        else:
            v = np.sort(v)
            if runs_wanted:
                first = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
                runs = np.diff(np.r_[first, len(v)])
                variety = len(first)
                majority = (v[first[np.argmax(runs)]],)  # ties: smallest value
                minority = (v[first[np.argmin(runs)]],)
        n = len(v)
        if "median" in stats:
            middle = v[n // 2].astype(np.float64)
            out["median"][k] = middle if n % 2 else \
                (np.float64(v[n // 2 - 1]) + middle) / 2
        for q in qs:
            out[percentile_name(q)][k] = percentile_of_sorted(v, q)
        if "variety" in stats:
            out["variety"][k] = variety
        if "majority" in stats:
            out["majority"][k] = majority[0]
        if "minority" in stats:
            out["minority"][k] = minority[0]
    return visit


def _moments_visitor(out):
    """Sum, mean and variance of one feature's values, two-pass, each sum exactly rounded
    (``math.fsum``), so that a feature given as ``Passes`` gets the same results."""
    def visit(k, v):
        def values():
            return (x for chunk in (v() if isinstance(v, Passes) else [v])
                    for x in chunk.astype(np.float64).tolist())
        n = v.count if isinstance(v, Passes) else len(v)
        total = math.fsum(values())
        mean = total / n
        out["sum"][k] = total
        out["mean"][k] = mean
        if "variance" in out:
            out["variance"][k] = math.fsum((x - mean) ** 2 for x in values()) / n
            out["stdev"][k] = np.sqrt(out["variance"][k])
    return visit


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
        _Strip(chunk, nodata, need, offset, local.workspace).run(
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
    read and computed at once fits it, besides the spans (32 bytes for each row of each
    polygon) and the results. The results do not depend on it.
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


