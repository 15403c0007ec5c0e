"""tilewise:pipeline: a chain of Tilewise algorithms, described in a small file, run in memory.

The file names the pipeline's raster inputs, its steps (each a Tilewise algorithm with its QGIS
parameters, raster parameters naming inputs or earlier steps) and the outputs to write. Reading
it is :mod:`.pipeline_document` (format in ``FORMAT_HELP`` and ``docs/pipelines.md``); checking
it and building the engine ``Pipeline`` is :mod:`.pipeline_compile` (the driver of the
``pipeline_*`` modules), every problem reported at once, each with its step. This module is the
QGIS algorithm: it presents itself as the other Tilewise algorithms do (base.AlgorithmIdentity),
checks in ``checkParameterValues`` and runs the chain with ``Engine.run`` (fused into one pass
over the tiles when valid and worth it, or as asked by FUSE). Only the requested outputs are
written, as ``<name>.tif`` in OUTPUT_FOLDER.
"""

import os

from qgis.core import (QgsProcessing,
                       QgsProcessingAlgorithm,
                       QgsProcessingException,
                       QgsProcessingOutputMultipleLayers,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterString)

from ..engine import (Cancelled, Engine, InputError, TilewiseError, check_options, default_cache,
                      default_session)
from .base import (AlgorithmIdentity, advanced_parameters, cog_available, engine_memory_budget,
                   memory_budget, streams_from)
from .boundary import ErrorBoundary
from .checks import file_path, same_file
from .feedback import FeedbackBridge
from .pipeline_compile import CompiledPipeline, compile_pipeline
from .pipeline_document import (FORMAT_HELP, PipelineErrors, parse_pipeline_text,
                                read_pipeline_file)

FUSE_CHOICES = ("auto", "always", "never")
OUTPUT_EXTENSION = ".tif"


def output_file(folder, name):
    """Where output ``name`` is written in ``folder``."""
    return os.path.join(folder, name.replace(":", "_") + OUTPUT_EXTENSION)


class PipelineAlgorithm(AlgorithmIdentity, ErrorBoundary, QgsProcessingAlgorithm):
    """Not a TilewiseAlgorithm (no engineStep, checks and run of its own), but presented as one
    (``AlgorithmIdentity``: the same instance factory, icon, help page, translations in this
    class's context and empty short description)."""

    ID = "pipeline"
    DISPLAY_NAME = "Run a pipeline"
    GROUP = "pipelines"
    TAGS = "pipeline,chain,model,workflow,fused,in memory,batch"

    PIPELINE = "PIPELINE"
    PIPELINE_TEXT = "PIPELINE_TEXT"
    INPUTS = "INPUTS"
    FUSE = "FUSE"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OUTPUTS = "OUTPUTS"
    WORKERS = "WORKERS"
    TILE_SIZE = "TILE_SIZE"
    OPTIONS = "OPTIONS"
    COG = "COG"

    def __init__(self):
        super().__init__()
        self._compiled = None
        self._folder = None
        self._fuse = None

    def helpText(self):
        """What the algorithm does and its own parameters (by id: ``help_string`` shows the
        dialog's labels and adds the line pointing to the shared performance section)."""
        return self.tr(
            "Runs a chain of Tilewise algorithms described in a pipeline file: each input is "
            "read once, intermediate results never touch the disk, and, when valid and worth "
            "it, the whole chain runs as one pass over the tiles (fused), file to file by "
            "strips of rows within the memory budget. Results are identical, bit for bit, to "
            "running the algorithms one by one.\n"
            "PIPELINE: the pipeline file (.json, or .yaml/.yml).\n"
            "PIPELINE_TEXT: the pipeline itself as text, instead of a file.\n"
            "INPUTS: raster layers bound, in order, to the pipeline's input names.\n"
            "FUSE: auto (fuse when valid and worth it), always (fuse; an error if a step "
            "cannot be fused), never (run the steps one by one, intermediates in shared "
            "memory).\n"
            "OUTPUT_FOLDER: the folder the pipeline's outputs are written to, as <name>.tif.\n"
            "OUTPUTS (result): the files written.") + "\n" + self.tr(FORMAT_HELP) + "\n" + \
            self.tr("Examples: resources/pipelines/ in the plugin folder. Documentation: "
                    "docs/pipelines.md.")

    def initAlgorithm(self, config=None):
        pipeline = QgsProcessingParameterFile(
            self.PIPELINE, self.tr("Pipeline file"), optional=True,
            fileFilter=self.tr("Pipeline files (*.json *.yaml *.yml);;All files (*)"))
        self.addParameter(pipeline)
        self.addParameter(QgsProcessingParameterString(
            self.PIPELINE_TEXT, self.tr("Pipeline text (instead of a file)"), multiLine=True,
            optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Input rasters (bound in order to the pipeline's inputs)"),
            layerType=QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.FUSE, self.tr("Fuse the steps into one pass"), options=list(FUSE_CHOICES),
            defaultValue=0))
        advanced = advanced_parameters(self)
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUTS, self.tr("Output files")))

    # --- checks ---------------------------------------------------------------------------------

    def _document(self, parameters, context):
        """(document, base folder) from PIPELINE or PIPELINE_TEXT; raises PipelineErrors."""
        path = self.parameterAsFile(parameters, self.PIPELINE, context)
        text = self.parameterAsString(parameters, self.PIPELINE_TEXT, context)
        if path and text and text.strip():
            raise PipelineErrors([self.tr("PIPELINE and PIPELINE_TEXT are both set; give one")])
        if path:
            return read_pipeline_file(path)
        if text and text.strip():
            return parse_pipeline_text(text), None
        raise PipelineErrors([self.tr("no pipeline: set PIPELINE (a file) or PIPELINE_TEXT")])

    def _layerPaths(self, parameters, context, errors):
        paths = []
        for i, layer in enumerate(self.parameterAsLayerList(parameters, self.INPUTS, context)):
            if layer.providerType() != "gdal":
                errors.append(self.tr("INPUTS: layer {} ('{}') uses the '{}' data provider; "
                                      "Tilewise needs file-based GDAL rasters").format(
                    i + 1, layer.name(), layer.providerType()))
            paths.append(file_path(layer))
        given = parameters.get(self.INPUTS)
        if isinstance(given, str):
            given = [given] if given else []
        if isinstance(given, (list, tuple)) and len(given) != len(paths):
            errors.append(self.tr("INPUTS: {} of the {} layers given could not be loaded as "
                                  "rasters").format(len(given) - len(paths), len(given)))
        return paths

    def compile(self, parameters, context):
        """A CompiledPipeline for these parameters (with every error found in ``errors``)."""
        errors = []
        fuse = (None, True, False)[self.parameterAsEnum(parameters, self.FUSE, context)]
        layer_paths = self._layerPaths(parameters, context, errors)
        try:
            document, base_dir = self._document(parameters, context)
        except PipelineErrors as error:
            compiled = CompiledPipeline()
            compiled.errors = errors + error.errors
            return compiled, fuse
        compiled = compile_pipeline(document, layer_paths, context, base_dir, fuse)
        compiled.errors[:0] = errors
        folder = self.parameterAsFileOutput(parameters, self.OUTPUT_FOLDER, context)
        compiled.errors.extend(self._folderErrors(folder, compiled))
        driver = self._driver(parameters, context)
        if driver == "COG" and not cog_available():
            compiled.errors.append(self.tr("COG: this GDAL has no COG driver (GDAL 3.1 or later "
                                           "needed)"))
        else:
            try:
                check_options(self.parameterAsString(parameters, self.OPTIONS, context), driver)
            except InputError as error:
                compiled.errors.append(self.tr("OPTIONS: {}").format(error.message))
        return compiled, fuse

    def _driver(self, parameters, context):
        return "COG" if self.parameterAsBoolean(parameters, self.COG, context) else "GTiff"

    def _folderErrors(self, folder, compiled):
        if not folder:
            return
        if os.path.exists(folder) and not os.path.isdir(folder):
            yield self.tr("OUTPUT_FOLDER: '{}' is a file, not a folder").format(folder)
            return
        existing = folder
        while existing and not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if existing and not os.access(existing, os.W_OK | os.X_OK):
            yield self.tr("OUTPUT_FOLDER: the folder {} is not writable").format(existing)
        for name in compiled.keep:
            target = output_file(folder, name)
            for input_name, path in compiled.input_paths.items():
                if path and os.path.exists(path) and same_file(path, target):
                    yield self.tr("outputs: '{}' would be written to {}, which is the input "
                                  "'{}'; choose another OUTPUT_FOLDER").format(
                        name, target, input_name)

    def checkParameterValues(self, parameters, context):
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        compiled, _ = self.compile(parameters, context)
        if compiled.errors:
            return False, self.errorReport(compiled.errors)
        return True, ""

    def errorReport(self, errors):
        head = self.tr("The pipeline has {} error(s):").format(len(errors)) if len(errors) > 1 \
            else self.tr("The pipeline has an error:")
        return head + "\n" + "\n".join("- " + e for e in errors)

    # --- run ------------------------------------------------------------------------------------

    def prepareAlgorithm(self, parameters, context, feedback):
        compiled, fuse = self.compile(parameters, context)
        if compiled.errors:
            raise QgsProcessingException(self.errorReport(compiled.errors))
        self._compiled, self._fuse = compiled, fuse
        self._folder = self.parameterAsFileOutput(parameters, self.OUTPUT_FOLDER, context)
        os.makedirs(self._folder, exist_ok=True)
        return True

    def processAlgorithm(self, parameters, context, feedback):
        compiled = self._compiled
        bridge = FeedbackBridge(feedback)
        workers = self.parameterAsInt(parameters, self.WORKERS, context)
        tile_size = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        options = self.parameterAsString(parameters, self.OPTIONS, context)
        driver = self._driver(parameters, context)
        fused = compiled.plan.worth_fusing if self._fuse is None else self._fuse
        feedback.pushInfo(self.tr("Pipeline: {} step(s) ({}), {}; writing {}").format(
            len(compiled.plan.steps), ", ".join(s.name for s in compiled.plan.steps),
            self.tr("fused into one pass") if fused else self.tr("step by step"),
            ", ".join(compiled.keep)))
        written = []
        try:
            with Engine(workers=workers, tile_size=tile_size, progress=bridge.progress,
                        cancel=bridge.cancel, log=bridge.log, cache=default_cache(),
                        memory_budget=engine_memory_budget(
                            memory_budget(self, parameters, context)),
                        session=default_session()) as eng:
                if fused and streams_from(eng, [compiled.input_paths[n]
                                                for n in compiled.input_names]):
                    feedback.setProgressText(self.tr("Reading, processing and writing by "
                                                     "strips"))
                    paths = eng.stream_run(
                        compiled.pipeline, {n: compiled.input_paths[n]
                                            for n in compiled.input_names},
                        {n: output_file(self._folder, n) for n in compiled.keep},
                        options=options, driver=driver)
                    return {self.OUTPUT_FOLDER: self._folder,
                            self.OUTPUTS: [str(paths[n]) for n in compiled.keep]}
                eng.prepare(compiled.pipeline)
                feedback.setProgressText(self.tr("Reading input rasters"))
                inputs = {n: eng.open(compiled.input_paths[n]) for n in compiled.input_names}
                feedback.setProgressText(self.tr("Processing tiles"))
                results = eng.run(compiled.pipeline, inputs, keep=compiled.keep, fuse=fused)
                eng.release(*inputs.values())
                for name in compiled.keep:
                    target = output_file(self._folder, name)
                    feedback.setProgressText(self.tr("Writing {}").format(target))
                    written.append(eng.write(results[name], target, options=options,
                                             driver=driver))
                    eng.release(results[name])
        except Cancelled:
            feedback.pushInfo(self.tr("Canceled: outputs not written by then were not "
                                      "written."))
            return {}
        except InputError as error:
            raise QgsProcessingException(self.tr("Invalid input ({}): {}").format(
                error.param, error.message))
        except TilewiseError as error:
            raise QgsProcessingException(str(error))
        return {self.OUTPUT_FOLDER: self._folder, self.OUTPUTS: [str(p) for p in written]}
