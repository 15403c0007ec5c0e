"""Filling nodata holes by inverse-distance interpolation (GDAL's FillNodata)."""

import math

import numpy as np

from ...core.filter import Filter
from ..params import check_band, check_int, check_known, check_number
from .nodata import invalid_pixels


# GDAL 3.6 passes every pixel through float32; only these types come back unchanged.
_EXACT_IN_FLOAT32 = ("uint8", "int8", "uint16", "int16", "float32")


def _check(profiles, params):
    check_known(params, ("band", "max_distance", "smoothing_iterations"))
    p = profiles[0]
    distance = check_number("max_distance", params.get("max_distance", 100), 0)
    return {
        "band": check_band(p, params.get("band", 1)),
        "max_distance": distance,
        "smoothing_iterations": check_int("smoothing_iterations",
                                          params.get("smoothing_iterations", 0), 0),
        # GDAL reads max_distance 0 as "unlimited" (the image's largest side + 1)
        "reach": math.ceil(distance) if distance > 0 else max(p.height, p.width) + 1,
    }


def _margin(params):
    # GDAL looks at most max_distance pixels away; each smoothing pass reaches one more.
    return params["reach"] + params["smoothing_iterations"]


def _outputs(profiles, params):
    p = profiles[0]
    return [p.replace(count=1, descriptions=(p.descriptions[params["band"] - 1],))]


def _fill_nodata(buffers, profiles, params):
    band = buffers[0][params["band"] - 1]
    if len(buffers) > 1:
        to_fill = buffers[1][0] != 0
    else:
        to_fill = invalid_pixels(band, profiles[0].nodata)
    if band.dtype.name in _EXACT_IN_FLOAT32 and (not to_fill.any() or to_fill.all()):
        return [band[None]]  # nothing to fill or nothing to fill from: GDAL changes nothing
    distance = params["max_distance"]
    if distance > 0:
        # no pixel of the tile is farther than its diagonal, and GDAL's time grows with the
        # distance (40 x 50 pixels: 92 s at 1e9, 2 ms at the diagonal), same result
        distance = min(distance, math.ceil(math.hypot(*band.shape)) + 1)
    filled = gdal_fill(np.array(band), np.ascontiguousarray((~to_fill).view(np.uint8)),
                       distance, params["smoothing_iterations"])
    return [filled[None]]


def gdal_fill(values, valid, max_distance, smoothing_iterations):
    """``values`` (rows, cols, C order) filled in place where ``valid`` (uint8) is 0, and
    returned: GDALFillNodata with the arguments ``rasterio.fill.fillnodata`` passes (same
    pixels), called through GDAL's own Python bindings, which release the GIL (rasterio's
    hold it), so that tiles fill in parallel on threads."""
    if values.dtype == np.int8:  # GDAL 3.6 has no signed byte type: as rasterio does it
        from rasterio.fill import fillnodata
        return fillnodata(values, mask=valid, max_search_distance=max_distance,
                          smoothing_iterations=smoothing_iterations)
    from osgeo import gdal, gdal_array  # here: workers that never fill never load GDAL
    target, mask = gdal_array.OpenArray(values), gdal_array.OpenArray(valid)
    if target is None or mask is None:
        raise RuntimeError(f"GDAL cannot wrap a {values.dtype} array for FillNodata")
    failed = gdal.FillNodata(target.GetRasterBand(1), mask.GetRasterBand(1),
                             float(max_distance), int(smoothing_iterations),
                             ["TEMP_FILE_DRIVER=MEM"])
    if failed:
        raise RuntimeError("GDAL's FillNodata failed: " + (gdal.GetLastErrorMsg() or "no reason"))
    target.FlushCache()  # a MEM dataset over the array: the pixels are already in place
    return values


def _temporaries(profiles):
    # measured: 15.4 bytes a pixel for float32 (the band copied, the masks, GDAL's three
    # work rasters: "last valid" rows, values, filter mask)
    return 2 * np.dtype(profiles[0].dtype).itemsize + 8


fill_nodata = Filter("fill_nodata", _fill_nodata, margin=_margin, outputs=_outputs, check=_check,
                     inputs=(1, 2), releases_gil=True, runs_in_caller=True,
                     preload=("osgeo.gdal",), flat_cost=True, temporaries=_temporaries)
"""Fill ``band``'s nodata (or the pixels where the optional 2nd input is nonzero) like
``rasterio.fill.fillnodata`` on the whole image, bit for bit. Unfilled pixels keep their value.
``max_distance`` 0 means unlimited (GDAL's rule): then the whole image is one tile. GDAL
computes in float32, so float64 and 32-bit integer data come back rounded to float32."""
