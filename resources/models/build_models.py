#!/usr/bin/python3
"""Build ndvi_smoothing.model3 and dem_terrain.model3 with the PyQGIS model API.

Usage (QGIS's Python, headless; writes next to this file unless a folder is given):
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 resources/models/build_models.py [FOLDER]

* ndvi_smoothing: band math NDVI (A@4 - A@3) / (A@4 + A@3) on a 4-band raster (red = band 3,
  near infrared = band 4, as in a B, G, R, NIR stack), then a Gaussian filter (SIGMA, default 1
  pixel). Outputs: the NDVI (float32, NaN nodata) and the smoothed NDVI.
      qgis_process.bin run ndvi_smoothing.model3 -- input=stack.tif sigma=1.5 \\
          "ndvi:NDVI=ndvi.tif" "smooth:Smoothed NDVI=smooth.tif"
* dem_terrain: fill the DEM's nodata (MAX_DISTANCE, default 100 px), then slope (degrees) and
  hillshade (azimuth 315, altitude 45) of the filled DEM. Outputs: filled DEM, slope, hillshade.
      qgis_process.bin run dem_terrain.model3 -- dem=dem.tif max_distance=100 z_factor=1 \\
          "fill:Filled DEM=filled.tif" slope:Slope=slope.tif hillshade:Hillshade=hillshade.tif

Every mandatory step parameter is written into the model (the algorithm's default where the
model does not choose), so that the modeler validates them. The advanced parameters are left
unset: they follow the provider's settings (Processing > Options > Providers > Tilewise) at
run time. The models' names are human ("NDVI Smoothing"); the provider gives each the id of its
file (tilewise:ndvi_smoothing). Importable (``ndvi_smoothing()``, ``dem_terrain()``) once the tilewise provider is registered.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

NDVI = "(A@4 - A@3) / (A@4 + A@3)"
#: the models' destination parameters ("child id:output name")
NDVI_OUTPUT = "smooth:Smoothed NDVI"
NDVI_RAW_OUTPUT = "ndvi:NDVI"
FILLED_OUTPUT, SLOPE_OUTPUT, HILLSHADE_OUTPUT = "fill:Filled DEM", "slope:Slope", "hillshade:Hillshade"


def _child(model, child_id, algorithm_id, description, x, y, sources, outputs=None):
    from qgis.core import QgsProcessingModelChildAlgorithm, QgsProcessingModelOutput
    from qgis.PyQt.QtCore import QPointF

    child = QgsProcessingModelChildAlgorithm(algorithm_id)
    child.setChildId(child_id)
    child.setDescription(description)
    child.setPosition(QPointF(x, y))
    for name, source in sources.items():
        child.addParameterSources(name, source if isinstance(source, list) else [source])
    model_outputs = {}
    for name, (child_output, text) in (outputs or {}).items():
        output = QgsProcessingModelOutput(name, text)
        output.setChildId(child_id)
        output.setChildOutputName(child_output)
        output.setDescription(text)
        model_outputs[name] = output
    child.setModelOutputs(model_outputs)
    model.addChildAlgorithm(child)
    return child


def complete_child_parameters(model):
    """Give every step a value for each of its mandatory parameters it does not set yet (the
    algorithm's default, as a static value), so that ``model.validate()`` finds no issue.
    The advanced parameters (WORKERS, TILE_SIZE, OPTIONS, COG) are optional: left unset, they
    follow the provider's settings at run time."""
    from qgis.core import (QgsProcessingModelChildParameterSource as Source,
                           QgsProcessingParameterDefinition)

    for child in model.childAlgorithms().values():
        algorithm = child.algorithm()
        if algorithm is None:
            raise SystemExit(f"unknown algorithm {child.algorithmId()}: is the provider loaded?")
        for definition in algorithm.parameterDefinitions():
            if definition.isDestination() or definition.name() in child.parameterSources() or \
                    definition.flags() & (QgsProcessingParameterDefinition.FlagOptional |
                                          QgsProcessingParameterDefinition.FlagHidden):
                continue
            if definition.defaultValue() is None:
                raise SystemExit(f"{child.childId()}: {definition.name()} has no default")
            child.addParameterSources(definition.name(),
                                      [Source.fromStaticValue(definition.defaultValue())])
        model.setChildAlgorithm(child)
    return model


def _parameter(model, definition, x, y):
    from qgis.core import QgsProcessingModelParameter
    from qgis.PyQt.QtCore import QPointF

    component = QgsProcessingModelParameter(definition.name())
    component.setPosition(QPointF(x, y))
    model.addModelParameter(definition, component)


def ndvi_smoothing(expression=NDVI):
    """The NDVI model (``expression`` is only for tests that need another one)."""
    from qgis.core import (QgsProcessingModelAlgorithm,
                           QgsProcessingModelChildParameterSource as Source,
                           QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer)

    model = QgsProcessingModelAlgorithm("NDVI Smoothing", "Models", "models")
    model.setHelpContent({
        "ALG_DESC": "NDVI of a 4-band raster (band 3 = red, band 4 = near infrared) with "
                    "Tilewise band math, then smoothed with a Gaussian filter.",
        "input": "A 4-band raster (e.g. B, G, R, NIR).",
        "sigma": "Standard deviation of the Gaussian, in pixels.",
        NDVI_RAW_OUTPUT: "NDVI, float32, NaN where a band is nodata or NIR + red = 0.",
        NDVI_OUTPUT: "Smoothed NDVI (nodata stays nodata)."})
    _parameter(model, QgsProcessingParameterRasterLayer("input", "4-band raster"), 100, 50)
    _parameter(model, QgsProcessingParameterNumber(
        "sigma", "Gaussian sigma (pixels)", QgsProcessingParameterNumber.Double, 1.0,
        minValue=0), 300, 50)
    _child(model, "ndvi", "tilewise:bandmath", "NDVI", 150, 150, {
        "INPUTS": Source.fromModelParameter("input"),
        "EXPRESSION": Source.fromStaticValue(expression),
        "OUTPUT_TYPE": Source.fromStaticValue(6)},  # Float32
        {"NDVI": ("OUTPUT", "NDVI")})
    _child(model, "smooth", "tilewise:gaussianfilter", "Gaussian smoothing", 150, 250, {
        "INPUT": Source.fromChildOutput("ndvi", "OUTPUT"),
        "SIGMA": Source.fromModelParameter("sigma")},
        {"Smoothed NDVI": ("OUTPUT", "Smoothed NDVI")})
    return complete_child_parameters(model)


def dem_terrain():
    """The DEM model: fill nodata, then slope and hillshade of the filled DEM."""
    from qgis.core import (QgsProcessingModelAlgorithm,
                           QgsProcessingModelChildParameterSource as Source,
                           QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer)

    model = QgsProcessingModelAlgorithm("DEM Terrain", "Models", "models")
    model.setHelpContent({
        "ALG_DESC": "Fills the nodata holes of a DEM (GDAL FillNodata, Tilewise), then computes "
                    "its slope (degrees) and hillshade (light from 315 degrees, 45 above the "
                    "horizon).",
        "dem": "The DEM (band 1, with a nodata value).",
        "max_distance": "How far to search for valid pixels when filling, in pixels.",
        "z_factor": "Vertical exaggeration for slope and hillshade.",
        FILLED_OUTPUT: "The DEM with its holes filled.",
        SLOPE_OUTPUT: "Slope in degrees, float32, nodata -9999.",
        HILLSHADE_OUTPUT: "Hillshade, uint8 1..255, nodata 0."})
    _parameter(model, QgsProcessingParameterRasterLayer("dem", "DEM"), 100, 50)
    _parameter(model, QgsProcessingParameterNumber(
        "max_distance", "Fill: maximum search distance (pixels)",
        QgsProcessingParameterNumber.Integer, 100, minValue=0), 300, 50)
    _parameter(model, QgsProcessingParameterNumber(
        "z_factor", "Z factor", QgsProcessingParameterNumber.Double, 1.0, minValue=0), 500, 50)
    _child(model, "fill", "tilewise:fillnodata", "Fill nodata", 150, 150, {
        "INPUT": Source.fromModelParameter("dem"),
        "BAND": Source.fromStaticValue(1),
        "MAX_DISTANCE": Source.fromModelParameter("max_distance")},
        {"Filled DEM": ("OUTPUT", "Filled DEM")})
    # slope and hillshade of the filled DEM, band 1, the model's Z factor; their own values
    for child_id, title, x, values in (("slope", "Slope", 50, {"UNITS": 0}),
                                       ("hillshade", "Hillshade", 300,
                                        {"AZIMUTH": 315.0, "ALTITUDE": 45.0})):
        _child(model, child_id, f"tilewise:{child_id}", title, x, 250, {
            "INPUT": Source.fromChildOutput("fill", "OUTPUT"),
            "BAND": Source.fromStaticValue(1),
            **{name: Source.fromStaticValue(value) for name, value in values.items()},
            "Z_FACTOR": Source.fromModelParameter("z_factor")},
            {title: ("OUTPUT", title)})
    return complete_child_parameters(model)


def qgis_app(prefix):
    """scripts/_qgis_app.py's headless QGIS with the checkout's provider (a context)."""
    scripts = os.path.join(REPO, "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from _qgis_app import qgis_app as start

    return start(prefix)


def main(folder=HERE):
    with qgis_app("tilewise-models"):
        for name, build in (("ndvi_smoothing", ndvi_smoothing), ("dem_terrain", dem_terrain)):
            path = os.path.join(folder, name + ".model3")
            if not build().toFile(path):
                raise SystemExit("could not write " + path)
            print(path)


if __name__ == "__main__":
    main(*sys.argv[1:2])
