"""Tiling invariance: for every filter, tiled output == whole-image reference, bit for bit.

Shapes 1x1 .. 300x500 (strategies.images: every dtype, every nodata placement); 1, 2 and 3
workers; varied tile sizes.
"""

import numpy as np
import rasterio.fill
import scipy.ndimage as ndi
from hypothesis import given, settings, strategies as st

from engine_helpers import apply_copy
from strategies import images
from tilewise.engine import filters


def _run(engines, workers, tile, stack, profile, filt, extra_inputs=(), **params):
    return apply_copy(engines[workers], filt, [(stack, profile), *extra_inputs], tile=tile,
                      **params)[0]


def _valid(band, nodata):
    return ~filters.invalid_pixels(band, nodata)


workers = st.sampled_from([1, 2, 3])


@given(images(max_rows=300, max_cols=500), workers, st.integers(1, 2))
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


@given(images(max_rows=300, max_cols=500), workers, st.sampled_from([1, 3, 5, 9, 15]),
       st.sampled_from([None, 1]))
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
