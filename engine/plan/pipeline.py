"""Pipelines: filters chained by name, run as one fused pass over the tiles.

A fused pass reads each tile once, with the margin the whole chain needs, pushes it
through every step inside the worker and writes only the outputs asked for. Each step
computes just the window its consumers need (the tile's core grown by their summed
margins), so the result equals running the steps one by one on whole images, bit for
bit: a step's values are exact wherever its own margin fits inside what it was given.

Fusion is invalid when a step is not ``fusable`` (it depends on more than its margin).
It is valid but not worth it when the chain's summed margin exceeds a quarter of the
image's larger side: tiles would then cover most of the image, leaving nothing to run in
parallel. In both cases ``Engine.run`` (by default) runs the steps one by one, with
intermediates in shared memory.
"""

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import InputError
from ..core.filter import Filter
from ..core.profile import check_same_grid
from ..tiling.windows import crop, grow
from .checks import check_step

FUSE_MARGIN_LIMIT = 0.25  # of the image's larger side


@dataclass(frozen=True)
class Step:
    """One filter of a pipeline; ``inputs`` name pipeline inputs or earlier outputs."""

    name: str
    filter: Filter
    inputs: tuple
    params: dict = field(default_factory=dict)

    def output_names(self, count):
        """``name`` for a single output; ``name:0``, ``name:1``... for several."""
        return [self.name] if count == 1 else [f"{self.name}:{i}" for i in range(count)]


class Pipeline:
    """A chain (or DAG) of filters over named inputs.

    >>> p = Pipeline(["dsm"])
    >>> p.add("mask", filters.nodata_mask, "dsm")
    >>> p.add("filled", filters.fill_nodata, ["dsm", "mask"], max_distance=100)
    >>> p.add("smooth", filters.mean, "filled", size=3)
    >>> results = engine.run(p, {"dsm": dsm}, keep=["mask", "smooth"])
    """

    def __init__(self, inputs):
        self.inputs = tuple([inputs] if isinstance(inputs, str) else inputs)
        self.steps = []

    def add(self, name, filter, inputs, **params):
        """Append a step.

        Parameters
        ----------
        name : str
            The step's output name (``name:i`` for the i-th of several outputs).
        filter : Filter
        inputs : str or sequence of str
            Pipeline inputs or earlier steps' outputs, in the filter's input order.
        **params
            The filter's keyword parameters (checked by ``plan``).

        Returns
        -------
        Pipeline
            This pipeline, so that calls chain.
        """
        inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        self.steps.append(Step(name, filter, inputs, params))
        return self


@dataclass(frozen=True)
class _PlannedStep:
    name: str
    filter: Filter
    inputs: tuple       # names
    params: dict        # checked
    given: dict         # as given (what Engine.apply takes when the steps run one by one)
    outputs: tuple      # names
    profiles: tuple     # Profile of each output (whole image)
    margin: int         # the filter's own reach
    reach: int          # how far around the core its outputs must be exact


@dataclass(frozen=True)
class Plan:
    """A validated pipeline: picklable, sent to the workers of a fused pass."""

    inputs: tuple       # names, in the order of the rasters given
    input_profiles: tuple
    steps: tuple        # _PlannedStep
    keep: tuple         # names of the outputs to produce
    margin: int         # the input tiles' margin: the largest reach + margin of any step
    height: int
    width: int

    def profile_of(self, name):
        if name in self.inputs:
            return self.input_profiles[self.inputs.index(name)]
        for step in self.steps:
            if name in step.outputs:
                return step.profiles[step.outputs.index(name)]
        raise KeyError(name)

    @property
    def fusable(self):
        """Can one pass give the same result? (every step depends only on its margin)"""
        return all(s.filter.fusable for s in self.steps)

    @property
    def worth_fusing(self):
        """Is one pass likely faster? Not when tiles would cover most of the image."""
        return self.fusable and self.margin <= FUSE_MARGIN_LIMIT * max(self.height, self.width)


def plan(pipeline, profiles, keep=None):
    """Check every step of ``pipeline`` and work out how far each must reach.

    Parameters
    ----------
    pipeline : Pipeline
    profiles : sequence of Profile
        The pipeline inputs' profiles, in its input order, on one grid.
    keep : str or sequence of str, optional
        The outputs wanted (any step's); default the last step's.

    Returns
    -------
    Plan
        The checked steps with their margins and reaches, the total margin, and whether
        fusing is valid (``fusable``) and worth it (``worth_fusing``).

    Raises
    ------
    InputError
        Naming the step: an unknown input, a name used twice, a step whose output is
        never used, or the step's own check (``check_step``).
    """
    names = dict(zip(pipeline.inputs, profiles))
    if len(profiles) != len(pipeline.inputs):
        raise InputError("inputs", f"the pipeline takes {len(pipeline.inputs)} inputs "
                         f"({', '.join(pipeline.inputs)}), got {len(profiles)}")
    check_same_grid(profiles, labels=pipeline.inputs)  # one grid: the fused pass crops by it
    checked = []
    for step in pipeline.steps:
        where = f"step {step.name!r}"
        if not isinstance(step.filter, Filter):
            raise InputError(step.name, f"{where}: expected a Filter, got {step.filter!r}")
        missing = [n for n in step.inputs if n not in names]
        if missing:
            raise InputError(step.name, f"{where}: unknown input {missing[0]!r} (known: "
                             f"{', '.join(names)})")
        in_profiles = [names[n] for n in step.inputs]
        try:
            params, out_profiles = check_step(step.filter, in_profiles, step.params,
                                              labels=step.inputs)
        except InputError as exc:
            raise InputError(step.name if exc.param == "inputs" else exc.param,
                             f"{where}: {exc.message}") from None
        outputs = tuple(step.output_names(len(out_profiles)))
        for n in outputs:
            if n in names:
                raise InputError(step.name, f"{where}: the name {n!r} is already used")
        names.update(zip(outputs, out_profiles))
        checked.append((step, params, outputs, out_profiles, step.filter.margin_for(params)))
    if not checked:
        raise InputError("steps", "the pipeline has no step")
    keep = tuple(checked[-1][2] if keep is None else ([keep] if isinstance(keep, str) else keep))
    for n in keep:
        if n not in names or n in pipeline.inputs:
            raise InputError("keep", f"{n!r} is not an output of any step")
    # reach: how far around the core each output must be exact, from the last step back
    need = {n: 0 for n in keep}
    steps = []
    for step, params, outputs, out_profiles, margin in reversed(checked):
        if not any(n in need for n in outputs):
            raise InputError(step.name, f"step {step.name!r}: its output is never used "
                             "(neither kept nor an input of a later step)")
        reach = max(need.get(n, 0) for n in outputs)
        for n in step.inputs:
            need[n] = max(need.get(n, 0), reach + margin)
        steps.append(_PlannedStep(step.name, step.filter, step.inputs, params,
                                  dict(step.params), outputs, out_profiles, margin, reach))
    steps.reverse()
    first = profiles[0]
    return Plan(tuple(pipeline.inputs), tuple(profiles), tuple(steps), keep,
                max(need.get(n, 0) for n in pipeline.inputs), first.height, first.width)


def _fused(buffers, profiles, params, tile):
    """Run every step of ``params["plan"]`` on one tile; return the kept outputs' cores."""
    p = params["plan"]
    tile = tile.absolute()  # a strip's tile counts rows from the strip: windows need the image's
    read = tile.read
    have = {name: (buffer, read) for name, buffer in zip(p.inputs, buffers)}
    for step in p.steps:
        out_window = grow(tile.core, step.reach, p.height, p.width)
        in_window = grow(tile.core, step.reach + step.margin, p.height, p.width)
        ins = [crop(have[n][0], have[n][1], in_window) for n in step.inputs]
        shape = (in_window[1] - in_window[0], in_window[3] - in_window[2])
        tile_profiles = [p.profile_of(n).window(in_window[0], in_window[2], *shape)
                         for n in step.inputs]
        results = step.filter.func(ins, tile_profiles, step.params)
        if isinstance(results, np.ndarray):
            results = [results]
        for name, profile, result in zip(step.outputs, step.profiles, results):
            result = np.asarray(result)
            if result.ndim == 2:
                result = result[None]
            if result.shape != (profile.count,) + shape:
                raise ValueError(f"step {step.name!r} ({step.filter.name}) returned shape "
                                 f"{result.shape}, expected {(profile.count,) + shape}")
            # hold it as the declared type, exactly as a step-by-step run would store it
            if result.dtype != profile.dtype:
                if not np.can_cast(result.dtype, profile.dtype, "same_kind"):
                    raise TypeError(f"step {step.name!r} returned {result.dtype}, declared "
                                    f"{profile.dtype}")
                result = result.astype(profile.dtype)
            have[name] = (crop(result, in_window, out_window), out_window)
    return [crop(have[n][0], have[n][1], tile.core) for n in p.keep]


def pipeline_inputs(pipeline, inputs):
    """A Pipeline's inputs in its order, from a dict by input name or a list."""
    if not isinstance(pipeline, Pipeline):
        raise InputError("pipeline", f"expected a Pipeline, got {type(pipeline).__name__}")
    if not isinstance(inputs, dict):
        return inputs
    unknown = sorted(set(inputs) - set(pipeline.inputs))
    missing = [n for n in pipeline.inputs if n not in inputs]
    if unknown or missing:
        raise InputError("inputs", f"the pipeline's inputs are {list(pipeline.inputs)}; "
                         f"missing {missing}, unknown {unknown}")
    return [inputs[n] for n in pipeline.inputs]


def run_steps(engine, p, inputs):
    """Run plan ``p`` step by step on ``engine`` (``Engine.apply`` each step), intermediates
    in shared memory, each released after its last use; returns {kept name: SharedRaster}."""
    have = dict(zip(p.inputs, inputs))
    last_use = {n: i for i, step in enumerate(p.steps) for n in step.inputs}
    made = []
    try:
        for i, step in enumerate(p.steps):
            outputs = engine.apply(step.filter, [have[n] for n in step.inputs], **step.given)
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            made.extend(outputs)
            have.update(zip(step.outputs, outputs))
            for name in step.inputs:  # free intermediates nobody needs any more
                if name not in p.inputs and name not in p.keep and last_use[name] == i:
                    have[name].release()
    except BaseException:
        engine.release(*made)
        raise
    return {n: have[n] for n in p.keep}


def fused_filter(p):
    """The Filter that runs plan ``p`` in one pass."""
    return Filter("fused(" + ", ".join(s.name for s in p.steps) + ")", _fused, margin=p.margin,
                  outputs=_plan_outputs, inputs=(len(p.inputs), len(p.inputs)),
                  core_only=True, releases_gil=all(s.filter.releases_gil for s in p.steps),
                  runs_in_caller=all(s.filter.runs_in_caller for s in p.steps),
                  isolated=any(s.filter.isolated for s in p.steps),
                  preload=tuple(dict.fromkeys(m for s in p.steps for m in s.filter.preload)))


def _plan_outputs(profiles, params):
    return [params["plan"].profile_of(n) for n in params["plan"].keep]
