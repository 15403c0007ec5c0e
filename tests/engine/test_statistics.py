"""Statistics: equal to numpy on the whole image, sound merges on ill-conditioned data,
and the same answers whatever the workers and tile sizes."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from strategies import band_pairs
from tilewise.engine import InputError, Profile, band_statistics, reducers, statistics
from tilewise.engine.ops.statistics import chan_merge

QS = (0, 1, 2.5, 25, 50, 75, 97.3, 99, 100)


def _stats(eng, data, profile, tile=0, **params):
    eng.tile_size = tile
    raster = eng.create(profile)
    raster.writable_array()[...] = data
    try:
        return band_statistics(eng, raster, **params)
    finally:
        raster.release()


def _valid(band, nodata):
    invalid = np.isnan(band) if band.dtype.kind == "f" else np.zeros(band.shape, bool)
    if nodata is not None and not np.isnan(nodata):
        invalid |= band == nodata
    return band[~invalid]


def _exact_mean_std(values):
    """Mean and population std from correctly rounded sums (a reference, not numpy's)."""
    values = values.astype(np.float64)
    n = values.size
    mean = math.fsum(values) / n
    d = values - mean
    return mean + math.fsum(d) / n, math.sqrt(math.fsum(d * d) / n - (math.fsum(d) / n) ** 2)


def _check_against_numpy(result, band, nodata, bins=256, range_=None):
    values = _valid(band, nodata)
    assert result["count"] == values.size
    assert result["nodata_count"] == band.size - values.size
    if values.size == 0:
        assert result["min"] is None and result["mean"] is None and result["std"] is None
        assert all(v is None for v in result["percentiles"].values())
        return
    as64 = values.astype(np.float64)
    assert result["min"] == values.min() and result["max"] == values.max()
    assert type(result["min"]) is (float if band.dtype.kind == "f" else int)
    mean, std = _exact_mean_std(values)
    assert result["sum"] == pytest.approx(math.fsum(as64), rel=1e-12, abs=1e-300)
    assert result["mean"] == pytest.approx(mean, rel=1e-12, abs=1e-300)
    assert result["std"] == pytest.approx(std, rel=1e-9, abs=1e-15 * abs(mean))
    assert result["std"] == pytest.approx(as64.std(), rel=1e-6, abs=1e-12 * abs(mean))
    assert result["variance"] == pytest.approx(result["std"] ** 2, rel=1e-12)
    lo, hi = range_ or (as64.min(), as64.max())
    counts, edges = np.histogram(as64, bins, range=(lo, hi))
    hist = result["histogram"]
    assert hist["counts"] == counts.tolist() and hist["edges"] == edges.tolist()
    assert hist["range"] == [lo, hi] and hist["bins"] == bins
    assert hist["below"] == int((as64 < lo).sum()) and hist["above"] == int((as64 > hi).sum())
    expected = np.percentile(as64, list(QS))
    got = [result["percentiles"][format(q, "g")] for q in QS]
    np.testing.assert_array_equal(got, expected)   # exact, not approximate


def test_equal_to_numpy_on_the_whole_image(auto_engines):
    rng = np.random.default_rng(5)
    shape = (3, 90, 130)
    cases = [
        (rng.integers(0, 256, shape).astype("uint8"), 0),
        (rng.integers(-3000, 3000, shape).astype("int16"), -3000),
        (rng.normal(100, 30, shape).astype("float32"), None),
        (rng.lognormal(0, 3, shape), -9999.0),
    ]
    for data, nodata in cases:
        if data.dtype.kind == "f":
            data[rng.random(shape) < 0.1] = np.nan if nodata is None else nodata
        data[2] = data[2, 0, 0] if nodata is None else nodata   # band 3: no valid pixel
        profile = Profile(count=3, height=90, width=130, dtype=data.dtype.name, nodata=nodata)
        for workers, tile in ((1, 0), (2, 17), (3, 41)):
            results = _stats(auto_engines[workers], data, profile, tile, percentiles=QS)
            assert [r["band"] for r in results] == [1, 2, 3]
            for result, band in zip(results, data):
                _check_against_numpy(result, band, nodata)
            json.dumps(results, allow_nan=False)


def test_ill_conditioned_values_keep_their_variance(auto_engines):
    """1e9 + noise of 1e-3: a naive sum of squares loses every digit; Chan's merge does not."""
    rng = np.random.default_rng(6)
    data = 1e9 + rng.normal(0, 1e-3, (1, 300, 400))
    profile = Profile(count=1, height=300, width=400, dtype="float64", nodata=None)
    values = data.ravel()
    mean, std = _exact_mean_std(values)
    naive = math.sqrt(abs(float(np.sum(values * values)) / values.size - values.mean() ** 2))
    assert abs(naive - std) / std > 100          # the naive formula is garbage here
    stds = set()
    for workers, tile in ((1, 0), (1, 7), (2, 33), (3, 64), (3, 301)):
        result = _stats(auto_engines[workers], data, profile, tile, percentiles=(50,))[0]
        assert result["std"] == pytest.approx(std, rel=1e-9)
        assert result["mean"] == pytest.approx(mean, rel=1e-15)
        assert result["percentiles"]["50"] == np.percentile(values, 50)
        stds.add(result["std"])
    assert max(stds) - min(stds) <= 1e-9 * std


def test_chan_merge_of_any_split_equals_the_whole():
    rng = np.random.default_rng(7)
    values = 1e6 + rng.normal(0, 0.01, 10001)
    mean, std = _exact_mean_std(values)
    for pieces in (2, 3, 10, 97):
        summary = (0, 0.0, 0.0)
        for chunk in np.array_split(values, pieces):
            d = chunk - chunk.mean()
            summary = chan_merge(summary, (chunk.size, float(chunk.mean()), float(np.sum(d * d))))
        n, (hi, lo), m2 = summary
        assert n == values.size
        assert hi + lo == pytest.approx(mean, rel=1e-15)
        assert math.sqrt(m2 / n) == pytest.approx(std, rel=1e-7)


def rasters():
    return band_pairs(70, 90, means=(0.0, 300.0, 1e7), spread=50, few_values=True,
                      hole_fractions=(0.0, 0.3, 1.0), tile_slack=3)


@given(rasters(), st.sampled_from([1, 2, 3]), st.sampled_from([1, 7, 65536]),
       st.sampled_from([1, 10, 256]))
@settings(max_examples=40)
def test_same_answers_whatever_the_tiling(auto_engines, raster, workers, sample_limit, bins):
    data, profile, tile = raster
    got = _stats(auto_engines[workers], data, profile, tile, percentiles=QS, bins=bins,
                 sample_limit=sample_limit)
    whole = _stats(auto_engines[1], data, profile, 0, percentiles=QS, bins=bins)
    for g, w, band in zip(got, whole, data):
        _check_against_numpy(g, band, profile.nodata, bins=bins)
        for key in ("count", "nodata_count", "min", "max", "histogram", "percentiles"):
            assert g[key] == w[key], key                  # identical
        for key in ("sum", "mean"):
            assert g[key] == pytest.approx(w[key], rel=1e-12, abs=1e-300), key
        if g["std"] is not None:
            assert g["std"] == pytest.approx(w["std"], rel=1e-9, abs=1e-15 * abs(w["mean"]))


def test_infinities_are_values(auto_engines):
    data = np.array([[[-np.inf, 1.0, 2.0, np.nan, 3.0, np.inf, 4.0, 5.0]]])
    profile = Profile(count=1, height=1, width=8, dtype="float64", nodata=None)
    result = _stats(auto_engines[1], data, profile, 3, percentiles=(0, 10, 50, 90, 100))[0]
    values = data[~np.isnan(data)]
    with np.errstate(invalid="ignore"):
        expected = np.percentile(values, [0, 10, 50, 90, 100])
    np.testing.assert_array_equal(list(result["percentiles"].values()), expected)
    assert result["count"] == 7 and result["nodata_count"] == 1
    assert result["min"] == -np.inf and result["max"] == np.inf
    assert result["histogram"]["range"] == [1.0, 5.0]        # the finite values
    assert result["histogram"]["below"] == 1 and result["histogram"]["above"] == 1


def test_histogram_range_and_band_selection(auto_engines):
    rng = np.random.default_rng(8)
    data = rng.normal(0, 1, (2, 40, 50))
    profile = Profile(count=2, height=40, width=50, dtype="float64", nodata=None)
    results = _stats(auto_engines[2], data, profile, 9, band=2, bins=20, range=(-1, 1),
                     percentiles=QS)
    assert len(results) == 1 and results[0]["band"] == 2
    _check_against_numpy(results[0], data[1], None, bins=20, range_=(-1.0, 1.0))
    results = _stats(auto_engines[1], data, profile, 0, percentiles=(), range=[(0, 1), (-2, 2)])
    assert results[0]["percentiles"] == {} and results[1]["histogram"]["range"] == [-2.0, 2.0]


def test_reducers_run_directly(auto_engines):
    eng = auto_engines[2]
    eng.tile_size = 11
    data = np.arange(2 * 30 * 40, dtype="float32").reshape(2, 30, 40)
    profile = Profile(count=2, height=30, width=40, dtype="float32", nodata=0)
    raster = eng.create(profile)
    raster.writable_array()[...] = data
    try:
        moments = eng.reduce(statistics.moments, raster)
        assert [m["count"] for m in moments] == eng.reduce(reducers.count, raster)
        assert [(m["min"], m["max"]) for m in moments] == eng.reduce(reducers.minmax, raster)
        assert "_finite" not in moments[0] and moments[0]["std"] == pytest.approx(
            data[0].ravel()[1:].std())
        hist = eng.reduce(statistics.histogram, raster, bins=4, range=(0, 2400))
        assert hist[0]["counts"] == np.histogram(data[0].ravel()[1:], 4, (0, 2400))[0].tolist()
        with pytest.raises(InputError) as err:
            eng.reduce(statistics.histogram, raster, bins=4)
        assert err.value.param == "range"
        for bad, param in (({"bins": 0}, "bins"), ({"range": (2, 1)}, "range"),
                           ({"percentiles": (101,)}, "percentiles"), ({"band": 3}, "band")):
            with pytest.raises(InputError) as err:
                band_statistics(eng, raster, **bad)
            assert err.value.param == param
    finally:
        raster.release()


def test_bin_index_equals_searchsorted():
    from tilewise.engine.ops.statistics import bin_index, select_edges
    rng = np.random.default_rng(11)
    for lo, hi in [(0.0, 1.0), (-5e9, 7e9), (1e9, 1e9 + 1e-3), (-1e300, 1e300), (3.0, 3.0 + 2**-40)]:
        edges = select_edges(lo, hi, 4096)
        values = np.concatenate([lo + (hi - lo) * rng.random(5000) if np.isfinite(hi - lo)
                                 else rng.uniform(lo / 2, hi / 2, 5000) * 2, edges[:-1]])
        values = values[(values >= lo) & (values < hi)]
        np.testing.assert_array_equal(bin_index(values, edges),
                                      np.searchsorted(edges, values, side="right") - 1)
