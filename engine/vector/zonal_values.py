"""Zonal statistics, step 3: the statistics that need a polygon's values themselves (median,
percentiles, minority, majority, variety, and sums computed again two-pass), gathered by
groups of polygons; a polygon with more pixels than a group may hold is read pass after pass
(``Passes``) and measured by ``selection.Pieces``."""

import math

import numpy as np

from .scanline import expand_ranges
from .selection import Pieces, needed_ranks
from .zonal_tables import _valid

GATHER_LIMIT = 1 << 23    # values gathered at once for the sorted statistics


def percentile_name(q):
    """Column suffix of percentile ``q``: 25 -> "p25", 2.5 -> "p2_5"."""
    return "p" + format(q, "g").replace(".", "_")


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
            base = (row[a:b] - q0) * w
            values = band.reshape(-1)[expand_ranges(base + c0[a:b], base + c1[a:b])[1]]
            yield values[_valid(values, self.nodata)]


def _gather_groups(rows, nodata, feature, row, c0, c1, selected, visit, limit,
                   valid_count=None):
    """Groups of selected features (at most ``limit`` pixels each, or one feature; features
    taken in the order of their first row, so that a group covers few rows) and a function
    that gathers a group's valid values and calls ``visit(feature, values)`` (in the band's
    data type, in span order) for each of its features that has one. The values are read
    from ``rows`` (a ``Rows`` of one band) by chunks of at most ``limit`` pixels. With
    ``valid_count`` (per feature), a feature of more than ``limit`` pixels is visited as
    ``Passes`` instead, read pass after pass."""
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
    # rows read at once: a file by chunks of at most ``limit`` pixels, an array whole
    chunk_rows = height if rows.in_memory else max(1, int(limit // max(1, w)))

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
        for q0 in range(r_lo, r_hi, chunk_rows):
            q1 = min(r_hi, q0 + chunk_rows)
            band = rows.read(q0, q1)[0]
            inside = (row[take] >= q0) & (row[take] < q1)
            part = take[inside]
            base = (row[part] - q0) * w
            got = band.reshape(-1)[expand_ranges(base + c0[part], base + c1[part])[1]]
            if values is None and q1 == r_hi:
                values = got  # one chunk: already in span order
                break
            if values is None:
                values = np.empty(int(n.sum()), dtype=got.dtype)
            # where this chunk's spans go among the group's values (span order)
            dest = (np.cumsum(n) - n)[inside]
            values[expand_ranges(dest, dest + lengths[part])[1]] = got
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
