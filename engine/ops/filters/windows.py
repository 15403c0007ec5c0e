"""The window library the focal filters share: band selection and output profiles,
nodata as a mask, footprints, reflect padding, and exact window sums, extremes,
percentiles and majorities.

Every statistic is computed per output pixel from its own window in a fixed order
(elementwise operations on shifted copies, or exact comparisons), so a tile gives the same
bits as the whole image. Borders: scipy's ``reflect`` mode (numpy's ``symmetric`` pad).
"""

import numpy as np

from ...core.lazy import lazy_module

from .nodata import invalid_pixels

ndi = lazy_module("scipy.ndimage")  # imported at the first filter run


def selected_bands(params, count):
    """1-based band numbers: ``params["band"]`` or all ``count`` bands when it is None."""
    return [params["band"]] if params.get("band") else list(range(1, count + 1))


def float_dtype(dtype):
    """Float inputs keep their dtype; integer inputs give float32."""
    return np.dtype(dtype).name if np.dtype(dtype).kind == "f" else "float32"


def fill_value(nodata):
    """What nodata pixels hold in an output: the input's nodata value, else NaN."""
    return np.nan if nodata is None else nodata


def band_outputs(profiles, params, dtype):
    """One output with the selected bands of input 0, in ``dtype``, nodata kept."""
    p = profiles[0]
    bands = selected_bands(params, p.count)
    return [p.replace(count=len(bands), dtype=np.dtype(dtype).name,
                      descriptions=tuple(p.descriptions[b - 1] for b in bands))]


def working(band, nodata):
    """(float64 values with NaN at nodata and -0.0 turned into +0.0, invalid mask)."""
    invalid = invalid_pixels(band, nodata)
    values = band.astype(np.float64) + 0.0  # x + 0.0 maps -0.0 to +0.0: min/max ties are exact
    values[invalid] = np.nan
    return values, invalid


def footprint(shape, radius):
    """Boolean (2r+1, 2r+1) window: 'square', 'disk'/'circle' (dy^2 + dx^2 <= r^2) or 'cross'."""
    r = int(radius)
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    if shape == "square":
        return np.ones((2 * r + 1, 2 * r + 1), dtype=bool)
    if shape in ("disk", "circle"):
        return dy * dy + dx * dx <= radius * radius
    if shape == "cross":
        return (dy == 0) | (dx == 0)
    raise ValueError(f"unknown window shape {shape!r}")


def shifted(padded, fp, shape):
    """The views of ``padded`` (padded by the footprint's radius) under each footprint cell,
    in row-major order."""
    rows, cols = shape
    for dy, dx in zip(*np.nonzero(fp)):
        yield padded[dy:dy + rows, dx:dx + cols]


def reflect_pad(values, r):
    """``values`` (rows, cols) padded by ``r`` on every side with scipy's 'reflect' border
    (numpy's 'symmetric'): ``np.pad`` without its Python overhead, which held the GIL for a
    fifth of a threaded 3x3 mean."""
    rows, cols = values.shape
    if r == 0 or r > rows or r > cols:  # repeated reflection: numpy does it right
        return np.pad(values, r, mode="symmetric")
    out = np.empty((rows + 2 * r, cols + 2 * r), values.dtype)
    out[r:r + rows, r:r + cols] = values
    out[:r, r:r + cols] = values[:r][::-1]
    out[r + rows:, r:r + cols] = values[::-1][:r]
    out[:, :r] = out[:, r:2 * r][:, ::-1]
    out[:, r + cols:] = out[:, cols:cols + r][:, ::-1]
    return out


def window_sums(values, invalid, fp):
    """(sum of valid values, number of valid pixels) over the footprint, float64."""
    r = fp.shape[0] // 2
    zeroed = np.where(invalid, 0.0, values)
    total = np.zeros(values.shape)
    count = np.zeros(values.shape)
    for z, v in zip(shifted(reflect_pad(zeroed, r), fp, values.shape),
                    shifted(reflect_pad((~invalid).astype(np.float64), r), fp, values.shape)):
        total += z
        count += v
    return total, count


def window_extreme(values, invalid, fp, which):
    """Min or max of the valid pixels (nodata as +inf / -inf: never chosen unless alone)."""
    if which == "min":
        return ndi.minimum_filter(np.where(invalid, np.inf, values), footprint=fp, mode="reflect")
    return ndi.maximum_filter(np.where(invalid, -np.inf, values), footprint=fp, mode="reflect")


def _chunks(shape, k, budget=2**25):
    rows, cols = shape
    step = max(1, budget // max(1, 8 * k * cols))
    for r0 in range(0, rows, step):
        yield r0, min(rows, r0 + step)


def _sorted_windows(padded, fp, shape, r0, r1):
    cols = shape[1]
    stack = np.stack([padded[r0 + dy:r1 + dy, dx:dx + cols] for dy, dx in zip(*np.nonzero(fp))])
    stack.sort(axis=0)  # NaN (nodata) last
    return stack


def _sorted_chunks(values, fp):
    """``(rows, sorted windows)`` by chunks of rows: the ``k`` values of each pixel's
    window along axis 0, sorted, NaN (nodata) last."""
    padded = reflect_pad(values, fp.shape[0] // 2)
    for r0, r1 in _chunks(values.shape, int(fp.sum())):
        yield slice(r0, r1), _sorted_windows(padded, fp, values.shape, r0, r1)


def window_percentile(values, invalid, fp, q):
    """Percentile ``q`` (0..100, linear interpolation) of the valid pixels in the window."""
    out = np.full(values.shape, np.nan)
    for rows, stack in _sorted_chunks(values, fp):
        n = (~np.isnan(stack)).sum(axis=0)
        pos = (q / 100.0) * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        frac = pos - lo
        low = np.take_along_axis(stack, lo[None], 0)[0]
        high = np.take_along_axis(stack, hi[None], 0)[0]
        with np.errstate(invalid="ignore"):
            out[rows] = np.where(frac == 0, low, low + (high - low) * frac)
    return out


def window_majority(values, invalid, fp):
    """Most frequent valid value in the window; ties go to the smallest value."""
    out = np.full(values.shape, np.nan)
    for rows, s in _sorted_chunks(values, fp):
        best, best_count = s[0].copy(), np.ones(s.shape[1:], dtype=np.int64)
        run = np.ones(s.shape[1:], dtype=np.int64)
        for j in range(1, s.shape[0]):
            run = np.where(s[j] == s[j - 1], run + 1, 1)  # NaN never equals: no NaN runs
            better = (run > best_count) & ~np.isnan(s[j])
            best_count = np.where(better, run, best_count)
            best = np.where(better, s[j], best)
        out[rows] = best
    return out


def per_band(buffers, profiles, params, out_dtype, compute):
    """Run ``compute(values, invalid) -> float64`` on each selected band; nodata kept."""
    source, nodata = buffers[0], profiles[0].nodata
    bands = selected_bands(params, source.shape[0])
    out = np.empty((len(bands),) + source.shape[1:], dtype=out_dtype)
    for i, b in enumerate(bands):
        values, invalid = working(source[b - 1], nodata)
        result = compute(values, invalid)
        result[invalid] = fill_value(nodata)
        out[i] = result
    return out
