"""Bad input, both ways: through ``processing.run`` and through the engine, from one case list.

Each case in ``BAD`` is one kind of bad input. It is run twice:

* ``test_bad_input_processing``: ``processing.run`` in a headless QGIS must raise a
  QgsProcessingException whose message names the offending QGIS parameter;
* ``test_bad_input_engine``: the same run with ``tilewise.engine`` must raise an ``InputError``
  whose ``.param`` names the engine parameter.

Either way nothing may be left behind: no output file (or the file that was already at the
output path, byte for byte), inputs untouched, no new shared-memory segment, no ``.tilewise-*``
temporary file anywhere under the test folder.

``WORKS`` lists edge cases that must *not* fail (tiny and thin images, more workers than
pixels, margins wider than the image, every kind of nodata); both ways must give the same
result as an engine-free reference.
"""

import hashlib
import os
import subprocess
from dataclasses import dataclass, field

import numpy as np
import pytest
from rasterio.fill import fillnodata
from rasterio.transform import from_origin
from scipy.ndimage import uniform_filter

import qgis_helpers as qh
from tilewise.engine import Engine, InputError, filters
from tilewise.engine.store.segments import list_segments

NODATA = -9999.0
SENTINEL = b"an older file that a failed run must leave alone\n"


# --- the cases --------------------------------------------------------------------------------


@dataclass
class Case:
    """One kind of bad input.

    ``params`` are QGIS parameter values; strings are formatted with the test's files
    (``{dem}``, ``{out}``, ``{tmp}``, ... see ``Files``). ``setup(files)`` may create more files
    (and mounts) first. ``culprit`` is the QGIS parameter the message must name; ``engine`` the
    engine parameter ``InputError.param`` must name (None: no engine counterpart, ``why_not``
    says why).
    """

    id: str
    algorithm: str
    params: dict
    culprit: str
    engine: str
    setup: object = None
    why_not: str = ""
    keep_existing_output: bool = True  # put a file at the output path first and check it survives
    late: bool = False  # only found out by the engine (the provider cannot tell up front)
    marks: list = field(default_factory=list)


def _write_text(files, name, text="this is not a raster\n"):
    path = files.tmp / name
    path.write_text(text)
    return path


def _mask_like(files, name, shape=None, crs=qh.CRS, transform=None):
    array = np.zeros(shape or files.shape, dtype="uint8")
    array[2:5, 3:9] = 1
    qh.write_geotiff(files.tmp / name, array, crs=crs, transform=transform)


def _complex(files):
    qh.write_geotiff(files.tmp / "complex.tif",
                     (np.arange(np.prod(files.shape)).reshape(files.shape) * (1 + 2j))
                     .astype("complex64"))


def _big_noise(files):
    """700 x 700 float32 noise (1.9 MiB as a mean output): more than a 1 MiB disk holds,
    even compressed."""
    rng = np.random.default_rng(7)
    qh.write_geotiff(files.tmp / "big.tif", rng.random((700, 700), dtype="float32"))


def _full_disk(files):
    _big_noise(files)
    files.mount(files.tmp / "small", "size=1m")


def _read_only(files):
    files.mount(files.tmp / "ro", "size=1m", read_only=True)


def _output_is_a_folder(files):
    (files.tmp / "out" / "folder.tif").mkdir()


BAD = [
    Case("missing-file", "meanfilter", {"INPUT": "{tmp}/missing.tif"}, "INPUT", "path"),
    Case("not-a-raster", "nodatamask", {"INPUT": "{tmp}/notes.txt"}, "INPUT", "path",
         setup=lambda f: _write_text(f, "notes.txt")),
    Case("corrupt-tif", "nodatamask", {"INPUT": "{tmp}/corrupt.tif"}, "INPUT", "path",
         setup=lambda f: _write_text(f, "corrupt.tif", "II*\0garbage")),
    Case("mask-missing", "fillnodata", {"MASK": "{tmp}/nomask.tif"}, "MASK", "path"),
    Case("band-0", "nodatamask", {"BAND": 0}, "BAND", "band"),
    Case("band-count+1", "fillnodata", {"BAND": 2}, "BAND", "band"),
    Case("band-count+1-mean", "meanfilter", {"BAND": 2}, "BAND", "band"),
    Case("mask-other-shape", "fillnodata", {"MASK": "{tmp}/mask_shape.tif"}, "MASK", "inputs",
         setup=lambda f: _mask_like(f, "mask_shape.tif", shape=(f.shape[0], f.shape[1] + 1))),
    Case("mask-other-crs", "fillnodata", {"MASK": "{tmp}/mask_crs.tif"}, "MASK", "inputs",
         setup=lambda f: _mask_like(f, "mask_crs.tif", crs="EPSG:32632")),
    Case("mask-other-transform", "fillnodata", {"MASK": "{tmp}/mask_shift.tif"}, "MASK",
         "inputs", setup=lambda f: _mask_like(f, "mask_shift.tif",
                                             transform=from_origin(500010.0, 4600000.0, 10, 10))),
    Case("complex64", "meanfilter", {"INPUT": "{tmp}/complex.tif"}, "INPUT", "path",
         setup=_complex),
    Case("size-even", "meanfilter", {"SIZE": 4}, "SIZE", "size"),
    Case("size-0", "meanfilter", {"SIZE": 0}, "SIZE", "size"),
    Case("size-negative", "meanfilter", {"SIZE": -3}, "SIZE", "size"),
    Case("max-distance-negative", "fillnodata", {"MAX_DISTANCE": -1.5}, "MAX_DISTANCE",
         "max_distance"),
    Case("smoothing-negative", "fillnodata", {"SMOOTHING_ITERATIONS": -1},
         "SMOOTHING_ITERATIONS", "smoothing_iterations"),
    Case("tile-size-negative", "meanfilter", {"TILE_SIZE": -8}, "TILE_SIZE", "tile_size"),
    Case("workers-negative", "nodatamask", {"WORKERS": -2}, "WORKERS", "workers"),
    Case("output-missing-folder", "nodatamask", {"OUTPUT": "{tmp}/nowhere/out.tif"}, "OUTPUT",
         "output", keep_existing_output=False),
    Case("output-is-a-folder", "nodatamask", {"OUTPUT": "{tmp}/out/folder.tif"}, "OUTPUT",
         "output", setup=_output_is_a_folder, keep_existing_output=False),
    Case("output-read-only-folder", "meanfilter", {"OUTPUT": "{tmp}/ro/out.tif"}, "OUTPUT",
         "output", setup=_read_only),
    Case("output-is-the-input", "meanfilter", {"OUTPUT": "{dem}"}, "OUTPUT", "output",
         keep_existing_output=False),
    Case("disk-full", "meanfilter", {"INPUT": "{tmp}/big.tif", "OUTPUT": "{tmp}/small/out.tif"},
         "OUTPUT", "output", setup=_full_disk, late=True),
    Case("disk-full-compressed", "meanfilter",
         {"INPUT": "{tmp}/big.tif", "OUTPUT": "{tmp}/small/out.tif", "OPTIONS": "COMPRESS=DEFLATE",
          "WORKERS": 2}, "OUTPUT", "output", setup=_full_disk, late=True),
    Case("options-unknown-key", "nodatamask", {"OPTIONS": "FOO=BAR"}, "OPTIONS", "options"),
    Case("options-bad-value", "meanfilter", {"OPTIONS": "COMPRESS=NOPE"}, "OPTIONS", "options"),
    Case("options-no-value", "fillnodata", {"OPTIONS": "COMPRESS"}, "OPTIONS", "options"),
    Case("output-not-geotiff", "nodatamask", {"OUTPUT": "{tmp}/out/out.png"}, "OUTPUT", None,
         why_not="the engine writes any path with the driver it is given (GTiff by default); "
                 "only the provider, which promises GeoTIFF files, rejects other extensions"),
]

ENGINE_BAD = [case for case in BAD if case.engine is not None]


def test_the_tables_are_big_enough():
    assert len({case.id for case in BAD}) == len(BAD)
    assert len(BAD) >= 20 and len(ENGINE_BAD) >= 20


# --- files, mounts, engine runs ---------------------------------------------------------------


class Files:
    """The test's folder: ``dem.tif`` (float32 with nodata holes), ``out/`` (where outputs go
    by default) and whatever the case's ``setup`` adds; ``mount`` mounts tmpfs folders (root
    only) that are unmounted at the end of the test."""

    shape = (24, 31)

    def __init__(self, tmp):
        self.tmp = tmp
        self.mounts = []
        self.array = qh.punch_holes(qh.synthetic_dem(*self.shape, seed=11), NODATA, seed=12)
        self.dem = qh.write_geotiff(tmp / "dem.tif", self.array, nodata=NODATA)
        (tmp / "out").mkdir()
        self.out = str(tmp / "out" / "out.tif")

    def format(self, value):
        if not isinstance(value, str):
            return value
        return value.format(dem=self.dem, out=self.out, tmp=self.tmp)

    def mount(self, folder, options, read_only=False):
        """A tmpfs at ``folder``; read-only ones hold ``out.tif`` (the pre-existing output)."""
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
        self.mounts.append(folder)
        if read_only:
            (folder / "out.tif").write_bytes(SENTINEL)
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)

    def unmount(self):
        for folder in reversed(self.mounts):
            subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def files(tmp_path):
    files = Files(tmp_path)
    yield files
    files.unmount()


def snapshot(root):
    """{path: sha256} of every file under ``root`` (what a failed run must leave as it was)."""
    digests = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    digests[path] = hashlib.sha256(handle.read()).hexdigest()
    return digests


def prepare(case, files):
    """The case's QGIS parameters (formatted), after its setup and the pre-existing output."""
    if case.setup is not None:
        case.setup(files)
    params = {"INPUT": files.dem, "OUTPUT": files.out, "WORKERS": 1}
    params.update({key: files.format(value) for key, value in case.params.items()})
    output = params["OUTPUT"]
    if case.keep_existing_output and not os.path.exists(output):
        with open(output, "wb") as handle:
            handle.write(SENTINEL)
    return params


def check_nothing_left_behind(files, before, segments_before):
    after = snapshot(files.tmp)
    changed = sorted(path for path in set(before) | set(after)
                     if before.get(path) != after.get(path))
    assert not changed, f"files created, changed or removed: {changed}"
    strays = [os.path.join(folder, name) for folder, _, names in os.walk(files.tmp)
              for name in names if name.startswith(".tilewise-")]
    assert not strays, f"temporary files left behind: {strays}"
    assert set(list_segments(os.getpid())) == segments_before, "shared-memory segment left"


ENGINE_FILTERS = {"nodatamask": filters.nodata_mask, "fillnodata": filters.fill_nodata,
                  "meanfilter": filters.mean}


def engine_params(algorithm, params):
    """The engine's keyword arguments for the QGIS parameters ``params`` (QGIS defaults)."""
    if algorithm == "nodatamask":
        return {"band": params.get("BAND", 1)}
    if algorithm == "fillnodata":
        return {"band": params.get("BAND", 1), "max_distance": params.get("MAX_DISTANCE", 100),
                "smoothing_iterations": params.get("SMOOTHING_ITERATIONS", 0)}
    return {"size": params.get("SIZE", 3), "band": params.get("BAND") or None}


def run_engine(algorithm, params):
    """What the algorithm does, with the engine alone: open, apply, write."""
    with Engine(workers=params.get("WORKERS", 1), tile_size=params.get("TILE_SIZE", 0)) as eng:
        rasters = [eng.open(params["INPUT"])]
        if params.get("MASK"):
            rasters.append(eng.open(params["MASK"]))
        result = eng.apply(ENGINE_FILTERS[algorithm], rasters, **engine_params(algorithm, params))
        eng.write(result, params["OUTPUT"], options=params.get("OPTIONS", ""))


def run_processing(processing, algorithm, params):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"tilewise:{algorithm}", params, context=QgsProcessingContext(),
                          feedback=QgsProcessingFeedback())


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in BAD])
def test_bad_input_processing(processing, files, case, monkeypatch):
    """Also checks that the provider finds the problem before starting any engine, except for
    the few cases only the engine can find out (``late``)."""
    from qgis.core import QgsProcessingException
    import tilewise.algorithms.base as base

    engines = []

    def recording_engine(*args, **kwargs):
        engines.append(kwargs)
        return Engine(*args, **kwargs)
    monkeypatch.setattr(base, "Engine", recording_engine)
    params = prepare(case, files)
    before, segments = snapshot(files.tmp), set(list_segments(os.getpid()))
    with pytest.raises(QgsProcessingException) as raised:
        run_processing(processing, case.algorithm, params)
    message = str(raised.value)
    assert f"({case.culprit})" in message, message
    assert bool(engines) == case.late, "an engine was started" if engines else "no engine ran"
    check_nothing_left_behind(files, before, segments)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in ENGINE_BAD])
def test_bad_input_engine(files, case):
    params = prepare(case, files)
    before, segments = snapshot(files.tmp), set(list_segments(os.getpid()))
    with pytest.raises(InputError) as raised:
        run_engine(case.algorithm, params)
    assert raised.value.param == case.engine, str(raised.value)
    check_nothing_left_behind(files, before, segments)


def test_options_fail_before_any_work(processing, files, monkeypatch):
    """A bad creation option is caught by checkParameterValues: no engine is ever started."""
    from qgis.core import QgsProcessingException
    import tilewise.algorithms.base as base

    def no_engine(*args, **kwargs):
        raise AssertionError("an Engine was started despite invalid OPTIONS")
    monkeypatch.setattr(base, "Engine", no_engine)
    for options in ("FOO=BAR", "COMPRESS=NOPE", "COMPRESS", "ZSTD_LEVEL"):
        with pytest.raises(QgsProcessingException, match=r"\(OPTIONS\)"):
            run_processing(processing, "nodatamask",
                           {"INPUT": files.dem, "OUTPUT": files.out, "OPTIONS": options})
    assert not os.path.exists(files.out)


# --- edge cases that must work ----------------------------------------------------------------


def invalid_pixels(band, nodata):
    invalid = np.isnan(band) if band.dtype.kind == "f" else np.zeros(band.shape, bool)
    if nodata is not None and not np.isnan(nodata):
        invalid |= band == nodata
    return invalid


def reference(algorithm, array, nodata, params):
    """Engine-free result of ``algorithm`` on the whole (bands, rows, cols) ``array``."""
    if algorithm == "nodatamask":
        return invalid_pixels(array[params.get("BAND", 1) - 1], nodata).astype("uint8")[None]
    if algorithm == "fillnodata":
        band = array[params.get("BAND", 1) - 1]
        return fillnodata(band.copy(), mask=(~invalid_pixels(band, nodata)).astype("uint8"),
                          max_search_distance=params.get("MAX_DISTANCE", 100),
                          smoothing_iterations=params.get("SMOOTHING_ITERATIONS", 0))[None]
    size = params.get("SIZE", 3)
    bands = [params["BAND"]] if params.get("BAND") else range(1, array.shape[0] + 1)
    out = []
    for b in bands:
        band = array[b - 1]
        invalid = invalid_pixels(band, nodata)
        values = np.where(invalid, 0, band).astype("float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (uniform_filter(values, size, mode="reflect")
                    / uniform_filter((~invalid).astype("float64"), size, mode="reflect"))
        out.append(np.where(invalid, np.nan if nodata is None else nodata, mean))
    dtype = array.dtype if array.dtype.kind == "f" else np.dtype("float32")
    return np.array(out, dtype=dtype)


def _grid(shape, dtype="float32", holes=True, fill=NODATA, seed=0):
    array = qh.synthetic_dem(*shape, seed=seed).astype(dtype)
    if holes and array.size > 1:
        array.flat[array.size // 2] = fill
        array.flat[0] = fill
    return array


def _uint8_with_nodata_beyond_its_range(path):
    """A Byte GeoTIFF whose nodata tag is -9999: rasterio refuses to write one ("beyond the
    valid range of its data type"), GDAL writes it; rasterio then reads the nodata as None."""
    from osgeo import gdal

    array = (np.arange(48).reshape(6, 8) % 7).astype("uint8")
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 8, 6, 1, gdal.GDT_Byte)
    dataset.SetGeoTransform((500000.0, 10.0, 0.0, 4600000.0, 0.0, -10.0))
    band = dataset.GetRasterBand(1)
    band.SetNoDataValue(-9999)
    band.WriteArray(array)
    dataset = band = None
    return array[None], None  # the nodata as rasterio (hence the engine) sees it


@dataclass
class Works:
    """An edge case that must work: ``make(path)`` writes the input and returns
    ``(array (bands, rows, cols), nodata as read)``; ``params`` are QGIS parameters."""

    id: str
    algorithm: str
    make: object
    params: dict = field(default_factory=dict)


def _image(shape, nodata=NODATA, **kwargs):
    def make(path):
        array = _grid(shape, fill=np.nan if nodata is None else nodata, **kwargs)
        qh.write_geotiff(path, array, nodata=nodata)
        return array[None], nodata
    return make


WORKS = [
    *(Works(f"{name}-{algorithm}", algorithm, _image(shape), {"WORKERS": 2})
      for name, shape in (("1x1", (1, 1)), ("1xN", (1, 9)), ("Nx1", (9, 1)))
      for algorithm in ("nodatamask", "fillnodata", "meanfilter")),
    *(Works(f"3-workers-on-2x2-{algorithm}", algorithm, _image((2, 2)), {"WORKERS": 3})
      for algorithm in ("nodatamask", "fillnodata", "meanfilter")),
    Works("max-distance-500-on-10x10", "fillnodata", _image((10, 10)),
          {"MAX_DISTANCE": 500, "WORKERS": 2, "TILE_SIZE": 3}),
    Works("size-101-on-5x5", "meanfilter", _image((5, 5)), {"SIZE": 101, "WORKERS": 2,
                                                            "TILE_SIZE": 2}),
    *(Works(f"nodata-unset-{algorithm}", algorithm, _image((12, 13), nodata=None),
            {"WORKERS": 2, "TILE_SIZE": 5})
      for algorithm in ("nodatamask", "fillnodata", "meanfilter")),
    *(Works(f"nodata-nan-{algorithm}", algorithm, _image((12, 13), nodata=float("nan")),
            {"WORKERS": 2, "TILE_SIZE": 5})
      for algorithm in ("nodatamask", "fillnodata", "meanfilter")),
    *(Works(f"uint8-nodata-9999-{algorithm}", algorithm, _uint8_with_nodata_beyond_its_range,
            {"WORKERS": 2, "TILE_SIZE": 4})
      for algorithm in ("nodatamask", "fillnodata", "meanfilter")),
]


def check_result(case, path, array, nodata):
    result, profile = qh.read_geotiff(path)
    expected = reference(case.algorithm, array, nodata, case.params)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    if case.algorithm == "meanfilter":
        np.testing.assert_allclose(result, expected, rtol=1e-5, equal_nan=True)
    else:
        np.testing.assert_array_equal(result, expected)
    return result


@pytest.mark.parametrize("case", WORKS, ids=[c.id for c in WORKS])
def test_edge_case_works_processing(processing, tmp_path, case):
    array, nodata = case.make(tmp_path / "in.tif")
    out = str(tmp_path / "out.tif")
    result = run_processing(processing, case.algorithm,
                            {"INPUT": str(tmp_path / "in.tif"), "OUTPUT": out, **case.params})
    assert result["OUTPUT"] == out
    check_result(case, out, array, nodata)


@pytest.mark.parametrize("case", WORKS, ids=[c.id for c in WORKS])
def test_edge_case_works_engine(tmp_path, case):
    array, nodata = case.make(tmp_path / "in.tif")
    out = str(tmp_path / "out.tif")
    run_engine(case.algorithm, {"INPUT": str(tmp_path / "in.tif"), "OUTPUT": out, **case.params})
    check_result(case, out, array, nodata)


def test_uint8_nodata_beyond_range_is_read_as_unset(tmp_path):
    """Documents what "works" means for a uint8 band tagged nodata -9999: GDAL keeps the tag,
    rasterio (hence the engine) reads no nodata, which is what the tag means for uint8 data (no
    pixel can hold -9999), and the outputs carry no nodata value."""
    import rasterio

    _uint8_with_nodata_beyond_its_range(tmp_path / "u8.tif")
    from osgeo import gdal

    assert gdal.Open(str(tmp_path / "u8.tif")).GetRasterBand(1).GetNoDataValue() == -9999
    with rasterio.open(tmp_path / "u8.tif") as src:
        assert src.nodata is None
    with pytest.raises(ValueError, match="beyond the valid range"):
        qh.write_geotiff(tmp_path / "refused.tif", np.zeros((2, 2), "uint8"), nodata=-9999)
    run_engine("meanfilter", {"INPUT": str(tmp_path / "u8.tif"), "OUTPUT": str(tmp_path / "m.tif")})
    assert qh.read_geotiff(tmp_path / "m.tif")[1]["nodata"] is None

