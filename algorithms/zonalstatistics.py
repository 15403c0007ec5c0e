"""tilewise:zonalstatistics: statistics of a raster band inside each polygon of a layer."""

import numpy as np
from qgis.core import (QgsField,
                       QgsFields,
                       QgsProcessing,
                       QgsProcessingException,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)
from qgis.PyQt.QtCore import QVariant

from ..engine import InputError
from ..engine import vector
from .base import TilewiseAlgorithm
from .statistics import parse_percentiles
from .vectors import (FAST_PATH_HELP, LATITUDE, LONGITUDE, SWATH_HELP, add_swath_parameters,
                      coordinate_transform, fast_gpkg, null_if_nan, raster_crs, raster_extent,
                      read_arrow, read_features, sink_error, swath_arrays, swath_errors,
                      swath_extent, wgs84, write_features, write_gpkg)

#: labels of STATISTICS, as native:zonalstatisticsfb's (then the nodata count)
LABELS = ("Count", "Sum", "Mean", "Median", "St dev", "Minimum", "Maximum", "Range",
          "Minority", "Majority", "Variety", "Variance", "Nodata count")


class ZonalStatistics(TilewiseAlgorithm):
    INPUT = "INPUT"
    INPUT_RASTER = "INPUT_RASTER"
    RASTER_BAND = "RASTER_BAND"
    COLUMN_PREFIX = "COLUMN_PREFIX"
    STATISTICS = "STATISTICS"
    PERCENTILES = "PERCENTILES"
    ALL_TOUCHED = "ALL_TOUCHED"
    OUTPUT = "OUTPUT"

    LONGITUDE = LONGITUDE
    LATITUDE = LATITUDE

    RASTER_INPUTS = (INPUT_RASTER, LONGITUDE, LATITUDE)
    RASTER_OUTPUT = False
    ENGINE_PARAMETERS = {**TilewiseAlgorithm.ENGINE_PARAMETERS, "path": INPUT_RASTER,
                         "inputs": INPUT_RASTER, "band": RASTER_BAND, "geometry": INPUT,
                         "statistics": STATISTICS, "percentiles": PERCENTILES,
                         "geolocation": LONGITUDE, "output": OUTPUT}

    def name(self):
        return "zonalstatistics"

    def displayName(self):
        return self.tr("Zonal statistics")

    def group(self):
        return self.tr("Vectors")

    def groupId(self):
        return "vectors"

    def tags(self):
        return self.tr("zonal,statistics,polygon,zones,mean,median,percentile,majority,"
                       "all touched,raster,vector").split(",")

    def helpText(self):
        return self.tr(
            "Statistics of a raster band inside each polygon of a vector layer, as QGIS's "
            "Zonal statistics (native:zonalstatisticsfb), in parallel: a new layer with the "
            "input fields plus one field per statistic.\n"
            "INPUT: the polygons (any CRS: they are reprojected to the raster's).\n"
            "INPUT_RASTER: the raster.\n"
            "RASTER_BAND: its band (default 1); 0 or empty: every band, with fields named "
            "<prefix>b<band>_<statistic> (_b2_mean).\n"
            "COLUMN_PREFIX: prefix of the new fields (default _): _count, _sum, _mean, "
            "_median, _stdev, _min, _max, _range, _minority, _majority, _variety, _variance, "
            "_nodata and _p<q> for percentile q (_p2_5 for 2.5).\n"
            "STATISTICS: count, sum, mean, median, standard deviation, minimum, maximum, "
            "range, minority (least frequent value), majority (most frequent value), variety "
            "(number of distinct values), variance and the count of nodata pixels. Ties of "
            "minority and majority go to the smallest value. Standard deviation and variance "
            "are the population ones (divided by the count), as QGIS's.\n"
            "PERCENTILES: comma-separated percentiles, 0 to 100, exact (numpy.percentile, "
            "linear interpolation). Empty: none.\n"
            "ALL_TOUCHED: take every pixel the polygon touches, not only those whose centre "
            "lies inside (default: centre, the rule of QGIS's zonal statistics and of GDAL's "
            "rasterize).\n"
            "Pixels: a pixel belongs to a polygon when its centre does (rasterize's scanline "
            "rule); holes and multipolygon parts are honoured; pixels outside the raster do "
            "not count. Nodata pixels and NaN are skipped (and counted in _nodata). A polygon "
            "that covers no valid pixel has count 0, sum 0 and NULL for the rest; one whose "
            "bounding box misses the raster has NULL everywhere, as in QGIS. Unlike QGIS, "
            "polygons that hold at most one pixel centre are not measured by their area of "
            "intersection with the pixels.\n"
            "Precision: count, minimum, maximum, median, percentiles, minority, majority, "
            "variety are exact; sum and mean come from per-row prefix sums and the variance "
            "from prefix sums of squares, with each polygon's rounding-error estimate checked: "
            "a polygon whose estimate exceeds 1e-10 of its sum or 1e-9 of its sum of squared "
            "deviations is computed again from its pixel values, two-pass. Results do not "
            "depend on WORKERS.\n" + FAST_PATH_HELP + "\n" + SWATH_HELP +
            " A pixel then belongs to a polygon when its own longitude/latitude lies inside "
            "(ALL_TOUCHED does not apply).")

    def initParameters(self):
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Input layer"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.INPUT_RASTER, self.tr("Raster layer")))
        self.addParameter(QgsProcessingParameterBand(
            self.RASTER_BAND, self.tr("Raster band (0 = every band)"), 1, self.INPUT_RASTER,
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.COLUMN_PREFIX, self.tr("Output column prefix"), "_"))
        self.addParameter(QgsProcessingParameterEnum(
            self.STATISTICS, self.tr("Statistics to calculate"),
            [self.tr(label) for label in LABELS], allowMultiple=True, defaultValue=[0, 1, 2]))
        self.addParameter(QgsProcessingParameterString(
            self.PERCENTILES, self.tr("Percentiles (comma-separated, 0-100)"), "",
            optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.ALL_TOUCHED, self.tr("Every pixel the polygon touches (all touched)"), False))
        add_swath_parameters(self)

    def initOutputs(self):
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Zonal statistics"), QgsProcessing.TypeVectorPolygon))

    # --- checks ---------------------------------------------------------------------------

    def _statistics(self, parameters, context):
        return [vector.STATISTICS[i] for i in self.parameterAsEnums(parameters, self.STATISTICS,
                                                             context)]

    def _bands(self, parameters, context):
        """The bands to describe: RASTER_BAND, or every band for 0 (or empty)."""
        value = parameters.get(self.RASTER_BAND, 1)
        band = 0 if value is None or value == "" else \
            self.parameterAsInt(parameters, self.RASTER_BAND, context)
        if band:
            return [band]
        layer = self.parameterAsRasterLayer(parameters, self.INPUT_RASTER, context)
        return list(range(1, layer.bandCount() + 1)) if layer is not None else [1]

    def _columns(self, parameters, context):
        """(statistic key, band, field name) triples, in output order."""
        prefix = self.parameterAsString(parameters, self.COLUMN_PREFIX, context)
        keys = self._statistics(parameters, context) + [
            vector.percentile_name(q) for q in parse_percentiles(
                self.parameterAsString(parameters, self.PERCENTILES, context))]
        bands = self._bands(parameters, context)
        if len(bands) == 1 and parameters.get(self.RASTER_BAND, 1) not in (0, "0", None, ""):
            return [(key, bands[0], prefix + key) for key in keys]
        return [(key, band, "{}b{}_{}".format(prefix, band, key))
                for band in bands for key in keys]

    def parameterErrors(self, parameters, context):
        try:
            qs = parse_percentiles(self.parameterAsString(parameters, self.PERCENTILES, context))
        except ValueError as error:
            yield self.PERCENTILES, str(error)
            return
        for name, problem in swath_errors(self, parameters, context, self.INPUT_RASTER):
            yield name, problem
            return
        if parameters.get(self.LONGITUDE) and \
                self.parameterAsBoolean(parameters, self.ALL_TOUCHED, context):
            yield self.ALL_TOUCHED, self.tr("needs a geotransform: with LONGITUDE and LATITUDE, "
                                            "pixels are selected by their centre")
            return
        if not self._statistics(parameters, context) and not qs:
            yield self.STATISTICS, self.tr("choose at least one statistic or percentile")
            return
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            return  # QGIS's own check names it
        names = set(source.fields().names())
        for _, _, field in self._columns(parameters, context):
            if field in names:
                yield self.COLUMN_PREFIX, self.tr(
                    "the input layer already has a field '{}'; choose another prefix"
                ).format(field)
                return

    # --- run --------------------------------------------------------------------------------

    def engineOps(self, parameters, context):
        return []

    def prepareAlgorithm(self, parameters, context, feedback):
        ok = super().prepareAlgorithm(parameters, context, feedback)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT_RASTER, context)
        self._raster_crs = layer.crs()
        return ok

    def runEngine(self, eng, rasters, parameters, context, bridge):
        raster = rasters[self.INPUT_RASTER]
        profile = raster.profile
        bands = self._bands(parameters, context)
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        swath = swath_arrays(rasters, self._sources[self.INPUT_RASTER], profile)
        if swath is not None:
            target, extent = wgs84(), swath_extent(*swath)
        else:
            target = self._raster_crs if self._raster_crs.isValid() else raster_crs(profile)
            extent = raster_extent(profile)
        transform = coordinate_transform(source.sourceCrs(), target, context)
        bridge.step(0)
        fast = fast_gpkg(self, parameters, context, self.INPUT, self.OUTPUT) \
            if transform is None else None
        rings = None
        if fast is not None:
            features, wkbs = read_arrow(fast[0], fast[1])
            try:
                rings = vector.from_wkb(wkbs)
            except InputError:  # curves: QGIS segmentizes them
                fast = None
        if fast is not None:
            bridge.debug("Tilewise: GeoPackage fast path, {} -> {}".format(fast[0], fast[2]))
            box = rings.bounds()
            missing = ~((box[:, 0] <= extent.xMaximum()) & (box[:, 2] >= extent.xMinimum()) &
                        (box[:, 1] <= extent.yMaximum()) & (box[:, 3] >= extent.yMinimum()))
            wkbs = rings
        else:
            features, wkbs, boxes = read_features(source, transform, bridge._feedback,
                                                  self.INPUT)
            missing = [box is None or not box.intersects(extent) for box in boxes]
        bridge._feedback.setProgressText(self.tr("Computing statistics of {} features").format(
            len(features)))
        statistics = self._statistics(parameters, context)
        percentiles = parse_percentiles(self.parameterAsString(parameters, self.PERCENTILES,
                                                               context))

        def progress(fraction):
            bridge._feedback.setProgress(10 + 85 * fraction)
        if swath is not None:
            per_band = [vector.swath_zonal_statistics(
                raster.array[band - 1], wkbs, *swath, nodata=profile.nodata, stats=statistics,
                percentiles=percentiles, workers=eng.workers, progress=progress,
                cancel=bridge.cancel) for band in bands]
        else:
            array = raster.array[bands[0] - 1] if len(bands) == 1 else \
                raster.array[[band - 1 for band in bands]]
            computed = vector.zonal_statistics(
                array, wkbs, profile.transform, nodata=profile.nodata,
                stats=statistics, percentiles=percentiles,
                all_touched=self.parameterAsBoolean(parameters, self.ALL_TOUCHED, context),
                workers=eng.workers, progress=progress, cancel=bridge.cancel)
            per_band = [computed] if len(bands) == 1 else \
                [{k: v[:, i] for k, v in computed.items()} for i in range(len(bands))]
        result = dict(zip(bands, per_band))
        return features, result, missing, source, fast

    def writeResults(self, eng, result, parameters, context, feedback):
        features, values, missing, source, fast = result
        columns = self._columns(parameters, context)
        if fast is not None:
            from osgeo import ogr
            out = [[None if gone else null_if_nan(v) for v, gone in
                    zip(values[band][key].tolist(), np.asarray(missing).tolist())]
                   for key, band, _ in columns]
            path = write_gpkg(*fast, [(name, ogr.OFTReal) for _, _, name in columns],
                              features, out, context, self.OUTPUT)
            feedback.setProgress(100)
            return {self.OUTPUT: path}
        fields = QgsFields(source.fields())
        for _, _, name in columns:
            fields.append(QgsField(name, QVariant.Double, "double precision"))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          source.wkbType(), source.sourceCrs())
        if sink is None:
            raise sink_error(self, parameters, self.OUTPUT)
        out = []
        for key, band, _ in columns:
            column = [None if gone else null_if_nan(v)
                      for v, gone in zip(values[band][key].tolist(), missing)]
            out.append(column)
        feedback.setProgressText(self.tr("Writing {} features").format(len(features)))
        write_features(sink, features, out, feedback)
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
