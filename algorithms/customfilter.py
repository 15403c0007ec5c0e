"""tilewise:customfilter: a user's Python filter script, run tile by tile. Runs user code."""

import json
import os

from qgis.core import (QgsProcessing,
                       QgsProcessingParameterFile,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterString)

from ..engine import InputError, load_filter
from .base import TilewiseAlgorithm

SCRIPTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "resources", "scripts")


class CustomFilter(TilewiseAlgorithm):
    INPUTS = "INPUTS"
    SCRIPT = "SCRIPT"
    PARAMS = "PARAMS"

    RASTER_INPUTS = (INPUTS,)
    ENGINE_PARAMETERS = {**TilewiseAlgorithm.ENGINE_PARAMETERS,
                         "path": INPUTS, "inputs": INPUTS, "script": SCRIPT, "margin": SCRIPT,
                         "filter": SCRIPT, "params": PARAMS}
    #: a script's own parameter names (its check raises InputError(name, ...)) are in PARAMS
    OTHER_ENGINE_PARAMETERS = PARAMS

    ID = "customfilter"
    DISPLAY_NAME = "Custom Python filter"
    GROUP = "custom"
    TAGS = "custom,python,script,user,filter,code"
    OUTPUT_LABEL = "Filtered"

    def helpText(self):
        return self.tr(
            "Runs your own Python filter script on the input rasters, tile by tile, on all "
            "cores. THIS RUNS THE SCRIPT'S CODE, BY DESIGN, with your rights, exactly like a "
            "script run from the Python console: only use scripts you trust. It runs in "
            "processes of its own (a script host for its checks, worker processes for the "
            "tiles), never in QGIS itself, whatever the image size or WORKERS: a script that "
            "crashes or exits cannot take QGIS down, and its inputs are read-only.\n"
            "INPUTS: 1 or more raster layers on the same grid, passed to the script in the "
            "order given (how many the script accepts is its INPUTS = (min, max), default 1).\n"
            "SCRIPT: the .py file. It defines filter(buffers, profiles, params), which gets the "
            "input tiles (read-only numpy arrays (bands, rows, cols) including their margins) "
            "and returns one array of the tile's shape; optionally margin(params) (how far it "
            "reaches, in pixels), output_profiles(profiles, params) (data type, band count, "
            "nodata of the output), check(profiles, params) and INPUTS. Examples: {}.\n"
            "PARAMS: the script's parameters as a JSON object, e.g. {{\"size\": 5}} (default "
            "{{}}).\n"
            "OUTPUT: what the script's output_profiles says (by default the first input's data "
            "type, bands and nodata).\n"
            "Nodata: handled by the script (the profiles give each input's nodata value).\n"
            "Errors: a script that fails to load, or raises in check, shows its traceback here "
            "before any work; an exception inside filter stops the run and the log shows the "
            "worker traceback with the script's file, lines and source. A script edited after "
            "the run started is refused."
        ).format(", ".join(os.path.join(SCRIPTS_DIR, name) for name in sorted(
            os.listdir(SCRIPTS_DIR)) if name.endswith(".py")) if os.path.isdir(SCRIPTS_DIR)
            else SCRIPTS_DIR)

    def initParameters(self):
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Input rasters (in the script's input order)"),
            layerType=QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterFile(
            self.SCRIPT, self.tr("Filter script (.py; it runs with your rights)"),
            behavior=QgsProcessingParameterFile.File, extension="py"))
        self.addParameter(QgsProcessingParameterString(
            self.PARAMS, self.tr("Script parameters (JSON object)"), defaultValue="{}",
            optional=True, multiLine=True))

    def scriptParameters(self, parameters, context):
        text = self.parameterAsString(parameters, self.PARAMS, context).strip() or "{}"
        try:
            params = json.loads(text)
        except ValueError as error:
            raise InputError("params", "not valid JSON: {}".format(error)) from None
        if not isinstance(params, dict):
            raise InputError("params", "must be a JSON object, e.g. {\"size\": 5}")
        return params

    def engineStep(self, parameters, context):
        params = self.scriptParameters(parameters, context)
        script = self.parameterAsFile(parameters, self.SCRIPT, context)
        return load_filter(script), [self.INPUTS], params  # imports it in the script host
