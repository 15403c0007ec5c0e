"""The catalogue filters against references: scipy.ndimage where a window holds no nodata,
brute force (numpy over each window) where it does, and gdaldem for terrain.

Runs through an Engine with 2 workers and small tiles, so the references also check the
tiled results. Tolerances are stated at each comparison.
"""

import shutil
import subprocess

import numpy as np
import pytest
import rasterio
import scipy.ndimage as ndi
from rasterio.transform import Affine

from engine_helpers import apply_copy
from tilewise.engine import Engine, Profile, filters
from tilewise.engine.core.errors import InputError
from tilewise.engine.ops.filters.windows import footprint, reflect_pad


@pytest.fixture(scope="module")
def eng():
    with Engine(workers=2, tile_size=23) as made:
        yield made


def run(eng, stack, filt, nodata=None, transform=(10.0, 0.0, 0.0, 0.0, -10.0, 0.0), **params):
    stack = stack if stack.ndim == 3 else stack[None]
    profile = Profile(count=stack.shape[0], height=stack.shape[1], width=stack.shape[2],
                      dtype=stack.dtype.name, nodata=nodata, transform=transform)
    return apply_copy(eng, filt, [(stack, profile)], **params)


def surface(shape, seed, dtype="float64", scale=40.0):
    rng = np.random.default_rng(seed)
    z = ndi.gaussian_filter(rng.normal(0, scale, shape), 2) * 10 + 500
    return z.astype(dtype)


def noisy(shape, seed, dtype="float64"):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(300, 120, shape).astype(dtype)
    return rng.integers(0, 200, shape).astype(dtype)


def with_holes(values, seed, fraction=0.05):
    holes = np.random.default_rng(seed).random(values.shape) < fraction
    values = values.astype(np.float64)
    values[holes] = np.nan
    return values, holes


def clean_pixels(holes, fp):
    """Pixels whose window (footprint ``fp``, reflect border) holds no nodata."""
    return ~ndi.maximum_filter(holes, footprint=fp, mode="reflect")


def brute(values, holes, fp, func):
    """``func(valid values)`` over each window, reflect border, by plain numpy."""
    r = fp.shape[0] // 2
    padded = np.pad(np.where(holes, np.nan, values.astype(np.float64)), r, mode="symmetric")
    out = np.full(values.shape, np.nan)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            window = padded[i:i + 2 * r + 1, j:j + 2 * r + 1][fp]
            window = window[~np.isnan(window)]
            if window.size:
                out[i, j] = func(window)
    out[holes] = np.nan
    return out


def majority_of(window):
    values, counts = np.unique(window, return_counts=True)
    return values[np.argmax(counts)]  # first maximum = smallest value among ties


# -- smoothing -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "float64"])
@pytest.mark.parametrize("sigma,truncate", [(0.6, 4.0), (1.5, 4.0), (3.0, 2.5)])
def test_gaussian_equals_scipy_without_nodata_and_normalizes_around_holes(eng, dtype, sigma,
                                                                         truncate):
    values = noisy((61, 87), 1, dtype)
    got, profile = run(eng, values, filters.gaussian, sigma=sigma, truncate=truncate)
    reference = ndi.gaussian_filter(values.astype(np.float64), sigma, truncate=truncate,
                                    mode="reflect")
    assert got.dtype == (np.float64 if dtype == "float64" else np.float32)
    # float64: rounding only (the weights sum to 1 within 1e-15); float32: one float32 rounding
    rtol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(got[0], reference, rtol=rtol)

    # with nodata: sum(w * valid values) / sum(w over valid pixels), weights from the kernel
    holed, holes = with_holes(noisy((29, 33), 2), 3, 0.1)
    got, _ = run(eng, holed, filters.gaussian, sigma=sigma, truncate=truncate)
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    w1 = np.exp(-0.5 * (x / sigma) ** 2)
    kernel = np.outer(w1, w1)
    padded = np.pad(holed, radius, mode="symmetric")
    expected = np.full(holed.shape, np.nan)
    for i in range(holed.shape[0]):
        for j in range(holed.shape[1]):
            if holes[i, j]:
                continue
            window = padded[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
            ok = ~np.isnan(window)
            expected[i, j] = (kernel[ok] * window[ok]).sum() / kernel[ok].sum()
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)  # NaN at the holes in both


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_median_equals_scipy_exactly_without_nodata(eng, dtype, size):
    values = noisy((47, 58), 4, dtype)
    got, _ = run(eng, values, filters.median, size=size)
    reference = ndi.median_filter(values, size, mode="reflect")
    np.testing.assert_array_equal(got[0], reference.astype(got.dtype))  # exact

    holed, holes = with_holes(values, 5, 0.15)
    got, _ = run(eng, holed, filters.median, size=size)
    fp = footprint("square", size // 2)
    clean = clean_pixels(holes, fp)
    np.testing.assert_array_equal(got[0][clean], ndi.median_filter(
        holed, size, mode="reflect")[clean])
    # around holes: the median of the valid pixels (even counts average the middle two)
    np.testing.assert_allclose(got[0], brute(holed, holes, fp, np.median), rtol=1e-15)


# -- focal statistics ----------------------------------------------------------------------
BRUTE = {"min": np.min, "max": np.max, "range": np.ptp, "sum": np.sum, "mean": np.mean,
         "std": np.std, "variance": np.var, "median": np.median,
         "percentile": lambda w: np.percentile(w, 37.5), "majority": majority_of}


@pytest.mark.parametrize("statistic", filters.STATISTICS)
@pytest.mark.parametrize("window", [{"size": 3}, {"size": 5},
                                    {"shape": "circle", "radius": 2.5}])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_focal_statistics_equal_numpy_over_each_window(eng, statistic, window, dtype):
    values = noisy((25, 31), 6, dtype)
    if statistic == "majority":
        values = (values % 5).astype(dtype)  # ties and repeats
    holed, holes = with_holes(values, 7, 0.1)
    params = dict(window, statistic=statistic)
    if statistic == "percentile":
        params["q"] = 37.5
    got, profile = run(eng, holed.astype(np.float64 if dtype == "uint8" else dtype),
                       filters.focal_statistics, **params)
    fp = footprint("disk" if window.get("shape") == "circle" else "square",
                   window.get("radius", window.get("size", 3) // 2))
    expected = brute(values, holes, fp, BRUTE[statistic])
    # float64 data here (uint8 case as float64): sums in another order, so rtol 1e-12;
    # float32 data: results rounded to float32 (rtol 1e-6)
    rtol = 1e-6 if profile.dtype == "float32" else 1e-12
    np.testing.assert_allclose(got[0], expected, rtol=rtol, atol=1e-9)

    if statistic in ("min", "max", "median") and window.get("size"):
        ref = {"min": ndi.minimum_filter, "max": ndi.maximum_filter,
               "median": ndi.median_filter}[statistic](values, window["size"], mode="reflect")
        clean = clean_pixels(holes, fp)
        np.testing.assert_array_equal(got[0][clean], ref[clean])  # exact


def test_focal_statistics_dtypes_and_parameter_errors(eng):
    values = noisy((9, 9), 8, "int16")
    for statistic, dtype in [("min", "int16"), ("majority", "int16"), ("sum", "float64"),
                             ("std", "float32"), ("range", "float32")]:
        got, profile = run(eng, values, filters.focal_statistics, statistic=statistic)
        assert got.dtype == np.dtype(dtype) and profile.dtype == dtype
    for params, name in [({"statistic": "mode"}, "statistic"), ({"size": 4}, "size"),
                         ({"statistic": "percentile"}, "q"),
                         ({"statistic": "percentile", "q": 101}, "q"),
                         ({"shape": "circle", "size": 3}, "size"),
                         ({"radius": 2}, "radius"), ({"band": 2}, "band"), ({"bogus": 1}, "bogus")]:
        with pytest.raises(InputError) as err:
            run(eng, values, filters.focal_statistics, **params)
        assert err.value.param == name


# -- morphology ----------------------------------------------------------------------------
SCIPY_GREY = {"erosion": ndi.grey_erosion, "dilation": ndi.grey_dilation,
              "opening": ndi.grey_opening, "closing": ndi.grey_closing,
              "white_tophat": ndi.white_tophat, "black_tophat": ndi.black_tophat}
SCIPY_BINARY = {"erosion": ndi.binary_erosion, "dilation": ndi.binary_dilation,
                "opening": ndi.binary_opening, "closing": ndi.binary_closing}


@pytest.mark.parametrize("operation", list(SCIPY_GREY))
@pytest.mark.parametrize("shape", ["square", "disk", "cross"])
@pytest.mark.parametrize("radius", [1, 3])
def test_morphology_equals_scipy(eng, operation, shape, radius):
    fp = footprint(shape, radius)
    values = noisy((40, 53), 9, "int16")
    got, profile = run(eng, values, filters.morphology, operation=operation, shape=shape,
                       radius=radius)
    reference = SCIPY_GREY[operation](values.astype(np.float64), footprint=fp, mode="reflect")
    np.testing.assert_array_equal(got[0], reference.astype(got.dtype))  # grey: exact

    binary = noisy((40, 53), 10, "uint8") > 80
    got, profile = run(eng, binary.astype(np.uint8), filters.morphology, operation=operation,
                       shape=shape, radius=radius, binary=True)
    assert got.dtype == np.uint8 and profile.nodata is None
    # scipy's binary ops pad with 0 (not reflect): compare 2 x radius away from the border
    inner = (slice(2 * radius, -2 * radius),) * 2
    if operation in SCIPY_BINARY:
        reference = SCIPY_BINARY[operation](binary, structure=fp)
    else:
        reference = SCIPY_GREY[operation](binary.astype(np.int16), footprint=fp) != 0
    np.testing.assert_array_equal(got[0][inner], reference[inner].astype(np.uint8))


@pytest.mark.parametrize("operation", list(SCIPY_GREY))
def test_morphology_never_reads_nodata(eng, operation):
    fp = footprint("disk", 2)
    values = noisy((30, 37), 11, "float64")
    holed, holes = with_holes(values, 12, 0.2)
    got, profile = run(eng, holed, filters.morphology, operation=operation, shape="disk",
                       radius=2, nodata=-9999.0)
    erode = lambda v: brute(v, holes, fp, np.min)  # noqa: E731
    dilate = lambda v: brute(v, holes, fp, np.max)  # noqa: E731
    expected = {"erosion": lambda: erode(values), "dilation": lambda: dilate(values),
                "opening": lambda: dilate(erode(values)), "closing": lambda: erode(dilate(values)),
                "white_tophat": lambda: values - dilate(erode(values)),
                "black_tophat": lambda: erode(dilate(values)) - values}[operation]()
    expected[holes] = -9999.0
    np.testing.assert_array_equal(got[0], expected)  # min/max are exact


# -- edges ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    (filters.sobel, {"output": "x"}, lambda v: ndi.sobel(v, axis=1), 1),
    (filters.sobel, {"output": "y"}, lambda v: ndi.sobel(v, axis=0), 1),
    (filters.sobel, {}, lambda v: np.hypot(ndi.sobel(v, axis=1), ndi.sobel(v, axis=0)), 1),
    (filters.laplace, {}, ndi.laplace, 1),
    (filters.gaussian_gradient_magnitude, {"sigma": 1.3},
     lambda v: ndi.gaussian_gradient_magnitude(v, 1.3), 5)], ids=str)
def test_edges_equal_scipy_where_the_stencil_is_valid(eng, case):
    filt, params, reference, radius = case
    values = noisy((44, 51), 13, "float64")
    got, _ = run(eng, values, filt, **params)
    np.testing.assert_array_equal(got[0], reference(values))  # same kernels: exact

    holed, holes = with_holes(values, 14, 0.02)
    got, _ = run(eng, holed, filt, **params)
    fp = footprint("cross" if filt is filters.laplace else "square", radius)
    clean = clean_pixels(holes, fp)
    np.testing.assert_array_equal(got[0][clean], reference(np.where(holes, 0.0, values))[clean])
    assert np.isnan(got[0][~clean]).all()


def test_sobel_directions_on_a_ramp(eng):
    rows, cols = np.mgrid[0:12, 0:15].astype(np.float64)
    got, _ = run(eng, 2.0 * cols + 0.0 * rows, filters.sobel, output="x")
    assert (got[0][:, 1:-1] == 16.0).all()  # right minus left, weights 1 2 1, unscaled
    got, _ = run(eng, 3.0 * rows, filters.sobel, output="y")
    assert (got[0][1:-1] == 24.0).all()  # bottom minus top


# -- terrain against gdaldem ---------------------------------------------------------------
GDALDEM = shutil.which("gdaldem")
needs_gdaldem = pytest.mark.skipif(GDALDEM is None, reason="gdaldem (gdal-bin) not installed")


def gdaldem(tmp_path, values, nodata, transform, mode, *args):
    src, dst = tmp_path / "dem.tif", tmp_path / f"{mode}.tif"
    with rasterio.open(src, "w", driver="GTiff", height=values.shape[0], width=values.shape[1],
                       count=1, dtype=values.dtype, nodata=nodata,
                       transform=Affine(*transform)) as ds:
        ds.write(values, 1)
    subprocess.run([GDALDEM, mode, str(src), str(dst), "-q", *args], check=True)
    with rasterio.open(dst) as ds:
        return ds.read(1), ds.nodata


def dem(dtype):
    z = surface((73, 91), 15, "float64", scale=8.0)
    if np.dtype(dtype).kind != "f":
        z = np.round(z)
    z[30:34, 40:45] = np.nan
    z[0:3, 60] = np.nan
    nodata = -32768.0
    return np.where(np.isnan(z), nodata, z).astype(dtype), nodata


def compare(got, expected, dst_nodata, atol, circular=False, rtol=1e-5):
    """Same nodata pixels; elsewhere |got - expected| <= atol + rtol * |expected| (gdaldem
    computes in float32, hence rtol 1e-5 for the float outputs)."""
    np.testing.assert_array_equal(got == dst_nodata, expected == dst_nodata)  # same nodata
    valid = expected != dst_nodata
    expected = expected[valid].astype(np.float64)
    diff = np.abs(got[valid].astype(np.float64) - expected)
    if circular:
        diff = np.minimum(diff, 360.0 - diff)
    excess = diff - (atol + rtol * np.abs(expected))
    assert excess.max(initial=0.0) <= 0, f"max difference {diff.max()} (atol {atol}, rtol {rtol})"


TERRAIN = [
    # (filter, params, gdaldem mode and options, tolerance for an int16 / a float32 DEM, circular)
    # gdaldem computes a float32 DEM's window differences in float32: where the slope is
    # gentle, that rounding moves its slope and aspect by up to ~0.005 (measured), hence the
    # wider float32 tolerances. Hillshade: gdaldem rounds an approximate 1/sqrt, +-1 level.
    (filters.slope, {}, ("slope",), (1e-3, 1e-2), False),                  # degrees
    (filters.slope, {"units": "percent", "z_factor": 2.0}, ("slope", "-p", "-s", "0.5"),
     (1e-3, 1e-2), False),                                                  # percent
    (filters.aspect, {}, ("aspect",), (1e-3, 2e-2), True),                  # degrees
    (filters.aspect, {"zero_for_flat": True}, ("aspect", "-zero_for_flat"), (1e-3, 2e-2), True),
    (filters.hillshade, {}, ("hillshade",), (1, 1), False),                 # uint8 levels
    (filters.hillshade, {"azimuth": 100.0, "altitude": 30.0, "z_factor": 3.0},
     ("hillshade", "-az", "100", "-alt", "30", "-z", "3"), (1, 1), False),
    (filters.roughness, {}, ("roughness",), (1e-4, 1e-4), False),
    (filters.tri, {}, ("TRI",), (1e-4, 1e-4), False),
    (filters.tri, {"algorithm": "wilson"}, ("TRI", "-alg", "Wilson"), (1e-4, 1e-4), False),
]


@needs_gdaldem
@pytest.mark.parametrize("dtype", ["float32", "int16"])
@pytest.mark.parametrize("transform", [(10.0, 0.0, 500.0, 0.0, -10.0, 900.0),
                                       (2.5, 0.0, 0.0, 0.0, -2.5, 0.0)])
@pytest.mark.parametrize("case", TERRAIN, ids=lambda c: f"{c[2][0]}{c[1] or ''}")
def test_terrain_equals_gdaldem(eng, tmp_path, dtype, transform, case):
    filt, params, (mode, *args), tolerances, circular = case
    atol = tolerances[dtype == "float32"]
    values, nodata = dem(dtype)
    values[10:20, 10:20] = 480  # a plateau: flat pixels (aspect nodata, or 0 with zero_for_flat)
    expected, dst_nodata = gdaldem(tmp_path, values, nodata, transform, mode, *args)
    got, profile = run(eng, values, filt, nodata=nodata, transform=transform, **params)
    assert got.dtype == expected.dtype
    if params.get("zero_for_flat"):
        # gdaldem -zero_for_flat writes 0 on nodata and border pixels too and declares no
        # nodata; Tilewise puts 0 on flats only and keeps nodata -9999 elsewhere
        assert dst_nodata is None and profile.nodata == -9999.0
        assert (got[0][12:18, 12:18] == 0).all()
        got = np.where(got == -9999.0, np.float32(0), got)
        dst_nodata = 0.0
    else:
        assert profile.nodata == dst_nodata
    compare(got[0], expected, dst_nodata, atol, circular)


@needs_gdaldem
def test_slope_with_rectangular_pixels_equals_gdaldem(eng, tmp_path):
    values, nodata = dem("float32")
    transform = (4.0, 0.0, 0.0, 0.0, -9.0, 0.0)
    expected, dst_nodata = gdaldem(tmp_path, values, nodata, transform, "slope")
    got, _ = run(eng, values, filters.slope, nodata=nodata, transform=transform)
    compare(got[0], expected, dst_nodata, 1e-2)  # float32 DEM: see TERRAIN


# -- parameters and dtypes -----------------------------------------------------------------
BAD_PARAMS = [
    (filters.gaussian, {}, "sigma"), (filters.gaussian, {"sigma": 0}, "sigma"),
    (filters.gaussian, {"sigma": 1, "truncate": -1}, "truncate"),
    (filters.median, {"size": 2}, "size"), (filters.median, {"band": 3}, "band"),
    (filters.morphology, {}, "operation"), (filters.morphology, {"operation": "thin"}, "operation"),
    (filters.morphology, {"operation": "erosion", "radius": -1}, "radius"),
    (filters.morphology, {"operation": "erosion", "shape": "ring"}, "shape"),
    (filters.morphology, {"operation": "erosion", "binary": 1}, "binary"),
    (filters.sobel, {"output": "z"}, "output"), (filters.laplace, {"size": 3}, "size"),
    (filters.gaussian_gradient_magnitude, {"sigma": "1"}, "sigma"),
    (filters.slope, {"units": "radians"}, "units"), (filters.slope, {"z_factor": 0}, "z_factor"),
    (filters.aspect, {"zero_for_flat": "yes"}, "zero_for_flat"),
    (filters.hillshade, {"altitude": 91}, "altitude"),
    (filters.hillshade, {"azimuth": float("nan")}, "azimuth"),
    (filters.tri, {"algorithm": "other"}, "algorithm"), (filters.roughness, {"band": 0}, "band"),
]


@pytest.mark.parametrize("filt,params,name", BAD_PARAMS, ids=lambda v: str(v)[:30])
def test_bad_parameters_name_the_parameter(eng, filt, params, name):
    with pytest.raises(InputError) as err:
        run(eng, noisy((5, 6), 16, "uint8"), filt, **params)
    assert err.value.param == name


ALL_FILTERS = [(filters.gaussian, {"sigma": 1.0}), (filters.median, {}),
               (filters.focal_statistics, {"statistic": "majority"}),
               (filters.morphology, {"operation": "black_tophat"}), (filters.sobel, {}),
               (filters.laplace, {}), (filters.gaussian_gradient_magnitude, {"sigma": 1.0}),
               (filters.slope, {}), (filters.aspect, {}), (filters.hillshade, {}),
               (filters.roughness, {}), (filters.tri, {})]


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint32"])
@pytest.mark.parametrize("filt,params", ALL_FILTERS, ids=lambda v: getattr(v, "name", ""))
def test_other_integer_dtypes_run_and_keep_nodata(eng, dtype, filt, params):
    values = noisy((19, 27), 17, dtype)
    values[5, 5] = 7
    got, profile = run(eng, values, filt, nodata=7.0, **params)
    assert got.dtype == np.dtype(profile.dtype)
    assert got[0][5, 5] == np.array(profile.nodata, dtype=got.dtype)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1), (2, 3), (5, 7), (40, 33)])
@pytest.mark.parametrize("r", [0, 1, 2, 3, 6])
def test_reflect_pad_equals_numpy_symmetric_pad(shape, r):
    values = np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape)
    padded = reflect_pad(values, r)
    np.testing.assert_array_equal(padded, np.pad(values, r, mode="symmetric"))
    assert padded.dtype == values.dtype
