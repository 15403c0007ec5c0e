"""Tiling invariance of the catalogue filters: tiled output == the filter run on the whole
image as one tile, bit for bit (same dtype, same bytes, NaN included).

Shapes 1x1 .. 200x300; dtypes uint8, int16, uint16, float32, float64; nodata none, all,
random holes, holes straddling tile borders and blobs; 1, 2 and 3 workers; varied tile sizes
(down to 1 pixel, so margins wider than the tile are exercised too).
"""

import numpy as np
import scipy.ndimage as ndi
from hypothesis import given, settings, strategies as st

from tilewise.engine import Profile, filters

DTYPES = ["uint8", "int16", "uint16", "float32", "float64"]
TRANSFORMS = [(10.0, 0.0, 1000.0, 0.0, -10.0, 5000.0), (0.5, 0.0, 0.0, 0.0, -2.0, 0.0),
              (3.0, 0.0, -50.0, 0.0, 3.0, 20.0)]
EXAMPLES = 150


@st.composite
def images(draw, max_rows=200, max_cols=300):
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
        values[holes] = np.nan
    elif nodata is not None:
        values[holes] = np.nan if np.isnan(nodata) else nodata
    bands = draw(st.integers(1, 2))
    stack = np.stack([values] + [np.flip(values, 1).copy()] * (bands - 1))
    profile = Profile(count=bands, height=rows, width=cols, dtype=dtype, nodata=nodata,
                      crs_wkt=None, transform=draw(st.sampled_from(TRANSFORMS)))
    return stack, profile, tile


workers = st.sampled_from([1, 2, 3])
bands = st.sampled_from([None, 1, 2])


def _whole(filt, stack, profile, params):
    """The filter on the whole image as one tile, without the engine."""
    checked = filt.check([profile], params)
    out = filt.func([stack], [profile], checked)
    return np.asarray(out[0]), filt.outputs([profile], checked)[0]


def _tiled(engines, nworkers, tile, stack, profile, filt, params):
    eng = engines[nworkers]
    eng.tile_size = tile
    src = eng.create(profile)
    src.writable_array()[...] = stack
    try:
        out = eng.apply(filt, src, **params)
        try:
            return np.array(out.array), out.profile
        finally:
            out.release()
    finally:
        eng.release(src)


def check_invariant(engines, image, nworkers, filt, **params):
    stack, profile, tile = image
    if params.get("band") == 2 and profile.count < 2:
        params["band"] = 1
    got, out_profile = _tiled(engines, nworkers, tile, stack, profile, filt, params)
    whole, whole_profile = _whole(filt, stack, profile, params)
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
