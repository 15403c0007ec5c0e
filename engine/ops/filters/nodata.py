"""Nodata masks."""

import numpy as np

from ...core.filter import Filter
from ..params import check_band, check_known


def invalid_pixels(values, nodata):
    """Boolean array: True where ``values`` equals ``nodata`` or is NaN."""
    if values.dtype.kind == "f":
        invalid = np.isnan(values)
        if nodata is not None and not np.isnan(nodata):
            invalid |= values == nodata
        return invalid
    if nodata is None or np.isnan(nodata):
        return np.zeros(values.shape, dtype=bool)
    return values == nodata


def _check(profiles, params):
    check_known(params, ("band",))
    return {"band": check_band(profiles[0], params.get("band", 1))}


def _outputs(profiles, params):
    return [profiles[0].replace(count=1, dtype="uint8", nodata=None, descriptions=("nodata mask",))]


def _nodata_mask(buffers, profiles, params):
    band = buffers[0][params["band"] - 1]
    return [invalid_pixels(band, profiles[0].nodata).view(np.uint8)[None]]


nodata_mask = Filter("nodata_mask", _nodata_mask, margin=0, outputs=_outputs, check=_check,
                     releases_gil=True, runs_in_caller=True)
"""uint8 mask of ``band``: 1 where it equals the raster's nodata value or is NaN, else 0."""
