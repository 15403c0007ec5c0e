"""Minimum or maximum of any run of a row in O(1): per-block prefix/suffix extremes plus a
sparse table over block extremes (block = 16 pixels)."""

import numpy as np

BLOCK = 16


def _buffer(workspace, name, shape, dtype):
    """A reusable array from ``workspace`` (a dict), or a new one."""
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    key = (name, np.dtype(dtype).str)
    size = int(np.prod(shape))
    have = workspace.get(key)
    if have is None or have.size < size:
        have = workspace[key] = np.empty(size, dtype=dtype)
    return have[:size].reshape(shape)


class RowExtremes:
    """Answers ``op(values[row, c0:c1])`` for many runs at once; ``op`` is np.minimum or
    np.maximum. ``values`` (rows, cols) must already hold the neutral element (+inf for a
    minimum, -inf for a maximum) where pixels are to be ignored. ``workspace``: a dict whose
    arrays are reused from one call to the next (one per thread)."""

    def __init__(self, values, op, workspace=None, name=""):
        self.op = op
        h, w = values.shape
        nb = -(-w // BLOCK)
        self.neutral = np.inf if op is np.minimum else -np.inf
        dtype = values.dtype
        self.padded = _buffer(workspace, name + "padded", (h, nb * BLOCK), dtype)
        self.padded[:, w:] = self.neutral
        self.padded[:, :w] = values
        blocks = self.padded.reshape(h, nb, BLOCK)
        self.prefix = _buffer(workspace, name + "prefix", (h, nb * BLOCK), dtype)
        op.accumulate(blocks, axis=2, out=self.prefix.reshape(h, nb, BLOCK))
        self.suffix = _buffer(workspace, name + "suffix", (h, nb * BLOCK), dtype)
        suffix = self.suffix.reshape(h, nb, BLOCK)
        op.accumulate(blocks[:, :, ::-1], axis=2, out=suffix[:, :, ::-1])
        level = _buffer(workspace, name + "level0", (h, nb), dtype)
        level[...] = suffix[:, :, 0]
        self.levels = [level]
        size, k = 1, 1
        while size * 2 <= nb:
            size *= 2
            prev, n = self.levels[-1], nb - size + 1
            level = _buffer(workspace, f"{name}level{k}", (h, n), dtype)
            op(prev[:, :n], prev[:, size // 2:size // 2 + n], out=level)
            self.levels.append(level)
            k += 1

    def query(self, row, c0, c1):
        """``op`` over ``values[row[i], c0[i]:c1[i]]`` for each i (c0 < c1); float64."""
        op, B = self.op, BLOCK
        out = np.empty(len(row), dtype=np.float64)
        wp = self.padded.shape[1]
        flat_p, flat_pre, flat_suf = (self.padded.reshape(-1), self.prefix.reshape(-1),
                                      self.suffix.reshape(-1))
        kb0 = (c0 + B - 1) // B
        kb1 = c1 // B
        full = kb0 < kb1
        # runs covering at least one whole block
        i = np.flatnonzero(full)
        if len(i):
            r, a, b = row[i], kb0[i], kb1[i]
            k = np.frexp((b - a).astype(np.float64))[1] - 1
            res = np.empty(len(i), dtype=self.padded.dtype)
            for level in range(int(k.max()) + 1):
                j = np.flatnonzero(k == level)
                if not len(j):
                    continue
                table = self.levels[level]
                tw = table.shape[1]
                base = r[j] * tw
                flat = table.reshape(-1)
                res[j] = op(flat[base + a[j]], flat[base + b[j] - (1 << level)])
            head = np.flatnonzero(c0[i] < a * B)
            res[head] = op(res[head], flat_suf[r[head] * wp + c0[i][head]])
            tail = np.flatnonzero(c1[i] > b * B)
            res[tail] = op(res[tail], flat_pre[r[tail] * wp + c1[i][tail] - 1])
            out[i] = res
        # runs inside one block or over the boundary of two
        i = np.flatnonzero(~full)
        if len(i):
            r, a, b = row[i], c0[i], c1[i]
            res = np.empty(len(i), dtype=self.padded.dtype)
            two = a // B != (b - 1) // B
            starts = (a % B == 0) & ~two
            ends = (b % B == 0) & ~two & ~starts
            j = np.flatnonzero(two)
            res[j] = op(flat_suf[r[j] * wp + a[j]], flat_pre[r[j] * wp + b[j] - 1])
            j = np.flatnonzero(starts)
            res[j] = flat_pre[r[j] * wp + b[j] - 1]
            j = np.flatnonzero(ends)
            res[j] = flat_suf[r[j] * wp + a[j]]
            j = np.flatnonzero(~(two | starts | ends))
            if len(j):
                offs = np.arange(B)
                idx = (r[j] * wp + a[j])[:, None] + offs
                vals = flat_p[np.minimum(idx, len(flat_p) - 1)]
                vals = np.where(offs < (b[j] - a[j])[:, None], vals, self.neutral)
                res[j] = op.reduce(vals, axis=1)
            out[i] = res
        return out
