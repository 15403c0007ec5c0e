"""Binding a pipeline step to the engine: its algorithm (a Tilewise algorithm that is one engine
filter), the algorithm's own checks, its ``engineStep``, and the engine's ``check_step`` on the
inputs' profiles, which gives the profiles of the step's outputs.
"""

import json

from ..engine import InputError, check_step
from .base import TilewiseAlgorithm
from .pipeline_document import tr

#: what stands for an earlier step's output in QGIS-level checks (never a loadable layer)
STEP_SENTINEL = "tilewise-pipeline-step:{}"


def step_algorithm(algorithm_id, registry):
    """(algorithm or None, problems) for a step's ``algorithm`` id."""
    if not isinstance(algorithm_id, str) or not algorithm_id:
        return None, [tr("'algorithm' must be a Tilewise algorithm id, got {}").format(
            json.dumps(algorithm_id))]
    full_id = algorithm_id if ":" in algorithm_id else "tilewise:" + algorithm_id
    alg = registry.createAlgorithmById(full_id)
    if alg is None:
        return None, [tr("unknown algorithm '{}' (Tilewise algorithms: {})").format(
            algorithm_id, ", ".join(_chainable_ids(registry)))]
    if not _chainable(alg):
        return None, [tr("'{}' cannot be a pipeline step (only Tilewise algorithms that run "
                         "one engine filter can: {})").format(
            algorithm_id, ", ".join(_chainable_ids(registry)))]
    return alg, []


def _chainable(alg):
    """True for a Tilewise algorithm that is one engine call (its ``engineStep``): its run is
    the base's, or it says that its own run computes the same (``CHAINABLE``)."""
    return (isinstance(alg, TilewiseAlgorithm)
            and type(alg).engineStep is not TilewiseAlgorithm.engineStep
            and (type(alg).runEngine is TilewiseAlgorithm.runEngine
                 or getattr(alg, "CHAINABLE", False)))


def _chainable_ids(registry):
    provider = registry.providerById("tilewise")
    if provider is None:
        return []
    return sorted(a.id() for a in provider.algorithms() if _chainable(a))


def checked_engine_step(alg, qgis_parameters, refs, rasters, out, context):
    """(engine step or None, problems): the algorithm's own checks, then its ``engineStep``.
    For the checks, a reference stands as its input file, or STEP_SENTINEL for a step."""
    problems = []
    check_parameters = dict(qgis_parameters)
    for key in {k for k, _ in refs}:
        stand_ins = [out.input_paths.get(r) if r in out.input_names
                     else STEP_SENTINEL.format(r) for k, r in refs if k == key]
        check_parameters[key] = stand_ins if rasters[key] else stand_ins[0]
    try:
        for key, problem in alg.parameterErrors(check_parameters, context):
            problems.append(tr("parameter '{}': bad value: {}").format(key, problem))
    except Exception as error:  # noqa: BLE001 - a check that needs real layers
        problems.append(tr("cannot be checked: {}").format(error))
    if problems:
        return None, problems
    try:
        return alg.engineStep(qgis_parameters, context), []
    except NotImplementedError:
        return None, [tr("{} cannot be a pipeline step").format(alg.id())]
    except Exception as error:  # noqa: BLE001
        return None, [tr("bad parameters: {}").format(error)]


def add_step(out, chain, alg, name, engine_step, refs):
    """Add the step to ``chain.pipeline``, its inputs bound to ``refs``; problems found by the
    engine's checks when the inputs' profiles are known."""
    filter_, raster_names, engine_params = engine_step
    bound = {}
    for key, ref in refs:
        bound.setdefault(key, []).append(ref)
    missing = [n for n in raster_names if n not in bound]
    if missing:
        return [tr("{} reads raster parameter '{}', which is not set").format(
            alg.id(), missing[0])]
    inputs = [ref for n in raster_names for ref in bound[n]]
    raster_names = [n for n in raster_names for _ in bound[n]]
    chain.pipeline.add(name, filter_, inputs, **engine_params)
    in_profiles = [out.profiles.get(n) for n in inputs]
    if any(p is None for p in in_profiles):
        return []
    return _engine_check(alg, filter_, raster_names, inputs, in_profiles, engine_params, name,
                         out.profiles)


def _engine_check(alg, filter_, raster_names, inputs, in_profiles, params, name, profiles):
    """The filter's own checks on the real profiles; records the step's output profiles."""
    try:
        _, out_profiles = check_step(filter_, in_profiles, params,
                                     labels=[f"{p}={r}" for p, r in zip(raster_names, inputs)])
    except InputError as error:
        if error.param == "inputs":
            return [tr("{}: {}").format(alg.id(), error.message)]
        return [tr("parameter '{}': bad value: {}").format(
            alg.engineParameterName(error.param), error.message)]
    if len(out_profiles) == 1:
        profiles[name] = out_profiles[0]
    else:
        for i, profile in enumerate(out_profiles):
            profiles[f"{name}:{i}"] = profile
    return []
