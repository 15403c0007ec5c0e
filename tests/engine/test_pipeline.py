"""Pipelines: a fused pass equals the steps run one by one on whole images, bit for bit."""

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tilewise.engine import InputError, Pipeline, Profile, filters
from tilewise.engine.store.segments import list_segments

from strategies import images


@pytest.fixture(autouse=True)
def _release_all(request):
    """Each test starts and ends with empty engines (the leak check runs around this)."""
    yield
    if "engines" in request.fixturenames:
        for eng in request.getfixturevalue("engines").values():
            eng.release(*list(eng._rasters.values()))


def _shared(eng, stack, profile):
    raster = eng.create(profile)
    raster.writable_array()[...] = stack
    return raster


def _catalogue_step(draw, p, name, last):
    """Add one step drawn from the catalogue, reading ``last``."""
    band = {"band": 1}
    kind = draw(st.sampled_from(["mean", "fill", "mask_fill", "gaussian", "median", "focal",
                                 "morphology", "sobel", "slope", "hillshade"]))
    if kind == "mean":
        p.add(name, filters.mean, last, size=draw(st.sampled_from([1, 3, 5, 7])), **band)
    elif kind == "fill":
        p.add(name, filters.fill_nodata, last, max_distance=draw(st.sampled_from([1, 3, 9])),
              smoothing_iterations=draw(st.integers(0, 2)))
    elif kind == "mask_fill":
        p.add(name + "m", filters.nodata_mask, last)
        p.add(name, filters.fill_nodata, [last, name + "m"],
              max_distance=draw(st.sampled_from([2, 6])))
        return [name + "m"] if draw(st.booleans()) else []
    elif kind == "gaussian":
        p.add(name, filters.gaussian, last, sigma=draw(st.sampled_from([0.5, 1.0, 2.5])), **band)
    elif kind == "median":
        p.add(name, filters.median, last, size=draw(st.sampled_from([3, 5])), **band)
    elif kind == "focal":
        p.add(name, filters.focal_statistics, last,
              statistic=draw(st.sampled_from(["min", "max", "range", "std", "majority"])),
              shape="circle", radius=draw(st.sampled_from([1, 2.5])), **band)
    elif kind == "morphology":
        p.add(name, filters.morphology, last,
              operation=draw(st.sampled_from(["erosion", "opening", "black_tophat"])),
              radius=draw(st.integers(1, 2)), shape=draw(st.sampled_from(["disk", "cross"])),
              **band)
    elif kind == "sobel":
        p.add(name, filters.sobel, last, **band)
    elif kind == "slope":
        p.add(name, filters.slope, last)
    else:
        p.add(name, filters.hillshade, last, azimuth=draw(st.sampled_from([0.0, 315.0])))
    return []


@st.composite
def chains(draw):
    """A random chain over input "src", drawn from the catalogue, with kept outputs."""
    p = Pipeline(["src"])
    last, kept = "src", []
    for i in range(draw(st.integers(1, 4))):
        name = f"s{i}"
        kept += _catalogue_step(draw, p, name, last)
        if draw(st.booleans()):
            kept.append(name)
        last = name
    return p, sorted(set(kept) | {last})


@given(images(max_rows=120, max_cols=160), chains(), st.sampled_from([1, 2]))
@settings(max_examples=150)
def test_fused_chain_equals_step_by_step(engines, image, chain, workers):
    stack, profile, tile = image
    pipeline, keep = chain
    eng = engines[workers]
    eng.tile_size = tile
    src = _shared(eng, stack, profile)
    try:
        fused = eng.run(pipeline, {"src": src}, keep=keep, fuse=True)
        fused_arrays = {k: np.array(v.array) for k, v in fused.items()}
        eng.release(*fused.values())
        eng.tile_size = 0
        stepwise = engines[1].run(pipeline, {"src": _reshare(engines[1], src)}, keep=keep,
                                  fuse=False)
        for name in keep:
            np.testing.assert_array_equal(fused_arrays[name], stepwise[name].array,
                                          err_msg=f"output {name}")
        engines[1].release(*stepwise.values())
    finally:
        eng.release(src)
        for raster in list(engines[1]._rasters.values()):
            raster.release()


def _reshare(eng, raster):
    if raster.ref.segment.name in eng._rasters:
        return raster
    return _shared(eng, raster.array, raster.profile)


def _dsm(eng, rows=90, cols=110):
    rng = np.random.default_rng(7)
    data = rng.normal(500, 50, (1, rows, cols)).astype(np.float32)
    data[0, rng.random((rows, cols)) < 0.1] = -9999
    return _shared(eng, data, Profile(1, rows, cols, "float32", nodata=-9999))


def _seed():
    p = Pipeline(["dsm"])
    p.add("mask", filters.nodata_mask, "dsm")
    p.add("filled", filters.fill_nodata, ["dsm", "mask"], max_distance=20)
    p.add("smooth", filters.mean, "filled", size=3)
    return p


def test_a_dag_with_two_branches_and_kept_intermediates(engines):
    eng = engines[2]
    eng.tile_size = 16
    dsm = _dsm(eng)
    p = _seed()
    p.add("wide", filters.mean, "filled", size=9)
    fused = eng.run(p, {"dsm": dsm}, keep=["mask", "smooth", "wide"], fuse=True)
    steps = eng.run(p, {"dsm": dsm}, keep=["mask", "smooth", "wide"], fuse=False)
    for name in ("mask", "smooth", "wide"):
        np.testing.assert_array_equal(fused[name].array, steps[name].array)
    eng.release(dsm, *fused.values(), *steps.values())
    eng.tile_size = 0


def test_only_kept_outputs_are_left_in_shared_memory(engines):
    eng = engines[2]
    dsm = _dsm(eng)
    before = set(list_segments(os.getpid()))
    for fuse in (True, False):
        out = eng.run(_seed(), [dsm], keep="smooth", fuse=fuse)
        assert list(out) == ["smooth"]
        assert len(set(list_segments(os.getpid())) - before) == 1
        eng.release(*out.values())
    eng.release(dsm)


def test_a_margin_too_large_for_fusion_falls_back_to_step_by_step(engines):
    eng = engines[2]
    dsm = _dsm(eng, 40, 40)
    p = Pipeline(["dsm"]).add("filled", filters.fill_nodata, "dsm", max_distance=30)
    logs = []
    eng.log = logs.append
    try:
        auto = eng.run(p, [dsm])  # not worth fusing: one step at a time, still right
        forced = eng.run(p, [dsm], fuse=True)
    finally:
        eng.log = None
    assert [line.split(":")[0] for line in logs] == ["fill_nodata", "fused(filled)"]
    np.testing.assert_array_equal(auto["filled"].array, forced["filled"].array)


def test_a_step_that_is_not_fusable_is_never_fused(engines):
    from dataclasses import replace
    eng = engines[1]
    dsm = _dsm(eng, 40, 40)
    p = Pipeline(["dsm"]).add("m", replace(filters.mean, fusable=False), "dsm", size=3)
    with pytest.raises(InputError) as err:
        eng.run(p, [dsm], fuse=True)
    assert err.value.param == "fuse" and "'m'" in str(err.value)
    np.testing.assert_array_equal(eng.run(p, [dsm])["m"].array,
                                  eng.apply(filters.mean, dsm, size=3).array)
    for raster in list(eng._rasters.values()):
        raster.release()


@pytest.mark.parametrize("build, param, text", [
    (lambda p: p.add("x", filters.mean, "nope"), "x", "unknown input 'nope'"),
    (lambda p: p.add("x", filters.mean, "dsm", size=4), "size", "step 'x': must be odd"),
    (lambda p: p.add("x", filters.mean, "dsm").add("x", filters.mean, "dsm"), "x",
     "already used"),
    (lambda p: p.add("x", filters.mean, "dsm").add("y", filters.mean, "dsm"), "x",
     "never used"),
    (lambda p: p, "steps", "no step"),
])
def test_a_bad_pipeline_is_rejected_before_any_work(engines, build, param, text):
    eng = engines[1]
    dsm = _dsm(eng)
    before = list_segments(os.getpid())
    with pytest.raises(InputError) as err:
        eng.run(build(Pipeline(["dsm"])), [dsm])
    assert err.value.param == param and text in str(err.value)
    assert list_segments(os.getpid()) == before
    eng.release(dsm)


def test_keep_must_name_an_output(engines):
    eng = engines[1]
    dsm = _dsm(eng)
    with pytest.raises(InputError, match="not an output"):
        eng.run(_seed(), [dsm], keep=["dsm"])
    eng.release(dsm)
