"""tilewise:samplepoints: the value of every band of a raster at each point of a layer."""

import numpy as np
from qgis.core import (QgsCsException,
                       QgsFeatureRequest,
                       QgsField,
                       QgsFields,
                       QgsPointXY,
                       QgsProcessing,
                       QgsProcessingException,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString,
                       QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from ..engine.vector import sample_points
from .base import TilewiseAlgorithm
from .vectors import coordinate_transform, raster_crs, sink_error, write_features


def field_type(dtype):
    """QGIS field type for samples of a band of numpy ``dtype`` (as native:rastersampling:
    integers for integer bands, doubles for floating-point ones)."""
    kind, size = np.dtype(dtype).kind, np.dtype(dtype).itemsize
    if kind == "f":
        return QVariant.Double, "double precision"
    if kind in "iu" and (size < 4 or (kind == "i" and size == 4)):
        return QVariant.Int, "integer"
    return QVariant.LongLong, "integer64"


class SamplePoints(TilewiseAlgorithm):
    INPUT = "INPUT"
    RASTERCOPY = "RASTERCOPY"
    COLUMN_PREFIX = "COLUMN_PREFIX"
    OUTPUT = "OUTPUT"

    RASTER_INPUTS = (RASTERCOPY,)
    RASTER_OUTPUT = False
    ENGINE_PARAMETERS = {**TilewiseAlgorithm.ENGINE_PARAMETERS, "path": RASTERCOPY,
                         "inputs": RASTERCOPY, "geometry": INPUT, "output": OUTPUT}

    def name(self):
        return "samplepoints"

    def displayName(self):
        return self.tr("Sample raster values at points")

    def group(self):
        return self.tr("Vectors")

    def groupId(self):
        return "vectors"

    def tags(self):
        return self.tr("sample,points,extract,values,raster,vector,bands").split(",")

    def helpText(self):
        return self.tr(
            "The value of every band of a raster at each point of a layer, as QGIS's Sample "
            "raster values (native:rastersampling): a new layer with the input fields plus "
            "one field per band.\n"
            "INPUT: the points (any CRS: they are reprojected to the raster's).\n"
            "RASTERCOPY: the raster.\n"
            "COLUMN_PREFIX: prefix of the new fields, followed by the band number (default "
            "SAMPLE_: SAMPLE_1, SAMPLE_2...). Integer bands give integer fields, others "
            "double fields.\n"
            "The value is that of the pixel containing the point. Points outside the raster, "
            "on nodata or NaN pixels, without geometry, and multipoints of more than one "
            "point (as in QGIS, with a warning) get NULL; a multipoint of one point is "
            "sampled at that point.")

    def initParameters(self):
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Input point layer"), [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.RASTERCOPY, self.tr("Raster layer")))
        self.addParameter(QgsProcessingParameterString(
            self.COLUMN_PREFIX, self.tr("Output column prefix"), "SAMPLE_"))

    def initOutputs(self):
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Sampled"), QgsProcessing.TypeVectorPoint))

    def parameterErrors(self, parameters, context):
        source = self.parameterAsSource(parameters, self.INPUT, context)
        layer = self.parameterAsRasterLayer(parameters, self.RASTERCOPY, context)
        if source is None or layer is None:
            return
        prefix = self.parameterAsString(parameters, self.COLUMN_PREFIX, context)
        names = set(source.fields().names())
        for band in range(1, layer.bandCount() + 1):
            if prefix + str(band) in names:
                yield self.COLUMN_PREFIX, self.tr(
                    "the input layer already has a field '{}'; choose another prefix"
                ).format(prefix + str(band))
                return

    def engineOps(self, parameters, context):
        return []

    def prepareAlgorithm(self, parameters, context, feedback):
        ok = super().prepareAlgorithm(parameters, context, feedback)
        self._raster_crs = self.parameterAsRasterLayer(parameters, self.RASTERCOPY,
                                                       context).crs()
        return ok

    def runEngine(self, eng, rasters, parameters, context, bridge):
        raster = rasters[self.RASTERCOPY]
        profile = raster.profile
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        feedback = bridge._feedback
        target = self._raster_crs if self._raster_crs.isValid() else raster_crs(profile)
        transform = coordinate_transform(source.sourceCrs(), target, context)
        features, xs, ys = [], [], []
        nan = float("nan")
        multipart = 0
        for feature in source.getFeatures(QgsFeatureRequest()):
            features.append(feature)
            geometry = feature.geometry()
            x = y = nan
            if not geometry.isNull() and not geometry.isEmpty():
                part = geometry.constGet()
                if QgsWkbTypes.isMultiType(part.wkbType()):
                    if part.numGeometries() == 1:
                        part = part.geometryN(0)
                    else:
                        part = None
                        multipart += 1
                        if multipart <= 10:
                            bridge.warning(self.tr(
                                "Feature {} is a multipoint of {} points: not sampled (NULL)"
                            ).format(feature.id(), geometry.constGet().numGeometries()))
                if part is not None:
                    x, y = part.x(), part.y()
                    if transform is not None:
                        try:
                            point = transform.transform(QgsPointXY(x, y))
                            x, y = point.x(), point.y()
                        except QgsCsException:
                            x = y = nan  # cannot be placed on the raster: NULL
            xs.append(x)
            ys.append(y)
            if feedback.isCanceled():
                return None
        if multipart > 10:
            bridge.warning(self.tr("{} multipoints of several points in all: not sampled"
                                   ).format(multipart))
        values, valid = sample_points(raster.array, np.column_stack((xs, ys)),
                                      profile.transform, nodata=profile.nodata)
        return features, values, valid, source, profile

    def writeResults(self, eng, result, parameters, context, feedback):
        if result is None:
            return {}
        features, values, valid, source, profile = result
        prefix = self.parameterAsString(parameters, self.COLUMN_PREFIX, context)
        fields = QgsFields(source.fields())
        kind, type_name = field_type(profile.dtype)
        for band in range(1, profile.count + 1):
            fields.append(QgsField(prefix + str(band), kind, type_name))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          source.wkbType(), source.sourceCrs())
        if sink is None:
            raise sink_error(self, parameters, self.OUTPUT)
        columns = []
        cast = float if kind == QVariant.Double else int
        for band in range(profile.count):
            column = [cast(v) if ok else None
                      for v, ok in zip(values[:, band].tolist(), valid[:, band].tolist())]
            columns.append(column)
        write_features(sink, features, columns, feedback)
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
