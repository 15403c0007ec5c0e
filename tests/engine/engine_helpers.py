"""Running one engine step on in-memory arrays, for the engine tests."""

import numpy as np


def shared_raster(eng, array, profile):
    """A new shared raster of ``eng`` holding ``array``."""
    raster = eng.create(profile)
    raster.writable_array()[...] = array
    return raster


def apply_copy(eng, filt, inputs, tile=None, **params):
    """``eng.apply(filt, ...)`` on ``inputs`` ([(array, profile), ...]) with tile side ``tile``
    (None: as it is); returns (a copy of the output array, its profile), every raster released."""
    if tile is not None:
        eng.tile_size = tile
    rasters = []
    try:
        for array, profile in inputs:
            rasters.append(shared_raster(eng, array, profile))
        out = eng.apply(filt, rasters, **params)
        try:
            return np.array(out.array), out.profile
        finally:
            out.release()
    finally:
        eng.release(*rasters)
