"""Zonal statistics, step 2: per-span counts, sums and extremes from per-row prefix tables.

Per strip of rows: prefix counts of the valid pixels, prefix sums of ``value - offset`` and
of its square restarting every ``SUM_BLOCK`` columns (the block carries kept as float pairs,
TwoSum), and ``extremes.RowExtremes``: each span then costs two lookups per quantity,
whatever its length. A strip's results do not depend on the strip's height.
"""

import math

import numpy as np

from .extremes import RowExtremes, _buffer

EPS = np.finfo(np.float64).eps
SUM_BLOCK = 64            # prefix sums restart every SUM_BLOCK columns (carries: TwoSum)
ERROR_FACTOR = 10.0       # typical error of a span's sum, in eps times its magnitude
WORKSPACE_BYTES = 48      # a thread's table workspace, per pixel of its strip


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


class SpanTables:
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
