"""Band math: one output band computed pixel by pixel from an expression over the inputs.

The expression is compiled by :mod:`tilewise.engine.ops.expressions` (never evaluated as Python);
see docs/engine-api.md, "Band math", for the syntax.

Parameters: ``expression`` (text, required), ``dtype`` (output type, default
``"float32"``), ``nodata`` (output nodata value; default NaN for float outputs, required
for integer outputs).

Nodata: an output pixel is ``nodata`` where any input band the expression reads is nodata
(its raster's nodata value, or NaN for float rasters), and where the result is not a
finite number (division by zero, ``log(0)``, ``sqrt(-1)``, overflow ...). Everything is
computed in float64; float32 results that overflow float32 become nodata. Integer outputs
are rounded to the nearest integer (halves to even, as ``numpy.rint``); results outside
the type's range become nodata. A valid result that happens to equal ``nodata`` cannot
be told apart from nodata.
"""

import numbers

import numpy as np

from ..expressions import compile_expression, run_program
from ...core.errors import InputError
from ...core.filter import Filter
from ...core.profile import SUPPORTED_DTYPES
from ..params import check_known
from .nodata import invalid_pixels


def _check(profiles, params):
    check_known(params, ("expression", "dtype", "nodata"))
    if "expression" not in params:
        raise InputError("expression", "is required, e.g. '(A@4 - A@3) / (A@4 + A@3)'")
    expression = params["expression"]
    program, bands = compile_expression(expression, profiles)
    dtype = params.get("dtype", "float32")
    try:
        dtype = np.dtype(dtype).name
    except TypeError:
        raise InputError("dtype", f"unknown data type {dtype!r}") from None
    if dtype not in SUPPORTED_DTYPES:
        raise InputError("dtype", f"unsupported data type {dtype!r}; supported: "
                         f"{', '.join(SUPPORTED_DTYPES)}")
    nodata = params.get("nodata")
    if nodata is not None and (isinstance(nodata, bool) or not isinstance(nodata, numbers.Real)):
        raise InputError("nodata", f"must be a number, got {nodata!r}")
    if np.dtype(dtype).kind == "f":
        nodata = float("nan") if nodata is None else float(nodata)
        if np.isfinite(nodata) and np.dtype(dtype) == np.float32 and \
                float(np.float32(nodata)) != nodata:
            raise InputError("nodata", f"{nodata!r} is not representable in float32")
    else:
        info = np.iinfo(dtype)
        if nodata is None:
            raise InputError("nodata", f"is required for the integer output type {dtype} "
                             f"(a value in {info.min}..{info.max})")
        if nodata != nodata or nodata != int(nodata) or not info.min <= nodata <= info.max:
            raise InputError("nodata", f"must be a whole number in {info.min}..{info.max} "
                             f"for {dtype}, got {nodata!r}")
        nodata = float(nodata)
    return {"expression": expression, "program": program, "bands": bands, "dtype": dtype,
            "nodata": nodata}


def _outputs(profiles, params):
    return [profiles[0].replace(count=1, dtype=params["dtype"], nodata=params["nodata"],
                                descriptions=(params["expression"],))]


def _band_math(buffers, profiles, params):
    shape = buffers[0].shape[1:]
    invalid = np.zeros(shape, dtype=bool)
    bands = {}
    for raster, band in params["bands"]:
        values = buffers[raster][band]
        invalid |= invalid_pixels(values, profiles[raster].nodata)
        bands[(raster, band)] = values.astype(np.float64)
    result = np.broadcast_to(run_program(params["program"], bands), shape)
    invalid |= ~np.isfinite(result)
    dtype = np.dtype(params["dtype"])
    if dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            out = result.astype(dtype)
        invalid |= ~np.isfinite(out)
    else:
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            rounded = np.rint(result)
            invalid |= (rounded < info.min) | (rounded > info.max)
            out = np.where(invalid, 0.0, rounded).astype(dtype)
    out[invalid] = params["nodata"]
    return [out[None]]


band_math = Filter("band_math", _band_math, margin=0, outputs=_outputs, check=_check,
                   inputs=(1, 26), releases_gil=True, runs_in_caller=True)
"""One band computed from ``expression`` over 1 to 26 input rasters on the same grid."""

__all__ = ["band_math"]
