"""Band math: semantics, nodata, output types, tiling invariance, and refusal of anything
that is not band math (with no side effect)."""

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine_helpers import apply_copy
from strategies import band_pairs
from tilewise.engine import InputError, Profile, band_math, bandmath
from tilewise.engine.ops.expressions import compile_expression, run_program

REPO = Path(__file__).resolve().parents[2]


def _profile(count=4, rows=20, cols=30, dtype="uint16", nodata=0):
    return Profile(count=count, height=rows, width=cols, dtype=dtype, nodata=nodata,
                   transform=(10.0, 0.0, 500.0, 0.0, -10.0, 900.0))


def _run(eng, arrays_profiles, tile=0, **params):
    return apply_copy(eng, band_math, arrays_profiles, tile=tile, **params)


def _stack(rng, profile, low=0, high=1000):
    return rng.integers(low, high, profile.shape).astype(profile.dtype)


# -- semantics ------------------------------------------------------------------------------

def test_ndvi_matches_numpy_and_propagates_nodata(auto_engines):
    rng = np.random.default_rng(1)
    profile = _profile()
    data = _stack(rng, profile)
    data[3, 0, :5] = 0          # nodata in the NIR band
    data[2, 1, :5] = 0          # nodata in the red band
    data[0, 2, :5] = 0          # nodata in a band the expression does not read
    data[2, 3, 7] = data[3, 3, 7] = 0   # both: nodata (not 0/0)
    nir, red = data[3].astype(np.float64), data[2].astype(np.float64)
    with np.errstate(all="ignore"):
        expected = ((nir - red) / (nir + red)).astype(np.float32)
    expected[(data[3] == 0) | (data[2] == 0)] = np.nan
    for workers in (1, 2):
        got, out = _run(auto_engines[workers], [(data, profile)], tile=7,
                        expression="(A@4 - A@3) / (A@4 + A@3)")
        assert got.shape == (1, 20, 30) and got.dtype == np.float32
        np.testing.assert_array_equal(got[0], expected)
        assert np.isnan(got[0, 2, :5]).sum() == 0     # band 1 is not read
        assert np.isnan(out.nodata) and out.dtype == "float32" and out.count == 1
        assert out.descriptions == ("(A@4 - A@3) / (A@4 + A@3)",)
        assert out.transform == profile.transform


def test_at_binds_tighter_than_any_operator(auto_engines):
    rng = np.random.default_rng(2)
    profile = _profile(nodata=None)
    data = _stack(rng, profile, 1, 50)
    a = data.astype(np.float64)
    cases = {
        "A@4 / A@3": a[3] / a[2],
        "-A@1": -a[0],
        "2*A@2**2": 2 * a[1] ** 2,
        "@4 - @3": a[3] - a[2],            # bare @k is a band of A
        "A@1 % 7 + A@2 // 3": a[0] % 7 + a[1] // 3,
    }
    for expression, expected in cases.items():
        got, _ = _run(auto_engines[1], [(data, profile)], expression=expression, dtype="float64")
        np.testing.assert_array_equal(got[0], expected, err_msg=expression)


def test_functions_comparisons_and_logic(auto_engines):
    rng = np.random.default_rng(3)
    profile = _profile(count=2, nodata=None, dtype="float64")
    data = rng.normal(0, 10, profile.shape)
    x, y = data
    with np.errstate(all="ignore"):
        cases = {
            "where(A@1 > 0, A@1, A@2)": np.where(x > 0, x, y),
            "A@1 if A@1 > 0 else A@2": np.where(x > 0, x, y),
            "clip(A@1, -5, 5)": np.clip(x, -5, 5),
            "sqrt(abs(A@1))": np.sqrt(np.abs(x)),
            "log(abs(A@1) + 1) + log10(abs(A@2) + 1)": np.log(np.abs(x) + 1) + np.log10(np.abs(y) + 1),
            "exp(A@1 / 10)": np.exp(x / 10),
            "floor(A@1) + ceil(A@2)": np.floor(x) + np.ceil(y),
            "min(A@1, A@2, 3)": np.minimum(np.minimum(x, y), 3),
            "max(A@1, A@2)": np.maximum(x, y),
            "(A@1 > 0) + (A@2 > 0)": (x > 0).astype(float) + (y > 0).astype(float),
            "0 < A@1 < 5": ((0 < x) & (x < 5)).astype(float),
            "A@1 > 0 and A@2 > 0": ((x > 0) & (y > 0)).astype(float),
            "(A@1 > 0) & (A@2 > 0)": ((x > 0) & (y > 0)).astype(float),
            "A@1 > 0 or not A@2 > 0": ((x > 0) | ~(y > 0)).astype(float),
            "(A@1 > 0) | ~(A@2 > 0)": ((x > 0) | ~(y > 0)).astype(float),
            "A@1 == A@1": np.ones_like(x),
            "A@1 != A@1": np.zeros_like(x),
            "pi * e + True": np.full_like(x, np.pi * np.e + 1),
        }
    for expression, expected in cases.items():
        got, _ = _run(auto_engines[1], [(data, profile)], expression=expression, dtype="float64")
        np.testing.assert_array_equal(got[0], expected, err_msg=expression)


def test_several_rasters_each_with_its_own_nodata(auto_engines):
    rng = np.random.default_rng(4)
    pa = _profile(count=1, dtype="int16", nodata=-1)
    pb = _profile(count=2, dtype="float32", nodata=None)
    a = rng.integers(0, 100, pa.shape).astype("int16")
    b = rng.normal(5, 1, pb.shape).astype("float32")
    a[0, 0, 0] = -1
    b[1, 1, 1] = np.nan
    got, _ = _run(auto_engines[2], [(a, pa), (b, pb)], tile=5, expression="A + B@2 * 2")
    expected = (a[0].astype(np.float64) + b[1].astype(np.float64) * 2).astype(np.float32)
    expected[0, 0] = expected[1, 1] = np.nan
    np.testing.assert_array_equal(got[0], expected)


def test_division_by_zero_and_non_finite_results_are_nodata(auto_engines):
    profile = _profile(count=2, rows=1, cols=6, dtype="float64", nodata=None)
    data = np.array([[[1.0, 0.0, -1.0, 4.0, 1e300, 2.0]],
                     [[0.0, 0.0, 0.0, 2.0, 1e300, 1.0]]])
    got, _ = _run(auto_engines[1], [(data, profile)], expression="A@1 / A@2")
    assert np.isnan(got[0, 0, :3]).all()                 # 1/0, 0/0, -1/0
    assert got[0, 0, 3] == 2.0 and got[0, 0, 5] == 2.0
    assert got[0, 0, 4] == 1.0
    got, _ = _run(auto_engines[1], [(data, profile)], expression="A@1 * A@2")  # 1e600: overflow
    assert np.isnan(got[0, 0, 4]) and got[0, 0, 3] == 8.0
    got, _ = _run(auto_engines[1], [(data, profile)], expression="sqrt(A@1) + log(A@2)",
                  dtype="float64", nodata=-9999)
    assert got[0, 0, 2] == -9999 and got[0, 0, 0] == -9999   # sqrt(-1), log(0)
    # where() picks the finite branch: a division by zero it does not pick is harmless
    got, _ = _run(auto_engines[1], [(data, profile)], expression="where(A@2 != 0, A@1 / A@2, -1)")
    np.testing.assert_array_equal(got[0, 0], [-1, -1, -1, 2, 1, 2])


def test_integer_outputs_round_and_need_a_nodata_value(auto_engines):
    profile = _profile(count=1, rows=1, cols=6, dtype="float32", nodata=-5)
    data = np.array([[[0.4, 0.5, 1.5, 254.6, 300.0, -5.0]]], dtype="float32")
    with pytest.raises(InputError) as err:
        _run(auto_engines[1], [(data, profile)], expression="A", dtype="uint8")
    assert err.value.param == "nodata" and "required" in err.value.message
    with pytest.raises(InputError) as err:
        _run(auto_engines[1], [(data, profile)], expression="A", dtype="uint8", nodata=256)
    assert err.value.param == "nodata"
    got, out = _run(auto_engines[1], [(data, profile)], expression="A", dtype="uint8", nodata=0)
    assert got.dtype == np.uint8 and out.nodata == 0
    # rint (halves to even); 300 does not fit uint8 -> nodata; the input nodata -> nodata
    np.testing.assert_array_equal(got[0, 0], [0, 0, 2, 255, 0, 0])
    got, _ = _run(auto_engines[1], [(data, profile)], expression="A > 1", dtype="uint8", nodata=255)
    np.testing.assert_array_equal(got[0, 0], [0, 0, 1, 1, 1, 255])
    got, _ = _run(auto_engines[1], [(data, profile)], expression="A * 1000", dtype="int16",
                  nodata=-32768)
    np.testing.assert_array_equal(got[0, 0], [400, 500, 1500, -32768, -32768, -32768])


def test_bad_dtype_and_parameters(auto_engines):
    profile = _profile(count=1, rows=2, cols=2, dtype="uint8", nodata=None)
    data = np.zeros(profile.shape, "uint8")
    for params, param in [({"expression": "A", "dtype": "complex64"}, "dtype"),
                          ({"expression": "A", "dtype": "nonsense"}, "dtype"),
                          ({"expression": "A", "nodata": "x"}, "nodata"),
                          ({"expression": "A", "colour": 1}, "colour"),
                          ({}, "expression"),
                          ({"expression": 3}, "expression"),
                          ({"expression": "   "}, "expression")]:
        with pytest.raises(InputError) as err:
            _run(auto_engines[1], [(data, profile)], **params)
        assert err.value.param == param, params


def test_a_constant_expression_fills_the_raster(auto_engines):
    profile = _profile(count=1, rows=3, cols=4, dtype="uint8", nodata=None)
    got, _ = _run(auto_engines[1], [(np.zeros(profile.shape, "uint8"), profile)],
                  expression="2 ** 3 - 1")
    assert (got == 7).all()


# -- refusals -------------------------------------------------------------------------------

def _marker(tmp_path):
    return tmp_path / "pwned"


INJECTIONS = [
    ("__import__('os').system('touch {marker}')", "double underscores"),
    ("__import__('os').system", "double underscores"),
    ("().__class__.__bases__[0].__subclasses__()", "double underscores"),
    ("[c for c in ().__class__.__base__.__subclasses__()]", "double underscores"),
    ("open('{marker}', 'w')", "unknown function 'open'"),
    ("eval(\"__import__('os').system('touch {marker}')\")", "unknown function 'eval'"),
    ("exec('import os')", "unknown function 'exec'"),
    ("compile('1', 'x', 'eval')", "unknown function 'compile'"),
    ("getattr(A, 'real')", "unknown function 'getattr'"),
    ("globals()", "unknown function 'globals'"),
    ("breakpoint()", "unknown function 'breakpoint'"),
    ("A.real", "attribute access ('.real')"),
    ("sqrt.__call__(4)", "double underscores"),
    ("(A@1).astype('int8')", "attribute access ('.astype')"),
    ("A@1[0]", "subscripts"),
    ("A@1[0:2]", "subscripts"),
    ("(lambda: 1)()", "lambdas"),
    ("[x for x in (1, 2)]", "comprehensions"),
    ("{x: 1 for x in (1, 2)}", "comprehensions"),
    ("sum(x for x in (1, 2))", "unknown function 'sum'"),
    ("max((x for x in A@1), 2)", "generator expressions"),
    ("'a'", "strings"),
    ("b'a'", "strings"),
    ("f'{A@1}'", "f-strings"),
    ("max(*[A@1, A@2])", "starred"),
    ("clip(A@1, lo=0, hi=1)", "keyword arguments"),
    ("(x := A@1) + x", "assignment expressions"),
    ("[A@1, A@2]", "lists"),
    ("(A@1, A@2)", "tuples"),
    ("{'a': 1}", "dicts"),
    ("A@1 ^ 1", "operator '^'"),
    ("A@1 << 1", "operator '<<'"),
    ("A@1 is None", "comparison 'is'"),
    ("A@1 in A@2", "comparison 'in'"),
    ("None", "constant None"),
    ("...", "constant Ellipsis"),
    ("1j * A@1", "constant 1j"),
    ("x", "unknown name 'x'"),
    ("os", "unknown name 'os'"),
    ("sqrt", "is a function"),
    ("sqrt(A@1, 2)", "sqrt takes 1 argument"),
    ("where(A@1)", "where takes 3 arguments"),
    ("max(A@1)", "max takes at least 2"),
    ("F@1", "unknown raster F"),
    ("a@1", "unknown name 'a'"),
    ("A@5", "band 5 of raster A is out of range: A has 4 bands"),
    ("A@0", "band 0 of raster A is out of range"),
    ("A@-1", "band number must be a whole number"),
    ("(A + 1)@1", "'@' joins a raster letter and a band number"),
    ("A@1.0", "band number must be a whole number"),
    ("A@1 @ 2", "'@' joins"),
    ("A", "raster A has 4 bands"),
    ("1 +", "syntax error"),
    ("import os", "syntax error"),
    ("A@1; __import__('os')", "syntax error"),
    ("yield A@1", "syntax error"),
    ("abs(" * 120 + "A@1" + ")" * 120, "nested"),
    ("-" * 300 + "A@1", "nested"),
    ("1" + "+1" * 3000, "too long"),
]


@pytest.mark.parametrize("text, reason", INJECTIONS)
def test_anything_else_is_refused_with_a_clear_error_and_no_side_effect(tmp_path, text, reason):
    marker = _marker(tmp_path)
    text = text.replace("{marker}", str(marker))
    with pytest.raises(InputError) as err:
        compile_expression(text, [_profile()])
    assert err.value.param == "expression"
    assert reason in err.value.message, err.value.message
    assert not marker.exists()


def test_injection_through_the_engine_has_no_side_effect(auto_engines, tmp_path):
    marker = _marker(tmp_path)
    profile = _profile(count=1, rows=4, cols=4, dtype="uint8", nodata=None)
    data = np.zeros(profile.shape, "uint8")
    for text in (f"__import__('os').system('touch {marker}')",
                 f"().__class__.__bases__[0].__subclasses__()[0]('touch {marker}')",
                 f"open('{marker}', 'w')"):
        for workers in (1, 2):
            before = auto_engines[workers].shared_bytes
            with pytest.raises(InputError) as err:
                _run(auto_engines[workers], [(data, profile)], expression=text)
            assert err.value.param == "expression"
            assert auto_engines[workers].shared_bytes == before
    assert not marker.exists()


def test_the_classic_payload_does_not_touch_tmp_pwned(auto_engines):
    target = Path("/tmp/pwned")
    before = target.stat().st_mtime_ns if target.exists() else None
    profile = _profile(count=1, rows=2, cols=2, dtype="uint8", nodata=None)
    with pytest.raises(InputError) as err:
        _run(auto_engines[2], [(np.zeros(profile.shape, "uint8"), profile)],
             expression="__import__('os').system('touch /tmp/pwned')")
    assert err.value.message == "names with double underscores are not allowed: '__import__'"
    assert (target.stat().st_mtime_ns if target.exists() else None) == before


def test_the_compiler_never_evaluates_text():
    """No eval/exec/compile/__import__ anywhere in the band-math modules."""
    for path in (REPO / "engine" / "ops" / "expressions.py", REPO / "engine" / "ops" / "filters" / "bandmath.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile", "__import__"), path
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None)]
                assert "builtins" not in names and "importlib" not in names, path


def test_a_program_is_plain_data_and_the_interpreter_knows_only_its_operations():
    program, bands = compile_expression("(A@4 - A@3) / (A@4 + A@3)", [_profile()])
    assert pickle.loads(pickle.dumps(program)) == program
    assert bands == ((0, 2), (0, 3))

    def atoms(node):
        yield type(node)
        if isinstance(node, tuple):
            for item in node:
                yield from atoms(item)
    assert set(atoms(program)) <= {tuple, str, int, float}
    with pytest.raises(KeyError):
        run_program(("op", "system", ("const", 1.0)), {})
    with pytest.raises(ValueError):
        run_program(("call", "os.system"), {})


def test_bandmath_is_exported():
    assert bandmath.compile_expression is compile_expression
    assert band_math.margin_for({}) == 0 and band_math.inputs == (1, 26)


# -- tiling invariance ----------------------------------------------------------------------

EXPRESSIONS = [
    ("(A@1 - A@2) / (A@1 + A@2)", "float32", None),
    ("where(A@1 > 100, sqrt(abs(A@1)), -A@2) * 3", "float64", None),
    ("clip(A@1 * 0.37 + 5, 0, 200)", "uint8", 255),
    ("max(A@1, A@2, 50) % 17 - min(A@1, 10)", "int16", -32768),
    ("log(A@1) + exp(A@2 / 1000) + (A@1 >= A@2)", "float32", -9999),
]


@st.composite
def cases(draw):
    data, profile, tile = draw(band_pairs(120, 160))
    return data, profile, tile, draw(st.sampled_from(EXPRESSIONS))


def _reference(data, profile, expression, dtype, nodata):
    """The whole image with plain numpy, written independently of the interpreter."""
    a, b = data.astype(np.float64)
    invalid = np.zeros(a.shape, bool)
    for band in data[:1] if "A@2" not in expression else data:  # only the bands it reads
        if band.dtype.kind == "f":
            invalid |= np.isnan(band)
        if profile.nodata is not None and not np.isnan(profile.nodata):
            invalid |= band == profile.nodata
    with np.errstate(all="ignore"):
        result = {
            EXPRESSIONS[0][0]: lambda: (a - b) / (a + b),
            EXPRESSIONS[1][0]: lambda: np.where(a > 100, np.sqrt(np.abs(a)), -b) * 3,
            EXPRESSIONS[2][0]: lambda: np.minimum(np.maximum(a * 0.37 + 5, 0), 200),
            EXPRESSIONS[3][0]: lambda: np.maximum(np.maximum(a, b), 50) % 17 - np.minimum(a, 10),
            EXPRESSIONS[4][0]: lambda: np.log(a) + np.exp(b / 1000) + (a >= b),
        }[expression]()
        invalid |= ~np.isfinite(result)
        if np.dtype(dtype).kind == "f":
            out = result.astype(dtype)
            invalid |= ~np.isfinite(out)
        else:
            info = np.iinfo(dtype)
            result = np.rint(result)
            invalid |= (result < info.min) | (result > info.max)
            out = np.where(invalid, 0, result).astype(dtype)
    out[invalid] = np.nan if nodata is None else nodata
    return out


@given(cases(), st.sampled_from([1, 2, 3]))
@settings(max_examples=60)
def test_band_math_is_tiling_invariant_and_matches_numpy(auto_engines, case, workers):
    data, profile, tile, (expression, dtype, nodata) = case
    params = {"expression": expression, "dtype": dtype}
    if nodata is not None:
        params["nodata"] = nodata
    got, _ = _run(auto_engines[workers], [(data, profile)], tile=tile, **params)
    whole, _ = _run(auto_engines[1], [(data, profile)], tile=0, **params)
    np.testing.assert_array_equal(got, whole)   # bit for bit, NaN in the same places
    np.testing.assert_array_equal(got[0], _reference(data, profile, expression, dtype, nodata))
    assert got.dtype == np.dtype(dtype)
