"""WKB decoding: the numpy path for single-ring polygons equals the general reader."""

import struct

import numpy as np
import pytest

from tilewise.engine.vector import geometry
from tilewise.engine.vector.geometry import from_wkb


def _polygon(ring, order="<"):
    b = 1 if order == "<" else 0
    out = struct.pack(order + "BII", b, 3, 1) + struct.pack(order + "I", len(ring))
    return out + np.asarray(ring, order.replace("<", "<") + "f8").astype(order + "f8").tobytes()


def _multi(rings):
    return struct.pack("<BII", 1, 6, len(rings)) + b"".join(_polygon(r) for r in rings)


def _ring(rng, n):
    ring = rng.uniform(-1e6, 1e6, (n, 2))
    return np.vstack([ring, ring[:1]])


def _slow(wkbs, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(geometry, "_single_rings", lambda w: None)
        return from_wkb(wkbs)


@pytest.mark.parametrize("kind", ["polygons", "multipolygons of one", "mixed", "big-endian",
                                  "two parts", "a null", "empty ring"])
def test_the_fast_path_equals_the_general_reader(kind, monkeypatch):
    rng = np.random.default_rng(len(kind))
    rings = [_ring(rng, int(rng.integers(3, 40))) for _ in range(50)]
    wkbs = [_polygon(r) for r in rings]
    if kind == "multipolygons of one":
        wkbs = [_multi([r]) for r in rings]
    elif kind == "mixed":
        wkbs = [_multi([r]) if i % 3 else _polygon(r) for i, r in enumerate(rings)]
    elif kind == "big-endian":
        wkbs[7] = _polygon(rings[7], ">")
    elif kind == "two parts":
        wkbs[4] = _multi(rings[4:6])
    elif kind == "a null":
        wkbs[9] = None
    elif kind == "empty ring":
        wkbs[11] = struct.pack("<BIII", 1, 3, 1, 0)
    fast, slow = from_wkb(wkbs), _slow(wkbs, monkeypatch)
    for name in ("xy", "offsets", "feature"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert fast.count == slow.count == 50
    if kind in ("polygons", "multipolygons of one", "mixed", "empty ring"):
        assert geometry._single_rings(wkbs) is not None  # these take the numpy path
