"""tilewise:geometrymask: GRIDR's validity mask from polygons and an optional raster mask."""

from qgis.core import (QgsProcessing,
                       QgsProcessingException,
                       QgsProcessingParameterBoolean,
                       QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..engine import (InputError, Profile, check_options, filters, parse_options, read_profile,
                      vector)
from .checks import OUTPUT_EXTENSIONS, file_path, same_file
from .vectorbase import VectorAlgorithm
from .vectors import coordinate_transform, gpkg_layer, read_arrow, read_features


def _step_reference(value):
    """Is ``value`` an earlier pipeline step standing in for a raster (pipeline checks)?"""
    return isinstance(value, str) and value.startswith("tilewise-pipeline-step:")


class GeometryMask(VectorAlgorithm):
    VALID = "VALID"
    INVALID = "INVALID"
    RASTER_MASK = "RASTER_MASK"
    MASK_VALID_VALUE = "MASK_VALID_VALUE"
    VALID_VALUE = "VALID_VALUE"
    INVALID_VALUE = "INVALID_VALUE"
    ALL_TOUCHED = "ALL_TOUCHED"

    ID = "geometrymask"
    DISPLAY_NAME = "Geometry mask"
    TAGS = "mask,validity,rasterize,burn,polygons,clouds,GRIDR,all touched"

    RASTER_INPUTS = (RASTER_MASK,)   # INPUT (GRID) only gives the grid: its pixels are never read
    ENGINE_PARAMETERS = {**VectorAlgorithm.ENGINE_PARAMETERS, "path": RASTER_MASK,
                         "inputs": RASTER_MASK, "raster_mask": RASTER_MASK,
                         "valid_value": VALID_VALUE, "invalid_value": INVALID_VALUE,
                         "geometry": VALID}

    def helpText(self):
        return self.tr(
            "A validity mask (Byte) on the grid of a reference raster, by GRIDR's rule: a "
            "pixel is valid unless the raster mask marks it invalid, or VALID polygons are "
            "given and none of them holds it, or one of the INVALID polygons holds it.\n"
            "INPUT: the reference raster: the mask has its size, geotransform and CRS (its "
            "pixels are not read).\n"
            "VALID: optional polygons of the valid area, in any CRS (reprojected to the "
            "grid's).\n"
            "INVALID: optional polygons of invalid areas (clouds, for example), in any CRS "
            "(reprojected to the grid's).\n"
            "RASTER_MASK: optional raster on the same grid; pixels whose band 1 differs from "
            "MASK_VALID_VALUE (default 1) are invalid.\n"
            "VALID_VALUE: the output value of valid pixels (0 to 255; default 1).\n"
            "INVALID_VALUE: the output value of invalid pixels (0 to 255; default 0).\n"
            "ALL_TOUCHED: a polygon holds every pixel it touches (default: the pixels whose "
            "centre it holds, GDAL's rasterize rule). The result equals rasterize of the "
            "polygons on the whole grid.\n"
            "OUTPUT: the mask, one Byte band on the grid of INPUT, burnt and written strip by "
            "strip within MEMORY.\n"
            "In tilewise:pipeline: a step whose INPUT names the grid (an input or an earlier "
            "step) and whose VALID and INVALID are polygon layer paths, for example clouds "
            "drawn as polygons made the MASK of a fillnodata step.")

    def initParameters(self):
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.INPUT, self.tr("Reference raster (grid)")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.VALID, self.tr("Valid area polygons"), [QgsProcessing.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVALID, self.tr("Invalid area polygons"), [QgsProcessing.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.RASTER_MASK, self.tr("Raster mask (same grid)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.MASK_VALID_VALUE, self.tr("Valid value in the raster mask"),
            QgsProcessingParameterNumber.Double, 1))
        self.addParameter(QgsProcessingParameterNumber(
            self.VALID_VALUE, self.tr("Output value of valid pixels"),
            QgsProcessingParameterNumber.Integer, 1, minValue=0, maxValue=255))
        self.addParameter(QgsProcessingParameterNumber(
            self.INVALID_VALUE, self.tr("Output value of invalid pixels"),
            QgsProcessingParameterNumber.Integer, 0, minValue=0, maxValue=255))
        self.addParameter(QgsProcessingParameterBoolean(
            self.ALL_TOUCHED, self.tr("Every pixel a polygon touches (all touched)"), False))
        self.addParameter(QgsProcessingParameterString(
            self.OPTIONS, self.tr("Additional creation options"), "", optional=True))

    def initOutputs(self):
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Mask")))

    def _grid(self, parameters, context):
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        return layer, (read_profile(file_path(layer)) if layer is not None else None)

    def parameterErrors(self, parameters, context):
        if _step_reference(parameters.get(self.INPUT)):
            return  # a tilewise:pipeline step on an earlier step: the filter's check runs
        try:
            layer, grid = self._grid(parameters, context)
        except InputError as error:
            yield self.INPUT, error.message
            return
        if layer is None:
            yield self.INPUT, self.tr("could not load the reference raster")
            return
        if layer.providerType() != "gdal":
            yield self.INPUT, self.tr("layer '{}' is not a GDAL raster file").format(
                layer.name())
            return
        mask = None if _step_reference(parameters.get(self.RASTER_MASK)) else \
            self.parameterAsRasterLayer(parameters, self.RASTER_MASK, context)
        if mask is not None and parameters.get(self.RASTER_MASK):
            profile = read_profile(file_path(mask))
            if (profile.height, profile.width) != (grid.height, grid.width) or \
                    not grid.same_grid(profile):
                yield self.RASTER_MASK, self.tr(
                    "the raster mask ({} x {} pixels) is not on the grid of the reference "
                    "raster ({} x {} pixels, same CRS and geotransform needed)").format(
                    profile.width, profile.height, grid.width, grid.height)
        if parameters.get(self.OUTPUT) is None:
            return  # a tilewise:pipeline step: the pipeline writes its outputs
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        import os
        if os.path.splitext(output)[1].lower() not in OUTPUT_EXTENSIONS:
            yield self.OUTPUT, self.tr(
                "the output must be a GeoTIFF file (.tif or .tiff), got '{}'").format(output)
        for name, other in ((self.INPUT, layer), (self.RASTER_MASK, mask)):
            if other is not None and same_file(file_path(other), output):
                yield self.OUTPUT, self.tr("'{}' is also the {} raster; choose another "
                                           "output file").format(output, name)
        yield from self.fileOutputErrors(self.OUTPUT, output)
        try:
            check_options(self.parameterAsString(parameters, self.OPTIONS, context))
        except InputError as error:
            yield self.OPTIONS, error.message

    #: engineStep computes what runEngine does (which burns without reading the grid's pixels)
    CHAINABLE = True

    def engineStep(self, parameters, context):
        """The mask as a tilewise:pipeline step: ``engine.filters.geometry_mask`` on the grid
        of INPUT (and RASTER_MASK), the polygons as WKB in their layer's CRS."""
        params = {
            "mask_valid_value": self.parameterAsDouble(parameters, self.MASK_VALID_VALUE,
                                                       context),
            "valid_value": self.parameterAsInt(parameters, self.VALID_VALUE, context),
            "invalid_value": self.parameterAsInt(parameters, self.INVALID_VALUE, context),
            "all_touched": self.parameterAsBoolean(parameters, self.ALL_TOUCHED, context)}
        crs = set()
        for name, key in ((self.VALID, "valid"), (self.INVALID, "invalid")):
            if parameters.get(name):
                source = self.featureSource(parameters, name, context)
                _, params[key], _ = read_features(source, None, None, name)
                crs.add(source.sourceCrs().toWkt())
        if len(crs) > 1:  # one CRS for both: bring INVALID to VALID's
            raise QgsProcessingException(self.parameterError(
                self.INVALID, self.tr("must be in the CRS of the VALID polygons in a "
                                      "pipeline step")))
        if crs and next(iter(crs)):
            params["crs"] = next(iter(crs))
        names = [self.INPUT] + ([self.RASTER_MASK] if parameters.get(self.RASTER_MASK) else [])
        return filters.geometry_mask, names, params

    def prepareAlgorithm(self, parameters, context, feedback):
        ok = super().prepareAlgorithm(parameters, context, feedback)
        self._grid_profile = self._grid(parameters, context)[1]
        return ok

    def _polygons(self, parameters, name, context, feedback):
        if not parameters.get(name):
            return None
        source = self.featureSource(parameters, name, context)
        transform = coordinate_transform(source.sourceCrs(), self.gridCrs(self._grid_profile),
                                         context)
        fast = gpkg_layer(self, parameters, context, name) if transform is None else None
        if fast is not None:  # GDAL reads the WKB straight from the file
            try:
                return vector.from_wkb(read_arrow(*fast)[1])
            except InputError:  # curves: QGIS segmentizes them
                pass
        _, wkbs, _ = read_features(source, transform, feedback, name)
        return wkbs

    def runEngine(self, eng, rasters, parameters, context, bridge):
        feedback = bridge._feedback
        valid = self._polygons(parameters, self.VALID, context, feedback)
        invalid = self._polygons(parameters, self.INVALID, context, feedback)
        raster_mask = rasters.get(self.RASTER_MASK)
        return dict(valid=valid, invalid=invalid,
                    progress=bridge.progress, cancel=bridge.cancel,
                    raster_mask=raster_mask.rows if raster_mask is not None else None,
                    mask_valid_value=self.parameterAsDouble(parameters, self.MASK_VALID_VALUE,
                                                            context),
                    valid_value=self.parameterAsInt(parameters, self.VALID_VALUE, context),
                    invalid_value=self.parameterAsInt(parameters, self.INVALID_VALUE, context),
                    all_touched=self.parameterAsBoolean(parameters, self.ALL_TOUCHED, context))

    def writeResults(self, eng, result, parameters, context, feedback):
        # resolved on the run's own context, whose layers to load reach the project (the
        # dialog runs processAlgorithm on a context of its own)
        self._output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        grid = self._grid_profile
        profile = Profile(count=1, height=grid.height, width=grid.width, dtype="uint8",
                          crs_wkt=grid.crs_wkt, transform=grid.transform, nodata=None,
                          descriptions=("validity mask",))
        feedback.setProgressText(self.tr("Burning polygons and writing {} by strips").format(
            self._output))
        # strip by strip into the file: memory bounded by the budget, not by the grid
        vector.write_geometry_mask(
            self._output, profile, **result, workers=eng.workers,
            memory_budget=eng.memory_budget,
            options=parse_options(self.parameterAsString(parameters, self.OPTIONS, context)))
        return {self.OUTPUT: self._output}
