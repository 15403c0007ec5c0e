"""Exact sorted statistics (median, percentiles, minority, majority, variety) of one polygon
whose pixels are too many to hold at once.

The values are mapped to an order-preserving 64-bit key. Histograms of the key, 16 bits at a
time, read pass after pass over the polygon's rows, split the key space into ranges that
each hold at most ``limit`` values, or a single value (however many pixels hold it). The
ranges are then gathered and sorted one group at a time, in increasing order: the median and
percentiles read only the ranges that hold their ranks; minority, majority and variety go
through every range (a value never straddles two). The results equal those of sorting every
value at once (``zonal_values._sorted_visitor``).
"""

import numpy as np

LEVEL_BITS = 16
TOP = np.uint64(1 << 63)


def order_key(values):
    """uint64 keys in the order of ``values`` (equal values, -0.0 and 0.0 included, get one
    key); NaN must already be left out."""
    kind = values.dtype.kind
    if kind == "f":
        bits = (values.astype(np.float64) + 0.0).view(np.uint64)
        return np.where(bits >> np.uint64(63), ~bits, bits | TOP)
    if kind == "u":
        return values.astype(np.uint64)
    return values.astype(np.int64).view(np.uint64) ^ TOP


def key_value(key, dtype):
    """The value of ``dtype`` whose ``order_key`` is ``key``."""
    key = np.uint64(key)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        bits = key ^ TOP if key >> np.uint64(63) else ~key
        return np.array([bits], np.uint64).view(np.float64).astype(dtype)[0]
    if dtype.kind == "u":
        return np.array([key]).astype(dtype)[0]
    return np.array([key ^ TOP], np.uint64).view(np.int64).astype(dtype)[0]


def needed_ranks(n, stats, qs):
    """The ranks (0-based, in sorted order) the median and the percentiles read."""
    ranks = set()
    if "median" in stats:
        ranks.add(n // 2)
        if n % 2 == 0:
            ranks.add(n // 2 - 1)
    for q in qs:
        index = (n - 1) * (np.float64(q) / 100)
        if index >= n - 1:
            ranks.add(n - 1)
        else:
            below = int(np.floor(index))
            ranks.update((below, below + 1))
    return ranks


def _ranges(passes, limit):
    """Leaf ranges ``(lo, hi, count)`` of the key space (hi exclusive, as Python ints), in
    increasing order: each holds at most ``limit`` values or one key. ``passes()`` yields
    the polygon's keys chunk by chunk (each call a new pass over its rows)."""
    leaves, todo, width = [], [(0, 1 << 64, None)], 1 << 64
    while todo:
        width >>= LEVEL_BITS
        shift = np.uint64(width.bit_length() - 1)
        bins = {lo: np.zeros(1 << LEVEL_BITS, np.int64) for lo, _, _ in todo}
        los = np.array(sorted(bins), dtype=np.uint64)
        parent_shift = np.uint64((width << LEVEL_BITS).bit_length() - 1)
        for keys in passes():
            if parent_shift < 64:
                parent = (keys >> parent_shift) << parent_shift
            else:
                parent = np.zeros(len(keys), np.uint64)
            where = np.searchsorted(los, parent)
            hit = (where < len(los)) & (los[np.minimum(where, len(los) - 1)] == parent)
            for i in np.unique(where[hit]):
                chosen = keys[hit & (where == i)]
                bins[int(los[i])] += np.bincount(
                    ((chosen >> shift) & np.uint64((1 << LEVEL_BITS) - 1)).astype(np.int64),
                    minlength=1 << LEVEL_BITS)
        todo = []
        for lo in sorted(bins):
            for b in np.flatnonzero(bins[lo]):
                start, count = lo + int(b) * width, int(bins[lo][b])
                if count > limit and width > 1:
                    todo.append((start, start + width, count))
                else:
                    leaves.append((start, start + width, count))
    leaves.sort()
    return leaves


def _groups(leaves, limit):
    """Consecutive leaves merged into groups of at most ``limit`` values (a single-key leaf
    over the limit alone): ``(lo, hi, count, constant)``."""
    groups = []
    for lo, hi, count in leaves:
        constant = hi - lo == 1 and count > limit
        if groups and not constant and not groups[-1][3] and groups[-1][2] + count <= limit:
            groups[-1] = (groups[-1][0], hi, groups[-1][2] + count, False)
        else:
            groups.append((lo, hi, count, constant))
    return groups


class Pieces:
    """A polygon's sorted values, group by group: the values at the ranks asked, and the
    runs of equal values (minority, majority, variety), without holding them all;
    ``pieces[rank]`` for the ranks asked, ``len(pieces)`` the number of values."""

    def __init__(self, values_passes, dtype, limit, ranks, runs):
        """``values_passes()`` yields the valid values chunk by chunk (a new pass each call);
        ``ranks``: the ranks to keep; ``runs``: whether every range is to be read."""
        def key_passes():
            for values in values_passes():
                yield order_key(values)
        self.dtype = np.dtype(dtype)
        self.values = {}
        self.variety, self.majority, self.minority = 0, None, None
        groups = _groups(_ranges(key_passes, limit), limit)
        offset = 0
        for lo, hi, count, constant in groups:
            inside = [r for r in ranks if offset <= r < offset + count]
            if constant:
                value = key_value(lo, self.dtype)
                for r in inside:
                    self.values[r] = value
                if runs:
                    self._run(value, count)
            elif inside or runs:
                piece = np.sort(np.concatenate(
                    [v[(k >= np.uint64(lo)) & (k < np.uint64(hi)) if hi < 1 << 64
                       else (k >= np.uint64(lo))]
                     for v in values_passes() for k in (order_key(v),)] or
                    [np.empty(0, self.dtype)]))
                for r in inside:
                    self.values[r] = piece[r - offset]
                if runs and len(piece):
                    first = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
                    lengths = np.diff(np.r_[first, len(piece)])
                    for i in (int(np.argmax(lengths)), int(np.argmin(lengths))):
                        self._run(piece[first[i]], int(lengths[i]), count=False)
                    self.variety += len(first)
            offset += count
        self.count = offset

    def __len__(self):
        return self.count

    def __getitem__(self, rank):
        return self.values[int(rank)]

    def _run(self, value, length, count=True):
        if count:
            self.variety += 1
        if self.majority is None or length > self.majority[1]:
            self.majority = (value, length)  # ties: the first (smallest) value
        if self.minority is None or length < self.minority[1]:
            self.minority = (value, length)

