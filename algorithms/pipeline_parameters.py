"""The parameters of a pipeline step: the document's JSON values made into the QGIS parameter
values of the step's algorithm (enum texts, numbers in range, booleans), raster parameters
turned into references to pipeline inputs or earlier steps, and the defaults of the others.
"""

import json

from qgis.core import (QgsProcessing,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer)

from .checks import is_optional
from .pipeline_document import PIPELINE_LEVEL, tr


def raster_parameters(alg):
    """{name: True for a multiple-layer parameter, False for a single raster}."""
    found = {}
    for d in alg.parameterDefinitions():
        if isinstance(d, QgsProcessingParameterRasterLayer):
            found[d.name()] = False
        elif isinstance(d, QgsProcessingParameterMultipleLayers) and \
                d.layerType() == QgsProcessing.TypeRaster:
            found[d.name()] = True
    return found


def step_parameters(alg, rasters, parameters, name, context):
    """(QGIS parameters, raster references as (parameter, name), problems): the values given,
    converted, then the defaults of the others."""
    qgis_parameters, refs, problems = {}, [], []
    for key, value in parameters.items():
        problem = _misplaced_parameter(alg, key, name)
        if problem is None and key in rasters:
            if value is None or value == "" or value == []:
                continue
            values = value if rasters[key] and isinstance(value, list) else [value]
            if all(isinstance(v, str) and v for v in values):
                qgis_parameters[key] = values if rasters[key] else value
                refs.extend((key, v) for v in values)
            else:
                problem = tr("parameter '{}' must name {}, got {}").format(
                    key, tr("pipeline inputs or earlier steps (a list)") if rasters[key]
                    else tr("a pipeline input or an earlier step"), json.dumps(value))
        elif problem is None:
            definition = alg.parameterDefinition(key)
            converted, problem = convert_value(definition, value)
            if problem is None and value is not None and not \
                    definition.checkValueIsAcceptable(converted, context):
                problem = tr("{} is not an acceptable value").format(json.dumps(value))
            if problem:
                problem = tr("parameter '{}': bad value: {}").format(key, problem)
            else:
                qgis_parameters[key] = converted
        if problem:
            problems.append(problem)
    defaults, missing = _default_parameters(alg, rasters, parameters)
    qgis_parameters.update(defaults)
    return qgis_parameters, refs, problems + missing


def _misplaced_parameter(alg, key, name):
    """Why a step may not set parameter ``key`` (None if it may)."""
    definition = alg.parameterDefinition(key) if isinstance(key, str) else None
    if key in PIPELINE_LEVEL:
        return tr("parameter '{}' is set once for the whole pipeline (the pipeline "
                  "algorithm's own {}), not per step").format(key, key)
    if definition is None:
        settable = [d.name() for d in alg.parameterDefinitions()
                    if d.name() not in PIPELINE_LEVEL and not d.isDestination()]
        return tr("unknown parameter '{}' for {} (its parameters: {})").format(
            key, alg.id(), ", ".join(settable))
    if definition.isDestination():
        return tr("parameter '{}' is an output: list the step in 'outputs' to write it as "
                  "{}.tif").format(key, name or "<name>")
    return None


def _default_parameters(alg, rasters, parameters):
    """(defaults of the parameters not given, problems for required ones without one)."""
    defaults, problems = {}, []
    for definition in alg.parameterDefinitions():
        key = definition.name()
        if key in parameters or key in PIPELINE_LEVEL or definition.isDestination():
            continue
        if key in rasters:
            if not is_optional(definition):
                problems.append(tr("parameter '{}' is required: name a pipeline input or an "
                                   "earlier step").format(key))
        elif definition.defaultValue() is not None:
            defaults[key] = definition.defaultValue()
        elif not is_optional(definition):
            problems.append(tr("parameter '{}' is required (it has no default)").format(key))
    return defaults, problems


def convert_value(definition, value):
    """(value, problem): JSON values made into what the QGIS parameter takes."""
    if isinstance(definition, QgsProcessingParameterEnum) and isinstance(value, str):
        uses_strings = getattr(definition, "usesStaticStrings", lambda: False)()
        if not uses_strings:
            options = [o.lower() for o in definition.options()]
            if value.strip().lower() in options:
                return options.index(value.strip().lower()), None
            if value.strip().isdigit():
                return int(value), None
            return value, tr("'{}' is not one of {}").format(
                value, ", ".join(definition.options()))
    if isinstance(definition, (QgsProcessingParameterNumber, QgsProcessingParameterBand)):
        if isinstance(value, bool) or not (value is None or isinstance(value, (int, float))):
            return value, tr("expected a number, got {}").format(json.dumps(value))
        if isinstance(definition, QgsProcessingParameterNumber) and value is not None:
            if (definition.dataType() == QgsProcessingParameterNumber.Integer
                    and float(value) != int(value)):
                return value, tr("expected an integer, got {}").format(value)
            if value < definition.minimum() or value > definition.maximum():
                high = definition.maximum()
                limits = tr(">= {:g}").format(definition.minimum()) if high > 1e300 else \
                    tr("between {:g} and {:g}").format(definition.minimum(), high)
                return value, tr("must be {}, got {:g}").format(limits, value)
    if isinstance(definition, QgsProcessingParameterBoolean) and not isinstance(value, bool):
        return value, tr("expected true or false, got {}").format(json.dumps(value))
    return value, None
