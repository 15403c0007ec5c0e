"""Sorted statistics of a polygon too large to hold (engine.vector.selection): equal to sorting
every value at once, for any limit, data type, ties and signed zeros."""

import numpy as np
import pytest

from tilewise.engine.vector.selection import Pieces, key_value, needed_ranks, order_key
from tilewise.engine.vector.zonal_values import Passes, _sorted_visitor, percentile_name

STATS = {"median", "minority", "majority", "variety"}
QS = (0, 2.5, 50, 90, 100)


def _whole(values):
    out = {k: np.full(1, np.nan) for k in STATS | {percentile_name(q) for q in QS}}
    _sorted_visitor(STATS, QS, out)(0, values)
    return out


class _Values(Passes):
    """A feature's values handed over chunk by chunk, as zonal's Passes does; counts passes."""

    def __init__(self, values, size):
        self.values, self.size, self.calls = values, size, 0
        self.count, self.dtype = len(values), values.dtype

    def __call__(self):
        self.calls += 1
        for i in range(0, len(self.values), self.size):
            yield self.values[i:i + self.size]


def _pieces(values, limit, chunk=97):
    out = {k: np.full(1, np.nan) for k in STATS | {percentile_name(q) for q in QS}}
    passes = _Values(values, chunk)
    _sorted_visitor(STATS, QS, out, limit)(0, passes)
    return out, passes.calls


CASES = {
    "float32 ties": lambda rng: rng.integers(0, 40, 5000).astype(np.float32) / 4,
    "float64 spread": lambda rng: rng.standard_normal(3000) * 1e6,
    "signed zeros": lambda rng: np.where(rng.random(2000) < 0.5, -0.0, 0.0) +
    np.where(rng.random(2000) < 0.1, 1.5, 0.0),
    "constant": lambda rng: np.full(4000, 7.25, np.float32),
    "int16": lambda rng: rng.integers(-300, 300, 4000).astype(np.int16),
    "uint8 one huge value": lambda rng: np.where(rng.random(5000) < 0.9, 200,
                                                 rng.integers(0, 256, 5000)).astype(np.uint8),
    "int64 extremes": lambda rng: np.r_[rng.integers(-2**62, 2**62, 1000),
                                        [-2**63, 2**63 - 1] * 3].astype(np.int64),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("limit", [5, 64, 1000])
def test_pieces_equal_sorting_everything(case, limit):
    values = CASES[case](np.random.default_rng(len(case)))
    values = values[np.random.default_rng(1).permutation(len(values))]
    whole = _whole(values)
    pieces, calls = _pieces(values, limit)
    for key in whole:
        assert np.array_equal(whole[key], pieces[key]), (key, whole[key], pieces[key])
    assert calls >= 2  # it did read pass after pass, never everything at once


def test_keys_keep_the_order_and_come_back():
    rng = np.random.default_rng(3)
    for values in (rng.standard_normal(500).astype(np.float32),
                   rng.integers(-1000, 1000, 500).astype(np.int32),
                   rng.integers(0, 2**64 - 1, 500, dtype=np.uint64),
                   np.array([-np.inf, -1.0, -0.0, 0.0, 1e-300, np.inf])):
        keys = order_key(values)
        order = np.argsort(keys, kind="stable")
        assert np.all(np.diff(values[order].astype(np.float64)) >= 0) or \
            values.dtype.kind == "u" and np.all(np.diff(values[order]) >= 0)
        for v, k in zip(values, keys):
            assert key_value(k, values.dtype) == v


def test_needed_ranks():
    assert needed_ranks(10, {"median"}, ()) == {4, 5}
    assert needed_ranks(11, {"median"}, (100, 0)) == {5, 10, 0, 1}
