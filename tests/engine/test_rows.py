"""engine.Rows: a raster's bands a strip of rows at a time, from an array (views) or a file."""

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tilewise.engine import InputError, Rows


def test_rows_of_an_array_are_views_and_of_a_file_equal_the_file(tmp_path):
    rng = np.random.default_rng(1)
    array = rng.random((3, 40, 30)).astype(np.float32)
    path = str(tmp_path / "r.tif")
    with rasterio.open(path, "w", driver="GTiff", width=30, height=40, count=3,
                       dtype="float32", transform=from_origin(0, 40, 1, 1)) as ds:
        ds.write(array)
    held = Rows(array, bands=[2, 3])
    assert held.in_memory and held.shape == (2, 40, 30)
    assert np.shares_memory(held.read(5, 9), array)
    assert np.shares_memory(Rows(array, bands=[2]).source, array)
    assert not np.shares_memory(Rows(array, bands=[3, 1]).source, array)  # reordered: copied
    read = Rows(path, bands=[3, 1])
    assert not read.in_memory and read.shape == (2, 40, 30) and read.dtype == np.float32
    np.testing.assert_array_equal(read.read(7, 19), array[[2, 0], 7:19])
    assert read.row_bytes == 2 * 30 * 4
    assert [r.shape for r in read.split()] == [(1, 40, 30), (1, 40, 30)]
    np.testing.assert_array_equal(read.split()[1].read(0, 40)[0], array[0])
    assert Rows(array[0]).squeeze and not Rows(path).squeeze
    for bad in ([0], [4]):
        with pytest.raises(InputError, match="band"):
            Rows(path, bands=bad)
        with pytest.raises(InputError, match="band"):
            Rows(array, bands=bad)
