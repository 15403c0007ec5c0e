"""The hypothesis strategy for images shared by the property tests, and the whole-image
reference they compare the engine with."""

import numpy as np
import scipy.ndimage as ndi
from hypothesis import strategies as st

from tilewise.engine import Profile

DTYPES = ["uint8", "int16", "uint16", "float32", "float64"]
TRANSFORMS = [(10.0, 0.0, 1000.0, 0.0, -10.0, 5000.0), (0.5, 0.0, 0.0, 0.0, -2.0, 0.0),
              (3.0, 0.0, -50.0, 0.0, 3.0, 20.0)]


@st.composite
def images(draw, max_rows=200, max_cols=300):
    """``(stack (bands, rows, cols), Profile, tile side)``: shapes 1x1 .. max_rows x max_cols,
    1 or 2 bands, every dtype of DTYPES, noise or a smooth surface with ties and signed
    zeros, nodata none, all, random holes, holes straddling tile borders and blobs, a tile
    side from 1/12 of the image to more than the image."""
    rows = draw(st.integers(1, max_rows))
    cols = draw(st.integers(1, max_cols))
    dtype = draw(st.sampled_from(DTYPES))
    side = max(rows, cols)
    # at most ~150 tiles; half the time several tiles per side, so margins are crossed
    tile = draw(st.one_of(st.integers(max(1, side // 12), max(1, side // 3)),
                          st.integers(max(1, side // 12), side + 8)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.startswith("float"):
        if draw(st.booleans()):
            values = rng.normal(300.0, 120.0, (rows, cols)).astype(dtype)
        else:  # a smooth surface, with exact ties and zeros (signed zeros too)
            values = np.round(ndi.gaussian_filter(rng.normal(0, 40, (rows, cols)), 2)).astype(dtype)
            values[rng.random((rows, cols)) < 0.05] = -0.0
        nodata = draw(st.sampled_from([-9999.0, float("nan"), None]))
    else:
        info = np.iinfo(dtype)
        if draw(st.booleans()):
            values = rng.integers(info.min, int(info.max) + 1, (rows, cols)).astype(dtype)
        else:  # few distinct values: ties for majority, flats for aspect
            values = rng.integers(0, 4, (rows, cols)).astype(dtype)
        nodata = draw(st.sampled_from([float(info.min), float(info.max), None]))
    placement = draw(st.sampled_from(["none", "all", "holes", "tile_borders", "blobs"]))
    holes = np.zeros((rows, cols), dtype=bool)
    if placement == "all":
        holes[:] = True
    elif placement == "holes":
        holes = rng.random((rows, cols)) < draw(st.sampled_from([0.01, 0.2, 0.7]))
    elif placement == "tile_borders":
        holes[tile - 2:tile + 2, :] = True
        holes[:, tile - 1:tile + 3] = True
    elif placement == "blobs":
        holes = ndi.gaussian_filter(rng.random((rows, cols)), 3) > 0.52
    if nodata is None and dtype.startswith("float"):
        values[holes] = np.nan  # NaN is always nodata for floats
    elif nodata is not None:
        values[holes] = np.nan if np.isnan(nodata) else nodata
    bands = draw(st.integers(1, 2))
    stack = np.stack([values] + [np.flip(values, 1).copy()] * (bands - 1))
    profile = Profile(count=bands, height=rows, width=cols, dtype=dtype, nodata=nodata,
                      crs_wkt=None, transform=draw(st.sampled_from(TRANSFORMS)))
    return stack, profile, tile


def whole_image(filt, stack, profile, params):
    """The filter on the whole image as one tile, without the engine: (array, out profile)."""
    checked = filt.check([profile], params)
    out = filt.func([stack], [profile], checked)
    return np.asarray(out[0]), filt.outputs([profile], checked)[0]


@st.composite
def band_pairs(draw, max_rows, max_cols, means=(300.0,), spread=200.0, few_values=False,
               hole_fractions=(0.0, 0.1, 0.6), tile_slack=4):
    """``(data (2, rows, cols), Profile, tile side)``: two random bands of every dtype of
    DTYPES, floats of a normal law (mean drawn from ``means``), integers over the whole range
    (``few_values``: half the time modulo 5, many duplicates), nodata none, the smallest value
    or 0 (floats: -9999 or NaN), holes drawn from ``hole_fractions``; a tile side from 1 to
    ``tile_slack`` more than the image."""
    rows, cols = draw(st.integers(1, max_rows)), draw(st.integers(1, max_cols))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.startswith("float"):
        data = rng.normal(draw(st.sampled_from(means)), spread, (2, rows, cols)).astype(dtype)
        nodata = draw(st.sampled_from([None, -9999.0, float("nan")]))
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, int(info.max) + 1, (2, rows, cols)).astype(dtype)
        if few_values and draw(st.booleans()):
            data = (data % 5).astype(dtype)
        nodata = draw(st.sampled_from([None, float(info.min), 0.0]))
    holes = rng.random(data.shape) < draw(st.sampled_from(hole_fractions))
    if nodata is not None:
        data[holes] = nodata
    elif dtype.startswith("float"):
        data[holes] = np.nan
    profile = Profile(count=2, height=rows, width=cols, dtype=dtype, nodata=nodata)
    return data, profile, draw(st.integers(1, max(rows, cols) + tile_slack))
