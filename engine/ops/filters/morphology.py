"""Mathematical morphology, grey and binary."""

import numpy as np

from ...core.errors import InputError
from ...core.filter import Filter
from ..params import check_band, check_choice, check_int, check_known
from .windows import band_outputs, fill_value, float_dtype, footprint, selected_bands, working, \
    window_extreme

OPERATIONS = ("erosion", "dilation", "opening", "closing", "white_tophat", "black_tophat")
SHAPES = ("square", "disk", "cross")
_PASSES = {"erosion": 1, "dilation": 1, "opening": 2, "closing": 2, "white_tophat": 2,
           "black_tophat": 2}
BINARY_NODATA = 255


def _check(profiles, params):
    check_known(params, ("operation", "radius", "shape", "binary", "band"))
    if "operation" not in params:
        raise InputError("operation", f"is required: one of {', '.join(OPERATIONS)}")
    binary = params.get("binary", False)
    if not isinstance(binary, bool):
        raise InputError("binary", f"must be True or False, got {binary!r}")
    return {"operation": check_choice("operation", params["operation"], OPERATIONS),
            "radius": check_int("radius", params.get("radius", 1), 0),
            "shape": check_choice("shape", params.get("shape", "square"), SHAPES),
            "binary": binary,
            "band": check_band(profiles[0], params.get("band"), allow_none=True)}


def _margin(params):
    # each erosion/dilation pass reaches radius pixels; opening, closing, top-hats chain two
    return _PASSES[params["operation"]] * params["radius"]


def _may_have_nodata(profile):
    return profile.nodata is not None or np.dtype(profile.dtype).kind == "f"


def _output_dtype(params, dtype):
    if params["binary"]:
        return "uint8"
    if params["operation"].endswith("tophat"):
        return float_dtype(dtype)
    return np.dtype(dtype).name


def _outputs(profiles, params):
    p = profiles[0]
    out = band_outputs(profiles, params, _output_dtype(params, p.dtype))[0]
    if params["binary"]:
        out = out.replace(nodata=BINARY_NODATA if _may_have_nodata(p) else None,
                          descriptions=out.descriptions)
    return [out]


def _pass(values, invalid, fp, which):
    # nodata pixels are never read: +inf for a min, -inf for a max
    return window_extreme(values, invalid, fp, "min" if which == "erosion" else "max")


def morph(values, invalid, fp, operation):
    """Float64 grey morphology of ``values`` (nodata excluded from every pass)."""
    if operation in ("erosion", "dilation"):
        return _pass(values, invalid, fp, operation)
    first, second = ("erosion", "dilation") if operation in ("opening", "white_tophat") \
        else ("dilation", "erosion")
    result = _pass(_pass(values, invalid, fp, first), invalid, fp, second)
    if operation == "white_tophat":
        return values - result
    if operation == "black_tophat":
        return result - values
    return result


def _morphology(buffers, profiles, params):
    source, nodata = buffers[0], profiles[0].nodata
    fp = footprint(params["shape"], params["radius"])
    bands = selected_bands(params, source.shape[0])
    out = np.empty((len(bands),) + source.shape[1:],
                   dtype=_output_dtype(params, source.dtype))
    for i, b in enumerate(bands):
        values, invalid = working(source[b - 1], nodata)
        if params["binary"]:
            values = (values != 0).astype(np.float64)
        result = morph(values, invalid, fp, params["operation"])
        result[invalid] = BINARY_NODATA if params["binary"] else fill_value(nodata)
        out[i] = result
    return [out]


morphology = Filter("morphology", _morphology, margin=_margin, outputs=_outputs, check=_check,
                    releases_gil=True, runs_in_caller=True)
"""Grey or binary morphology: ``operation`` erosion, dilation, opening, closing,
white_tophat (x - opening), black_tophat (closing - x); structuring element ``shape`` square,
disk (dy^2 + dx^2 <= r^2) or cross, of ``radius`` px (0 = identity). Margin: radius for
erosion/dilation, 2 x radius for the two-pass operations. Nodata pixels are never read (+inf
in a min, -inf in a max, in every pass) and stay nodata. Grey: the input dtype (top-hats:
float32, float64 for float64 input). ``binary=True``: nonzero = 1, output uint8 0/1 with
nodata 255. Border: reflect."""
