"""tilewise:samplepoints: the value of every band of a raster at each point of a layer."""

import numpy as np
from qgis.core import (QgsCsException,
                       QgsFeatureRequest,
                       QgsPointXY,
                       QgsProcessing,
                       QgsProcessingException,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterString,
                       QgsWkbTypes)
from qgis.PyQt.QtCore import QVariant

from ..engine import vector
from .vectorbase import FeatureAlgorithm, feature_engine_parameters
from .vectors import (FAST_PATH_HELP, LATITUDE, LONGITUDE, SWATH_HELP, fast_gpkg, points_of,
                      read_arrow, swath_errors)
from .zonalstatistics import LABELS


def field_type(dtype):
    """QGIS field type for samples of a band of numpy ``dtype`` (as native:rastersampling:
    integers for integer bands, doubles for floating-point ones)."""
    kind, size = np.dtype(dtype).kind, np.dtype(dtype).itemsize
    if kind == "f":
        return QVariant.Double, "double precision"
    if kind in "iu" and (size < 4 or (kind == "i" and size == 4)):
        return QVariant.Int, "integer"
    return QVariant.LongLong, "integer64"


class SamplePoints(FeatureAlgorithm):
    RASTERCOPY = "RASTERCOPY"
    BUFFER = "BUFFER"
    BUFFER_STATISTIC = "BUFFER_STATISTIC"

    ID = "samplepoints"
    DISPLAY_NAME = "Sample raster values at points"
    TAGS = "sample,points,extract,values,raster,vector,bands"
    INPUT_LABEL = "Input point layer"
    GEOMETRY = QgsProcessing.TypeVectorPoint
    OUTPUT_LABEL = "Sampled"

    GRID = RASTERCOPY
    RASTER_INPUTS = (RASTERCOPY, LONGITUDE, LATITUDE)
    ENGINE_PARAMETERS = feature_engine_parameters(RASTERCOPY)

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
            "sampled at that point.\n"
            "BUFFER: a radius, in the units of the raster's CRS; when above 0, each field "
            "holds the BUFFER_STATISTIC of the pixels whose centre lies within that distance "
            "of the point (an exact disc, boundary included), as zonal statistics would over "
            "that disc; NULL when it holds no valid pixel. Fields are then doubles.\n"
            "BUFFER_STATISTIC: the statistic (default: mean), as in Zonal statistics.\n" +
            FAST_PATH_HELP + "\n" + SWATH_HELP +
            " Each point then takes the value of the nearest pixel (great-circle distance); points farther than 1.5 times the "
            "median pixel spacing from every pixel get NULL.")

    def fieldParameters(self):
        return [
            QgsProcessingParameterString(self.COLUMN_PREFIX, self.tr("Output column prefix"),
                                         "SAMPLE_"),
            QgsProcessingParameterNumber(
                self.BUFFER, self.tr("Buffer radius in the raster's CRS units (0 = no buffer)"),
                QgsProcessingParameterNumber.Double, 0.0, minValue=0.0),
            QgsProcessingParameterEnum(self.BUFFER_STATISTIC, self.tr("Statistic over the buffer"),
                                       [self.tr(label) for label in LABELS], defaultValue=2)]

    def _buffer(self, parameters, context):
        return self.parameterAsDouble(parameters, self.BUFFER, context)

    def parameterErrors(self, parameters, context):
        for name, problem in swath_errors(self, parameters, context, self.RASTERCOPY):
            yield name, problem
            return
        if self._buffer(parameters, context) > 0 and parameters.get(self.LONGITUDE):
            yield self.BUFFER, self.tr("needs a geotransform (not LONGITUDE and LATITUDE)")
            return
        source = self.parameterAsSource(parameters, self.INPUT, context)
        layer = self.parameterAsRasterLayer(parameters, self.RASTERCOPY, context)
        if source is not None and layer is not None:
            prefix = self.parameterAsString(parameters, self.COLUMN_PREFIX, context)
            yield from self.existingFieldErrors(
                source, [prefix + str(band) for band in range(1, layer.bandCount() + 1)])

    def _warn_multipart(self, bridge, fid, parts, count):
        if count <= 10:
            bridge.warning(self.tr("Feature {} is a multipoint of {} points: not sampled "
                                   "(NULL)").format(fid, parts))

    def _read_fast(self, path, layer_name, transform, bridge):
        """Feature ids and coordinates from GDAL's Arrow stream."""
        fids, geoms = read_arrow(path, layer_name, fixed=True)
        x, y, parts = points_of(geoms)
        nan = float("nan")
        multi = parts > 1
        for count, i in enumerate(np.flatnonzero(multi), start=1):
            self._warn_multipart(bridge, fids[i], parts[i], count)
        x[multi] = y[multi] = nan
        if transform is not None:
            for i in np.flatnonzero(np.isfinite(x) & np.isfinite(y)):
                x[i], y[i] = self._transformed(transform, x[i], y[i])
        return fids, x, y, int(multi.sum())

    @staticmethod
    def _transformed(transform, x, y):
        try:
            point = transform.transform(QgsPointXY(x, y))
            return point.x(), point.y()
        except QgsCsException:
            return float("nan"), float("nan")  # cannot be placed on the raster: NULL

    def _read_features(self, source, transform, bridge):
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
                        multipart += 1
                        self._warn_multipart(bridge, feature.id(), part.numGeometries(),
                                             multipart)
                        part = None
                if part is not None:
                    x, y = part.x(), part.y()
                    if transform is not None:
                        x, y = self._transformed(transform, x, y)
            xs.append(x)
            ys.append(y)
            if bridge.cancel():
                return None
        return features, np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64), \
            multipart

    def runEngine(self, eng, rasters, parameters, context, bridge):
        raster = rasters[self.RASTERCOPY]
        profile = raster.profile
        source, swath, transform = self.readSource(rasters, parameters, context)
        fast = fast_gpkg(self, parameters, context, self.INPUT, self.OUTPUT)
        if fast is not None:
            bridge.debug("Tilewise: GeoPackage fast path, {} -> {}".format(fast[0], fast[2]))
            read = self._read_fast(fast[0], fast[1], transform, bridge)
        else:
            read = self._read_features(source, transform, bridge)
        if read is None:
            return None
        features, xs, ys, multipart = read
        if multipart > 10:
            bridge.warning(self.tr("{} multipoints of several points in all: not sampled"
                                   ).format(multipart))
        radius = self._buffer(parameters, context)
        if radius > 0:
            if swath is not None:
                raise QgsProcessingException(self.parameterError(
                    self.BUFFER, self.tr("needs a geotransform, not swath geolocation")))
            statistic = vector.STATISTICS[self.parameterAsEnum(parameters, self.BUFFER_STATISTIC,
                                                        context)]
            result = vector.buffer_statistics(raster.rows, np.column_stack((xs, ys)),
                                              profile.transform, radius, nodata=profile.nodata,
                                              stats=[statistic], workers=eng.workers)[statistic]
            values, valid = result, np.isfinite(result)
        elif swath is not None:
            values, valid = vector.swath_sample_points(raster.array, np.column_stack((xs, ys)),
                                                       *swath, nodata=profile.nodata)
        else:  # only the rows holding points are read, within the memory budget
            values, valid = vector.sample_points(raster.rows, np.column_stack((xs, ys)),
                                                 profile.transform, nodata=profile.nodata,
                                                 memory_budget=eng.memory_budget,
                                                 workers=eng.workers)
        return features, values, valid, source, profile, fast

    def writeResults(self, eng, result, parameters, context, feedback):
        if result is None:
            return {}
        features, values, valid, source, profile, fast = result
        prefix = self.parameterAsString(parameters, self.COLUMN_PREFIX, context)
        kind, type_name = field_type(profile.dtype)
        if self._buffer(parameters, context) > 0:
            kind, type_name = QVariant.Double, "double precision"
        cast = float if kind == QVariant.Double else int
        columns = [[cast(v) if ok else None
                    for v, ok in zip(values[:, band].tolist(), valid[:, band].tolist())]
                   for band in range(profile.count)]
        return self.writeFields(parameters, context, feedback, source, fast, features,
                                [(prefix + str(band), kind, type_name)
                                 for band in range(1, profile.count + 1)], columns)
