"""Custom Python filters: the example scripts through the engine (workers 1 and 2), the
picklable script references, and script errors reported with the script's traceback."""

import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi

from engine_helpers import apply_copy
from tilewise.engine import Engine, Filter, InputError, Profile, WorkerError, custom, load_filter

SCRIPTS = Path(__file__).resolve().parents[2] / "resources" / "scripts"


def _apply(eng, filt, data, profile, tile=0, **params):
    return apply_copy(eng, filt, [(data, profile)], tile=tile, **params)


def _script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_normalised_difference_script(auto_engines, workers):
    rng = np.random.default_rng(9)
    profile = Profile(count=4, height=50, width=70, dtype="uint16", nodata=0)
    data = rng.integers(0, 4000, profile.shape).astype("uint16")
    filt = load_filter(SCRIPTS / "normalized_difference.py")
    assert filt.name == "normalized_difference" and filt.margin_for({}) == 0
    got, out = _apply(auto_engines[workers], filt, data, profile, tile=16)
    nir, red = data[3].astype(float), data[2].astype(float)
    with np.errstate(all="ignore"):
        expected = ((nir - red) / (nir + red)).astype(np.float32)
    expected[(data[3] == 0) | (data[2] == 0)] = np.nan
    np.testing.assert_array_equal(got[0], expected)
    assert out.dtype == "float32" and np.isnan(out.nodata)
    got, _ = _apply(auto_engines[workers], filt, data, profile, tile=16, band1=1, band2=2)
    with np.errstate(all="ignore"):
        expected = ((data[0] - data[1].astype(float)) / (data[0] + data[1].astype(float)))
    expected[(data[0] == 0) | (data[1] == 0)] = np.nan
    np.testing.assert_array_equal(got[0], expected.astype(np.float32))
    with pytest.raises(InputError) as err:
        _apply(auto_engines[workers], filt, data, profile, band1=9)
    assert err.value.param == "band1"


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("dtype, nodata", [("float32", -9999.0), ("float64", None),
                                           ("int16", -1)])
def test_local_contrast_script_uses_its_margin(auto_engines, workers, dtype, nodata):
    rng = np.random.default_rng(10)
    profile = Profile(count=2, height=41, width=57, dtype=dtype, nodata=nodata)
    data = rng.normal(100, 20, profile.shape).astype(dtype)
    holes = rng.random(profile.shape) < 0.05
    data[holes] = np.nan if nodata is None else nodata
    filt = load_filter(SCRIPTS / "local_contrast.py")
    assert filt.margin_for({"size": 5}) == 2
    whole, out = _apply(auto_engines[1], filt, data, profile, tile=0, size=5)
    got, _ = _apply(auto_engines[workers], filt, data, profile, tile=9, size=5)
    np.testing.assert_array_equal(got, whole)      # tiled == whole image, bit for bit
    values = data.astype(np.float64)
    for b in range(2):
        expected = (ndi.maximum_filter(np.where(holes[b], -np.inf, values[b]), 5, mode="reflect")
                    - ndi.minimum_filter(np.where(holes[b], np.inf, values[b]), 5,
                                         mode="reflect"))
        fill = np.nan if nodata is None else nodata
        expected = np.where(holes[b], fill, expected).astype(dtype)
        np.testing.assert_array_equal(got[b], expected)
    assert out.dtype == dtype


@pytest.mark.parametrize("workers", [1, 2])
def test_scale_to_byte_script_changes_the_data_type(auto_engines, workers):
    rng = np.random.default_rng(11)
    profile = Profile(count=1, height=30, width=40, dtype="float32", nodata=-9999)
    data = rng.normal(500, 100, profile.shape).astype("float32")
    data[0, 0, :4] = -9999
    filt = load_filter(SCRIPTS / "scale_to_byte.py")
    got, out = _apply(auto_engines[workers], filt, data, profile, tile=7, low=400, high=600)
    assert got.dtype == np.uint8 and out.dtype == "uint8" and out.nodata == 0
    expected = np.rint(np.clip(1 + (data.astype(float) - 400) * (254 / 200), 1, 255))
    expected[data == -9999] = 0
    np.testing.assert_array_equal(got, expected.astype(np.uint8))
    with pytest.raises(InputError) as err:
        _apply(auto_engines[workers], filt, data, profile, low=1)
    assert err.value.param == "high"


def test_the_filter_carries_only_the_path_and_hash(tmp_path):
    path = _script(tmp_path, "copy.py", """
        import numpy as np
        def filter(buffers, profiles, params):
            return [np.array(buffers[0])]
    """)
    filt = load_filter(path)
    assert isinstance(filt, Filter) and filt.inputs == (1, 1) and filt.margin_for({}) == 0
    assert isinstance(filt.func, custom.ScriptFunction)
    assert filt.func.path == str(path.resolve()) and len(filt.func.digest) == 64
    again = pickle.loads(pickle.dumps(filt))
    assert again == filt
    assert len(pickle.dumps(filt)) < 2000   # no code, no pixels


@pytest.mark.parametrize("workers", [1, 2])
def test_an_exception_in_the_script_reports_its_traceback(auto_engines, tmp_path, workers):
    path = _script(tmp_path, f"broken_{workers}.py", """
        def helper(x):
            raise ValueError("the script went wrong on purpose")

        def filter(buffers, profiles, params):
            return helper(buffers)
    """)
    filt = load_filter(path)
    profile = Profile(count=1, height=10, width=10, dtype="uint8")
    with pytest.raises(WorkerError) as err:
        _apply(auto_engines[workers], filt, np.zeros(profile.shape, "uint8"), profile)
    message = str(err.value)
    assert "ValueError: the script went wrong on purpose" in message
    assert f'File "{path.resolve()}", line 3, in helper' in message
    assert 'raise ValueError("the script went wrong on purpose")' in message
    assert "in filter" in err.value.worker_traceback


def test_a_syntax_error_is_reported_with_the_script_traceback(tmp_path):
    path = _script(tmp_path, "syntax.py", """
        def filter(buffers, profiles, params):
            return [buffers[0] +]
    """)
    with pytest.raises(InputError) as err:
        load_filter(path)
    assert err.value.param == "script"
    assert f'File "{path.resolve()}", line 3' in err.value.message
    assert "SyntaxError" in err.value.message and "return [buffers[0] +]" in err.value.message


def test_an_exception_at_import_is_reported(tmp_path):
    path = _script(tmp_path, "import_error.py", """
        import numpy as np
        THRESHOLD = 1 / 0
        def filter(buffers, profiles, params):
            return buffers
    """)
    with pytest.raises(InputError) as err:
        load_filter(path)
    assert "ZeroDivisionError" in err.value.message and "line 3" in err.value.message
    assert "THRESHOLD = 1 / 0" in err.value.script_traceback


@pytest.mark.parametrize("text, reason", [
    ("x = 1\n", "must define a function filter"),
    ("filter = 3\n", "must define a function filter"),
    ("def filter(b, p, q):\n    return b\nINPUTS = (2, 1)\n", "INPUTS"),
    ("def filter(b, p, q):\n    return b\noutput_profiles = 3\n", "output_profiles"),
])
def test_an_incomplete_script_is_refused(tmp_path, text, reason):
    path = tmp_path / "incomplete.py"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_filter(path)
    assert err.value.param == "script" and reason in err.value.message


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        load_filter(tmp_path / "nope.py")
    assert err.value.param == "script" and "no such file" in err.value.message


def test_a_script_changed_after_loading_is_not_run(tmp_path):
    path = _script(tmp_path, "changing.py", """
        import numpy as np
        def filter(buffers, profiles, params):
            return [np.array(buffers[0])]
    """)
    filt = load_filter(path)
    path.write_text(path.read_text() + "\n# edited\n")
    profile = Profile(count=1, height=20, width=20, dtype="uint8")
    with Engine(workers=2, tile_size=8) as eng:   # fresh workers: they read the file
        with pytest.raises(WorkerError) as err:
            _apply(eng, filt, np.zeros(profile.shape, "uint8"), profile, tile=8)
        assert "has changed since the filter was loaded" in str(err.value)
        fresh = load_filter(path)                 # a new hash, a new module
        assert fresh.func.digest != filt.func.digest
        got, _ = _apply(eng, fresh, np.ones(profile.shape, "uint8"), profile, tile=8)
        assert (got == 1).all()


def test_several_inputs_and_outputs(auto_engines, tmp_path):
    path = _script(tmp_path, "two.py", """
        import numpy as np
        INPUTS = (2, 2)
        def margin(params):
            return 1
        def output_profiles(profiles, params):
            return [profiles[0].replace(dtype="float64"), profiles[1].replace(dtype="float64")]
        def filter(buffers, profiles, params):
            a, b = (x.astype(np.float64) for x in buffers)
            return [a + b, a - b]
    """)
    filt = load_filter(path)
    assert filt.inputs == (2, 2) and filt.margin_for({}) == 1
    profile = Profile(count=1, height=25, width=33, dtype="int16")
    a = np.arange(25 * 33, dtype="int16").reshape(1, 25, 33)
    b = np.full_like(a, 3)
    eng = auto_engines[2]
    eng.tile_size = 8
    ra, rb = eng.create(profile), eng.create(profile)
    ra.writable_array()[...] = a
    rb.writable_array()[...] = b
    try:
        total, diff = eng.apply(filt, [ra, rb])
        np.testing.assert_array_equal(total.array, a + 3.0)
        np.testing.assert_array_equal(diff.array, a - 3.0)
        eng.release(total, diff)
    finally:
        eng.release(ra, rb)
