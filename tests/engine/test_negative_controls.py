"""Negative controls: the invariance checks catch a margin that is too small.

The tiling guarantee rests on each filter's margin. Here every filter with a margin runs
with that margin one pixel short, on an image with structure at every scale, tiled finely:
its output must then differ from the whole-image run, or the invariance tests
(test_catalogue_invariance, test_engine_invariance, test_streaming) could not see a
shrunken margin either.
"""

import dataclasses

import numpy as np
import pytest

from strategies import whole_image
from tilewise.engine import Engine, Profile, filters

CASES = [
    (filters.mean, {"size": 5}), (filters.gaussian, {"sigma": 1.5}),
    (filters.median, {"size": 5}),
    (filters.focal_statistics, {"statistic": "max", "size": 5}),
    (filters.focal_statistics, {"statistic": "std", "shape": "circle", "radius": 2}),
    (filters.morphology, {"operation": "opening", "shape": "disk", "radius": 2}),
    (filters.sobel, {"output": "magnitude"}), (filters.laplace, {}),
    (filters.gaussian_gradient_magnitude, {"sigma": 1.2}),
    (filters.slope, {}), (filters.hillshade, {}), (filters.tri, {}),
    (filters.fill_nodata, {"max_distance": 6, "band": 1}),
]


class _Short:
    """A margin one pixel short of ``filter``'s (kept picklable: a class, not a lambda)."""

    def __init__(self, filter_):
        self.filter = filter_

    def __call__(self, params):
        return max(0, self.filter.margin_for(params) - 1)


def _image(holes):
    """Noise (structure at every scale); with ``holes``, 12-pixel square holes to fill."""
    rng = np.random.default_rng(5)
    values = rng.normal(100.0, 30.0, (1, 96, 80)).astype("float32")
    if holes:
        for row, col in rng.integers(0, 84, (12, 2)):
            values[0, row:row + 12, col:col + 12] = -9999.0
    return values, Profile(count=1, height=96, width=80, dtype="float32", nodata=-9999.0,
                           crs_wkt=None, transform=(10.0, 0.0, 0.0, 0.0, -10.0, 960.0))


@pytest.mark.parametrize("filter_, params", CASES, ids=lambda c: getattr(c, "name", ""))
def test_a_margin_one_pixel_short_is_caught(filter_, params):
    stack, profile = _image(holes=filter_ is filters.fill_nodata)
    whole, _ = whole_image(filter_, stack, profile, params)
    shrunk = dataclasses.replace(filter_, margin=_Short(filter_))
    with Engine(workers=1, tile_size=12) as eng:
        raster = eng.create(profile)
        raster.writable_array()[...] = stack
        right = np.array(eng.apply(filter_, raster, **params).array)
        wrong = np.array(eng.apply(shrunk, raster, **params).array)
    whole = whole.astype(right.dtype)
    assert right.tobytes() == whole.tobytes()  # the real margin: invariant
    assert wrong.tobytes() != whole.tobytes(), f"{filter_.name}: a shorter margin went unseen"
