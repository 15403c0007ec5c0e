"""Pixel spans of polygons, row by row, vectorised over every edge of a batch of features.

A span ``(feature, row, col0, col1)`` covers the pixels ``col0 <= col < col1`` of ``row``.
The cell-centre rule is GDAL's rasterize scanline (``GDALdllImageFilledPolygon``): on the
centre line ``y = row + 0.5`` each edge with ``y0 <= y < y1`` crosses at ``x``; the sorted
crossings pair up (even-odd rule) and fill ``floor(xa + 0.5) <= col < floor(xb + 0.5)``.
``all_touched`` adds every pixel an edge passes through (GDAL's all-touched outline).
"""

import numpy as np


def _edges(rings):
    """x0, y0, x1, y1, feature of every edge (rings closed implicitly)."""
    xy, offsets = rings.xy, rings.offsets
    n = len(xy)
    nxt = np.arange(1, n + 1)
    nxt[offsets[1:] - 1] = offsets[:-1]
    feature = np.repeat(rings.feature, np.diff(offsets))
    return xy[:, 0], xy[:, 1], xy[nxt, 0], xy[nxt, 1], feature


def expand_ranges(first, stop):
    """Indices into the ranges ``first[i] <= v < stop[i]``: (owner i, v) for each v, range
    after range (int64 arrays)."""
    counts = np.maximum(stop - first, 0)
    owner = np.repeat(np.arange(len(first)), counts)
    starts = np.cumsum(counts) - counts
    value = np.arange(len(owner), dtype=np.int64) - np.repeat(starts - first, counts)
    return owner, value


def _centre_spans(x0, y0, x1, y1, feature, height, width):
    up = y0 <= y1
    ylo, yhi = np.where(up, y0, y1), np.where(up, y1, y0)
    xlo, xhi = np.where(up, x0, x1), np.where(up, x1, x0)
    keep = (ylo < yhi) & (yhi > 0.5 - 1) & (ylo < height)
    keep &= np.isfinite(ylo) & np.isfinite(yhi)
    ylo, yhi, xlo, xhi, feature = ylo[keep], yhi[keep], xlo[keep], xhi[keep], feature[keep]
    # rows whose centre r + 0.5 lies in [ylo, yhi)
    first = np.clip(np.ceil(ylo - 0.5), 0, height).astype(np.int64)
    stop = np.clip(np.ceil(yhi - 0.5), 0, height).astype(np.int64)
    edge, row = expand_ranges(first, stop)
    dy = row + 0.5
    x = (dy - ylo[edge]) * (xhi[edge] - xlo[edge]) / (yhi[edge] - ylo[edge]) + xlo[edge]
    key = feature[edge] * np.int64(height) + row
    order = np.argsort(key, kind="stable")  # runs of one feature: timsort is fast here
    key, x = key[order], x[order]
    # crossings of one (feature, row) must be in x order: groups of two by min/max,
    # larger groups (concave polygons, holes) by a full sort of their members
    n = len(key)
    if n:
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        size = np.diff(np.r_[start, n])
        if np.any(size > 2):
            big = np.repeat(size > 2, size)
            sub = np.flatnonzero(big)
            sub = sub[np.lexsort((x[sub], key[sub]))]
            x[big] = x[sub]
        pair = start[size == 2]
        a, b = x[pair], x[pair + 1]
        x[pair], x[pair + 1] = np.minimum(a, b), np.maximum(a, b)
    xa, xb = x[0::2], x[1::2]
    key = key[0::2]
    c0 = np.clip(np.floor(xa + 0.5), 0, width).astype(np.int64)
    c1 = np.clip(np.floor(xb + 0.5), 0, width).astype(np.int64)
    keep = c0 < c1
    return key[keep], c0[keep], c1[keep]


def _outline_cells(x0, y0, x1, y1, feature, height, width):
    """Cells each edge passes through, as (key, col0, col1) runs per row."""
    ylo, yhi = np.minimum(y0, y1), np.maximum(y0, y1)
    keep = (yhi >= 0) & (ylo < height) & np.isfinite(ylo) & np.isfinite(yhi)
    x0, y0, x1, y1, feature = x0[keep], y0[keep], x1[keep], y1[keep], feature[keep]
    ylo, yhi = ylo[keep], yhi[keep]
    first = np.clip(np.floor(ylo), 0, height - 1).astype(np.int64)
    stop = np.clip(np.floor(yhi), 0, height - 1).astype(np.int64) + 1
    edge, row = expand_ranges(first, stop)
    ex0, ey0, ex1, ey1 = x0[edge], y0[edge], x1[edge], y1[edge]
    ya = np.maximum(ylo[edge], row)
    yb = np.minimum(yhi[edge], row + 1.0)
    dy = ey1 - ey0
    flat = dy == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        xa = np.where(flat, ex0, ex0 + (ya - ey0) * (ex1 - ex0) / dy)
        xb = np.where(flat, ex1, ex0 + (yb - ey0) * (ex1 - ex0) / dy)
    lo, hi = np.minimum(xa, xb), np.maximum(xa, xb)
    c0 = np.clip(np.floor(lo), 0, width).astype(np.int64)
    c1 = np.clip(np.floor(hi) + 1, 0, width).astype(np.int64)
    keep = (c0 < c1) & (hi >= 0) & (lo < width)
    key = feature[edge] * np.int64(height) + row
    return key[keep], c0[keep], c1[keep]


def _union(key, c0, c1, width):
    """Merge overlapping or adjacent runs of the same key (sorted by key, then col0)."""
    if not len(key):
        return key, c0, c1
    order = np.lexsort((c0, key))
    key, c0, c1 = key[order], c0[order], c1[order]
    code = key * np.int64(width + 2) + c1
    reach = np.maximum.accumulate(code)  # running max of col1 within each key
    prev = np.r_[np.int64(-1), reach[:-1]]
    new = np.r_[True, key[1:] != key[:-1]] | (c0 > prev - key * np.int64(width + 2))
    start = np.flatnonzero(new)
    end = np.r_[start[1:], len(key)] - 1
    return key[start], c0[start], reach[end] - key[start] * np.int64(width + 2)


def spans(rings, height, width, all_touched=False):
    """Spans of ``rings`` (in pixel coordinates, see ``Rings.transformed``) on a
    ``height`` x ``width`` grid: ``(feature, row, col0, col1)`` int64 arrays, sorted by
    feature then row, clipped to the grid. Spans of one feature never overlap."""
    x0, y0, x1, y1, feature = _edges(rings)
    key, c0, c1 = _centre_spans(x0, y0, x1, y1, feature, height, width)
    if all_touched:
        k2, a2, b2 = _outline_cells(x0, y0, x1, y1, feature, height, width)
        key, c0, c1 = _union(np.r_[key, k2], np.r_[c0, a2], np.r_[c1, b2], width)
    elif len(key):
        # one feature's spans on a row never overlap (even-odd pairs), but keep them sorted
        order = np.lexsort((c0, key)) if np.any(key[1:] < key[:-1]) else slice(None)
        key, c0, c1 = key[order], c0[order], c1[order]
    return key // height, key % height, c0, c1
