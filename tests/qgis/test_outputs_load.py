"""Outputs load into the project after a run from the algorithm dialog.

The dialog runs an algorithm through ``QgsProcessingAlgRunnerTask``: ``processAlgorithm``
runs on a context of its own, whose results (the layers to load) replace the caller's.
Every Tilewise algorithm that writes a raster must leave its output in
``context.layersToLoadOnCompletion()`` of the caller's context, as GDAL's do.
"""

import os
import time

import numpy as np
import pytest

import qgis_helpers as qh

SCRIPTS = qh.REPO_ROOT / "resources" / "scripts"
#: parameters an algorithm needs beyond its inputs, its band and its defaults
EXTRA = {
    "bandmath": {"EXPRESSION": "A@1 * 2"},
    "customfilter": {"SCRIPT": str(SCRIPTS / "scale_to_byte.py"),
                     "PARAMS": '{"low": 90, "high": 130}'},
}


@pytest.fixture(scope="module")
def qgis(plugin):
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry()


@pytest.fixture(scope="module")
def dem(tmp_path_factory):
    """A 4-band raster (the NDVI model reads bands 3 and 4) whose first band is a DEM."""
    folder = tmp_path_factory.mktemp("load")
    bands = np.stack([qh.synthetic_dem(40, 50, seed=seed) for seed in range(4)])
    return qh.write_geotiff(folder / "dem.tif", bands, nodata=-9999)


def raster_algorithms():
    """Every algorithm and model with a layer output (raster or vector)."""
    from qgis.core import (QgsApplication, QgsProcessingParameterFeatureSink,
                           QgsProcessingParameterRasterDestination)

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    return sorted(alg.name() for alg in provider.algorithms()
                  if any(isinstance(p, (QgsProcessingParameterRasterDestination,
                                        QgsProcessingParameterFeatureSink))
                         for p in alg.parameterDefinitions()))


@pytest.fixture(scope="module")
def vectors(dem):
    """Polygons and points over ``dem``'s extent (GeoJSON, the raster's CRS)."""
    import json

    folder = os.path.dirname(dem)
    x0, y0 = 500000.0, 4600000.0  # qgis_helpers.write_geotiff's origin, 10 m pixels
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32631"}}
    polygons = {"type": "FeatureCollection", "crs": crs, "features": [
        {"type": "Feature", "properties": {"id": i}, "geometry": {"type": "Polygon",
         "coordinates": [[[x0 + 50 * i, y0 - 50], [x0 + 50 * i + 120, y0 - 50],
                          [x0 + 50 * i + 120, y0 - 250], [x0 + 50 * i, y0 - 250],
                          [x0 + 50 * i, y0 - 50]]]}} for i in range(3)]}
    points = {"type": "FeatureCollection", "crs": crs, "features": [
        {"type": "Feature", "properties": {"id": i}, "geometry": {
            "type": "Point", "coordinates": [x0 + 35 + 40 * i, y0 - 75 - 30 * i]}}
        for i in range(4)]}
    paths = {}
    for name, collection in (("polygons", polygons), ("points", points)):
        paths[name] = os.path.join(folder, f"{name}.geojson")
        with open(paths[name], "w") as handle:
            json.dump(collection, handle)
    return paths


def parameters_for(alg, dem, folder, vectors=None):
    """Parameters for ``alg``: ``dem`` for each raster input, band 1, one file of ``folder``
    per layer output (to load as "result <name>"), one worker; polygons or points of
    ``vectors`` for vector inputs."""
    from qgis.core import (QgsProcessingOutputLayerDefinition, QgsProcessingParameterBand,
                           QgsProcessingParameterFeatureSink,
                           QgsProcessingParameterFeatureSource,
                           QgsProcessingParameterMultipleLayers, QgsProcessingParameterRasterLayer,
                           QgsProcessingParameterRasterDestination, QgsProject)

    parameters = {}
    for definition in alg.parameterDefinitions():
        if isinstance(definition, (QgsProcessingParameterRasterDestination,
                                   QgsProcessingParameterFeatureSink)):
            extension = "tif" if isinstance(definition, QgsProcessingParameterRasterDestination) \
                else "gpkg"
            destination = QgsProcessingOutputLayerDefinition(
                os.path.join(folder, f"{alg.name()}-{definition.name()}.{extension}"),
                QgsProject.instance())
            destination.destinationName = f"result {definition.name()}"
            parameters[definition.name()] = destination
        elif isinstance(definition, QgsProcessingParameterFeatureSource) and vectors:
            if not definition.flags() & definition.FlagOptional:
                kind = "points" if alg.name() == "samplepoints" else "polygons"
                parameters[definition.name()] = vectors[kind]
        elif isinstance(definition, QgsProcessingParameterMultipleLayers):
            parameters[definition.name()] = [dem]
        elif isinstance(definition, QgsProcessingParameterRasterLayer):
            if not definition.flags() & definition.FlagOptional:
                parameters[definition.name()] = dem
        elif isinstance(definition, QgsProcessingParameterBand):
            parameters[definition.name()] = 1
        elif definition.name() == "WORKERS":
            parameters["WORKERS"] = 1
    parameters.update(EXTRA.get(alg.name(), {}))
    return parameters


def run_as_the_dialog(alg, parameters):
    """Run ``alg`` in a QgsProcessingAlgRunnerTask on the task manager, as the dialog does;
    return (succeeded, the caller's context, feedback messages)."""
    from qgis.core import (QgsApplication, QgsProcessingAlgRunnerTask, QgsProcessingContext,
                           QgsProcessingFeedback, QgsProject)

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    task = QgsProcessingAlgRunnerTask(alg, parameters, context, feedback)
    if task.isCanceled():  # prepareAlgorithm failed (the dialog then shows the error)
        return False, context, None
    outcome = {}
    task.executed.connect(lambda ok, results: outcome.update(ok=ok, results=results))
    QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + 120
    while "ok" not in outcome and time.monotonic() < deadline:
        QgsApplication.processEvents()
        time.sleep(0.01)
    return outcome.get("ok"), context, outcome.get("results")


def test_every_raster_algorithm_is_tested(qgis):
    # a new raster algorithm must either run here with the generic parameters or get EXTRA
    names = raster_algorithms()
    assert len(names) == 35, names  # 30 raster algorithms, 2 vector ones, 3 models
    assert set(EXTRA) <= set(names)


def test_each_output_is_loaded_after_a_dialog_run(qgis, dem, vectors, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm  # models name theirs

    failures = []
    for name in raster_algorithms():
        alg = QgsApplication.processingRegistry().createAlgorithmById(f"tilewise:{name}")
        parameters = parameters_for(alg, dem, str(tmp_path), vectors)
        ok, context, results = run_as_the_dialog(alg, parameters)
        to_load = {os.path.normpath(path): details.name
                   for path, details in context.layersToLoadOnCompletion().items()}
        if not ok:
            failures.append(f"{name}: the run failed")
            continue
        for key, value in parameters.items():
            if not hasattr(value, "destinationName"):
                continue
            output = os.path.normpath(value.sink.staticValue().split("|")[0])
            if not os.path.exists(output):
                failures.append(f"{name}: no file {output}")
            elif output not in to_load or (not isinstance(alg, QgsProcessingModelAlgorithm)
                                           and to_load[output] != f"result {key}"):
                failures.append(f"{name}: {output} is not among the layers to load {to_load}")
    assert not failures, "\n".join(failures)


def test_gdal_reference_behaves_the_same(qgis, dem, tmp_path):
    """The check itself: GDAL's own algorithm leaves its output to load, under the same run."""
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().createAlgorithmById("gdal:fillnodata")
    ok, context, _ = run_as_the_dialog(alg, parameters_for(alg, dem, str(tmp_path)))
    assert ok
    assert list(context.layersToLoadOnCompletion()) == [str(tmp_path / "fillnodata-OUTPUT.tif")]
