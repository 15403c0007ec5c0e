"""Tiling invariance: for every filter, tiled output == whole-image reference, bit for bit.

Shapes 1x1 .. 300x500; dtypes uint8, int16, uint16, float32, float64; nodata none, all,
random holes and holes straddling tile borders; 1, 2 and 3 workers; varied tile sizes.
"""

import numpy as np
import rasterio.fill
import scipy.ndimage as ndi
from hypothesis import given, settings, strategies as st

from tilewise.engine import Profile, filters

DTYPES = ["uint8", "int16", "uint16", "float32", "float64"]


@st.composite
def images(draw, max_rows=300, max_cols=500):
    rows = draw(st.integers(1, max_rows))
    cols = draw(st.integers(1, max_cols))
    dtype = draw(st.sampled_from(DTYPES))
    tile = draw(st.integers(max(1, max(rows, cols) // 12), max(rows, cols) + 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype.startswith("float"):
        values = rng.normal(300.0, 120.0, (rows, cols)).astype(dtype)
        nodata = draw(st.sampled_from([-9999.0, float("nan"), None]))
    else:
        info = np.iinfo(dtype)
        values = rng.integers(info.min, int(info.max) + 1, (rows, cols)).astype(dtype)
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
                      crs_wkt=None, transform=(10.0, 0.0, 1000.0, 0.0, -10.0, 5000.0))
    return stack, profile, tile


def _shared(eng, stack, profile):
    raster = eng.create(profile)
    raster.writable_array()[...] = stack
    return raster


def _run(engines, workers, tile, stack, profile, filt, extra_inputs=(), **params):
    eng = engines[workers]
    eng.tile_size = tile
    src = _shared(eng, stack, profile)
    extra = [_shared(eng, a, p) for a, p in extra_inputs]
    try:
        out = eng.apply(filt, [src] + extra, **params)
        try:
            return np.array(out.array)
        finally:
            out.release()
    finally:
        eng.release(src, *extra)


def _valid(band, nodata):
    return ~filters.invalid_pixels(band, nodata)


workers = st.sampled_from([1, 2, 3])


@given(images(), workers, st.integers(1, 2))
@settings(max_examples=100)
def test_nodata_mask_is_tiling_invariant(engines, image, nworkers, band):
    stack, profile, tile = image
    band = min(band, profile.count)
    got = _run(engines, nworkers, tile, stack, profile, filters.nodata_mask, band=band)
    expected = (~_valid(stack[band - 1], profile.nodata)).astype(np.uint8)[None]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@given(images(max_rows=200, max_cols=260), workers,
       st.sampled_from([0, 1, 2.5, 7, 20, 60]), st.integers(0, 3), st.booleans())
@settings(max_examples=100)
def test_fill_nodata_equals_rasterio_on_the_whole_image(engines, image, nworkers, distance,
                                                       smoothing, explicit_mask):
    stack, profile, tile = image
    band = stack[0]
    valid = _valid(band, profile.nodata)
    extra = ()
    if explicit_mask:
        to_fill = (~valid).astype(np.uint8)[None]
        extra = [(to_fill, profile.replace(count=1, dtype="uint8", nodata=None))]
    got = _run(engines, nworkers, tile, stack, profile, filters.fill_nodata, extra,
               max_distance=distance, smoothing_iterations=smoothing)
    expected = rasterio.fill.fillnodata(band.copy(), mask=valid.astype(np.uint8),
                                        max_search_distance=distance,
                                        smoothing_iterations=smoothing)
    assert got.dtype == band.dtype
    np.testing.assert_array_equal(got[0], expected)


@given(images(), workers, st.sampled_from([1, 3, 5, 9, 15]), st.sampled_from([None, 1]))
@settings(max_examples=100)
def test_mean_is_tiling_invariant_and_matches_scipy(engines, image, nworkers, size, band):
    stack, profile, tile = image
    got = _run(engines, nworkers, tile, stack, profile, filters.mean, size=size, band=band)
    whole = _run(engines, 1, 0, stack, profile, filters.mean, size=size, band=band)
    engines[1].tile_size = 0
    np.testing.assert_array_equal(got, whole)  # bit for bit, NaN in the same places

    bands = [0] if band else range(profile.count)
    for out, b in zip(got, bands):
        valid = _valid(stack[b], profile.nodata)
        clean = ndi.maximum_filter(~valid, size, mode="reflect") == 0
        # scipy's running sum carries a NaN along the whole line, so zero the holes first
        values = np.where(valid, stack[b].astype(np.float64), 0.0)
        reference = ndi.uniform_filter(values, size, mode="reflect")
        check = clean & valid
        np.testing.assert_allclose(out[check], reference[check], rtol=2e-6 if
                                   out.dtype == np.float32 else 1e-12, atol=1e-6 * 300)
        if profile.nodata is None or np.isnan(profile.nodata):
            assert np.isnan(out[~valid]).all()
        else:
            assert (out[~valid] == np.float32(profile.nodata)).all()
