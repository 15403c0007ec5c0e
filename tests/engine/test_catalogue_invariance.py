"""Tiling invariance of the catalogue filters: tiled output == the filter run on the whole
image as one tile, bit for bit (same dtype, same bytes, NaN included).

Shapes 1x1 .. 200x300; dtypes uint8, int16, uint16, float32, float64; nodata none, all,
random holes, holes straddling tile borders and blobs; 1, 2 and 3 workers; varied tile sizes
(down to 1 pixel, so margins wider than the tile are exercised too).
"""

import numpy as np
from hypothesis import given, settings, strategies as st

from engine_helpers import apply_copy
from strategies import images, whole_image
from tilewise.engine import filters

EXAMPLES = 150
workers = st.sampled_from([1, 2, 3])
bands = st.sampled_from([None, 1, 2])


def check_invariant(engines, image, nworkers, filt, **params):
    stack, profile, tile = image
    if params.get("band") == 2 and profile.count < 2:
        params["band"] = 1
    got, out_profile = apply_copy(engines[nworkers], filt, [(stack, profile)], tile=tile,
                                  **params)
    whole, whole_profile = whole_image(filt, stack, profile, params)
    assert out_profile == whole_profile
    assert got.dtype == np.dtype(out_profile.dtype) and got.shape == out_profile.shape
    whole = whole.astype(out_profile.dtype)  # the engine stores into the output's dtype
    if got.tobytes() != whole.tobytes():
        np.testing.assert_array_equal(got, whole)  # shows where
        bits = got.view(f"u{got.itemsize}") != whole.view(f"u{got.itemsize}")
        raise AssertionError(f"{bits.sum()} pixels differ in their bits only (e.g. -0.0/0.0)")
    return got, out_profile, params.get("band")


def check_nodata_kept(image, got, out_profile, band):
    """Input nodata pixels hold the output's nodata (NaN when it has none)."""
    stack, profile, _ = image
    indices = [band - 1] if band else range(profile.count)
    fill = out_profile.nodata
    for out, b in zip(got, indices):
        invalid = filters.invalid_pixels(stack[b], profile.nodata)
        if fill is None or np.isnan(fill):
            assert np.isnan(out[invalid]).all()
        else:
            assert (out[invalid] == np.array(fill, dtype=out.dtype)).all()


# -- smoothing -----------------------------------------------------------------------------
@given(images(), workers, st.sampled_from([0.3, 0.8, 1.0, 2.3, 4.0]), st.sampled_from([4.0, 2.0]),
       bands)
@settings(max_examples=EXAMPLES)
def test_gaussian_is_tiling_invariant(engines, image, nworkers, sigma, truncate, band):
    got, out, band = check_invariant(engines, image, nworkers, filters.gaussian, sigma=sigma,
                                     truncate=truncate, band=band)
    check_nodata_kept(image, got, out, band)


@given(images(), workers, st.sampled_from([1, 3, 5, 7]), bands)
@settings(max_examples=EXAMPLES)
def test_median_is_tiling_invariant(engines, image, nworkers, size, band):
    got, out, band = check_invariant(engines, image, nworkers, filters.median, size=size, band=band)
    check_nodata_kept(image, got, out, band)


# -- focal statistics ----------------------------------------------------------------------
windows = st.one_of(st.fixed_dictionaries({"shape": st.just("square"),
                                           "size": st.sampled_from([1, 3, 5, 7])}),
                    st.fixed_dictionaries({"shape": st.just("circle"),
                                           "radius": st.sampled_from([0, 1, 1.5, 2.5, 3])}))


@given(images(), workers, st.sampled_from(filters.STATISTICS), windows,
       st.sampled_from([0, 10, 37.5, 90, 100]), bands)
@settings(max_examples=3 * EXAMPLES)
def test_focal_statistics_are_tiling_invariant(engines, image, nworkers, statistic, window, q,
                                               band):
    params = dict(window, statistic=statistic, band=band)
    if statistic == "percentile":
        params["q"] = q
    got, out, band = check_invariant(engines, image, nworkers, filters.focal_statistics, **params)
    check_nodata_kept(image, got, out, band)


# -- morphology ----------------------------------------------------------------------------
@given(images(), workers, st.sampled_from(["erosion", "dilation", "opening", "closing",
                                           "white_tophat", "black_tophat"]),
       st.sampled_from(["square", "disk", "cross"]), st.integers(0, 4), st.booleans(), bands)
@settings(max_examples=2 * EXAMPLES)
def test_morphology_is_tiling_invariant(engines, image, nworkers, operation, shape, radius,
                                        binary, band):
    got, out, band = check_invariant(engines, image, nworkers, filters.morphology,
                                     operation=operation, shape=shape, radius=radius,
                                     binary=binary, band=band)
    check_nodata_kept(image, got, out, band)
    if binary:
        assert set(np.unique(got)) <= {0, 1, 255}


# -- edges ---------------------------------------------------------------------------------
edge_filters = st.sampled_from([
    (filters.sobel, {"output": "x"}), (filters.sobel, {"output": "y"}),
    (filters.sobel, {"output": "magnitude"}), (filters.laplace, {}),
    (filters.gaussian_gradient_magnitude, {"sigma": 0.7}),
    (filters.gaussian_gradient_magnitude, {"sigma": 1.6, "truncate": 3.0})])


@given(images(), workers, edge_filters, bands)
@settings(max_examples=2 * EXAMPLES)
def test_edges_are_tiling_invariant(engines, image, nworkers, case, band):
    filt, params = case
    got, out, band = check_invariant(engines, image, nworkers, filt, band=band, **params)
    check_nodata_kept(image, got, out, band)


# -- terrain -------------------------------------------------------------------------------
terrain_filters = st.sampled_from([
    (filters.slope, {}), (filters.slope, {"units": "percent", "z_factor": 2.5}),
    (filters.aspect, {}), (filters.aspect, {"zero_for_flat": True}),
    (filters.hillshade, {}), (filters.hillshade, {"azimuth": 30.0, "altitude": 70.0,
                                                  "z_factor": 3.0}),
    (filters.roughness, {}), (filters.tri, {}), (filters.tri, {"algorithm": "wilson"})])


@given(images(), workers, terrain_filters, st.sampled_from([None, 1]))
@settings(max_examples=2 * EXAMPLES)
def test_terrain_is_tiling_invariant(engines, image, nworkers, case, band):
    filt, params = case
    got, out, band = check_invariant(engines, image, nworkers, filt, band=band, **params)
    check_nodata_kept(image, got, out, band)
    stack, profile, _ = image
    # gdaldem's edges: the 1-pixel image border is nodata
    for plane in got:
        for edge in (plane[0], plane[-1], plane[:, 0], plane[:, -1]):
            assert (edge == out.nodata).all()
