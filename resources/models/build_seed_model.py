#!/usr/bin/python3
"""Build resources/models/seed_pipeline.model3 with the PyQGIS model API.

Usage (from anywhere; QGIS's Python, headless):
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 resources/models/build_seed_model.py [OUT.model3]

The model: one raster input DSM; nodatamask (DSM) -> fillnodata (DSM, MASK = the mask,
MAX_DISTANCE 100) -> meanfilter (the filled raster, SIZE 3); outputs mask, filled and smooth.
Its name is "Seed Pipeline"; its id once the provider loads it is tilewise:seed_pipeline (the
file's name). Run it by file or by id:
    qgis_process.bin run resources/models/seed_pipeline.model3 -- DSM=dsm.tif \\
        "nodatamask:Nodata mask=mask.tif" "fillnodata:Filled DSM=filled.tif" \\
        "meanfilter:Smoothed DSM=smooth.tif"
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # build_models (complete_child_parameters, qgis_app)
OUT = os.path.join(HERE, "seed_pipeline.model3")


def build_model():
    """The seed model (needs the tilewise provider registered)."""
    from qgis.core import (QgsProcessing, QgsProcessingModelAlgorithm,
                           QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource as Source,
                           QgsProcessingModelOutput, QgsProcessingModelParameter,
                           QgsProcessingParameterRasterLayer)
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm("Seed Pipeline", "Models", "models")
    model.setHelpContent({
        "ALG_DESC": "The seed pipeline as a model: a nodata mask of the DSM, the DSM's holes "
                    "filled (GDAL FillNodata, 100 px, the mask as MASK), then a 3x3 mean. "
                    "Inside one QGIS process the filled raster and the mask are taken from "
                    "Tilewise's shared-memory cache by the next step instead of being read "
                    "again (TILEWISE_CACHE=0 turns that off).",
        "DSM": "The DSM (a file-based GDAL raster, band 1, with a nodata value).",
        "nodatamask:Nodata mask": "1 where the DSM is nodata, else 0 (uint8).",
        "fillnodata:Filled DSM": "The DSM with its holes filled.",
        "meanfilter:Smoothed DSM": "The filled DSM, 3x3 mean."})
    dsm = QgsProcessingParameterRasterLayer("DSM", "DSM")
    parameter = QgsProcessingModelParameter("DSM")
    parameter.setPosition(QPointF(120, 60))
    model.addModelParameter(dsm, parameter)

    def child(child_id, algorithm_id, sources, output_name, output_label, y):
        alg = QgsProcessingModelChildAlgorithm(algorithm_id)
        alg.setChildId(child_id)
        alg.setDescription(output_label)
        alg.setPosition(QPointF(340, y))
        for name, source in sources.items():
            alg.addParameterSources(name, [source])
        output = QgsProcessingModelOutput(output_name, output_label)
        output.setChildId(child_id)
        output.setChildOutputName("OUTPUT")
        output.setPosition(QPointF(560, y))
        # an output left unset goes to a temporary file (as QGIS's own algorithms do) instead
        # of reaching the child as an empty path
        output.setDefaultValue(QgsProcessing.TEMPORARY_OUTPUT)
        alg.setModelOutputs({output_name: output})
        model.addChildAlgorithm(alg)

    child("nodatamask", "tilewise:nodatamask",
          {"INPUT": Source.fromModelParameter("DSM"), "BAND": Source.fromStaticValue(1)},
          "Nodata mask", "Nodata mask", 60)
    child("fillnodata", "tilewise:fillnodata",
          {"INPUT": Source.fromModelParameter("DSM"), "BAND": Source.fromStaticValue(1),
           "MASK": Source.fromChildOutput("nodatamask", "OUTPUT"),
           "MAX_DISTANCE": Source.fromStaticValue(100),
           "SMOOTHING_ITERATIONS": Source.fromStaticValue(0)},
          "Filled DSM", "Filled DSM", 180)
    child("meanfilter", "tilewise:meanfilter",
          {"INPUT": Source.fromChildOutput("fillnodata", "OUTPUT"),
           "SIZE": Source.fromStaticValue(3)},
          "Smoothed DSM", "Smoothed DSM", 300)
    from build_models import complete_child_parameters

    complete_child_parameters(model)
    model.updateDestinationParameters()
    return model


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else OUT
    from build_models import qgis_app

    with qgis_app("tilewise-model"):
        model = build_model()
        names = [p.name() for p in model.parameterDefinitions()]
        if not model.toFile(out):
            raise SystemExit(f"could not write {out}")
        print(f"wrote {out}: parameters {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
