"""tilewise:zonalstatistics: statistics of a raster band inside each polygon of a layer."""

import numpy as np
from qgis.core import (QgsProcessing,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterString)
from qgis.PyQt.QtCore import QVariant

from ..engine import InputError, Rows
from ..engine import vector
from .statistics import parse_percentiles
from .vectorbase import FeatureAlgorithm, feature_engine_parameters
from .vectors import (FAST_PATH_HELP, LATITUDE, LONGITUDE, SWATH_HELP, fast_gpkg, null_if_nan,
                      raster_extent, read_arrow, read_features, swath_errors, swath_extent)

#: labels of STATISTICS, as native:zonalstatisticsfb's (then the nodata count)
LABELS = ("Count", "Sum", "Mean", "Median", "St dev", "Minimum", "Maximum", "Range",
          "Minority", "Majority", "Variety", "Variance", "Nodata count")


class ZonalStatistics(FeatureAlgorithm):
    INPUT_RASTER = "INPUT_RASTER"
    RASTER_BAND = "RASTER_BAND"
    STATISTICS = "STATISTICS"
    PERCENTILES = "PERCENTILES"
    ALL_TOUCHED = "ALL_TOUCHED"

    ID = "zonalstatistics"
    DISPLAY_NAME = "Zonal statistics"
    TAGS = ("zonal,statistics,polygon,zones,mean,median,percentile,majority,all touched,raster,"
            "vector")
    INPUT_LABEL = "Input layer"
    GEOMETRY = QgsProcessing.TypeVectorPolygon
    OUTPUT_LABEL = "Zonal statistics"

    GRID = INPUT_RASTER
    RASTER_INPUTS = (INPUT_RASTER, LONGITUDE, LATITUDE)
    ENGINE_PARAMETERS = feature_engine_parameters(INPUT_RASTER, band=RASTER_BAND,
                                                  statistics=STATISTICS, percentiles=PERCENTILES)

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

    def fieldParameters(self):
        return [
            QgsProcessingParameterBand(self.RASTER_BAND, self.tr("Raster band (0 = every band)"),
                                       1, self.INPUT_RASTER, optional=True),
            QgsProcessingParameterString(self.COLUMN_PREFIX, self.tr("Output column prefix"),
                                         "_"),
            QgsProcessingParameterEnum(self.STATISTICS, self.tr("Statistics to calculate"),
                                       [self.tr(label) for label in LABELS], allowMultiple=True,
                                       defaultValue=[0, 1, 2]),
            QgsProcessingParameterString(self.PERCENTILES,
                                         self.tr("Percentiles (comma-separated, 0-100)"), "",
                                         optional=True),
            QgsProcessingParameterBoolean(self.ALL_TOUCHED,
                                          self.tr("Every pixel the polygon touches (all "
                                                  "touched)"), False)]

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
        if source is not None:  # else QGIS's own check names it
            yield from self.existingFieldErrors(
                source, [field for _, _, field in self._columns(parameters, context)])

    # --- run --------------------------------------------------------------------------------

    def runEngine(self, eng, rasters, parameters, context, bridge):
        raster = rasters[self.INPUT_RASTER]
        profile = raster.profile
        bands = self._bands(parameters, context)
        source, swath, transform = self.readSource(rasters, parameters, context)
        extent = swath_extent(*swath) if swath is not None else raster_extent(profile)
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
            array = raster.array
            per_band = [vector.swath_zonal_statistics(
                array[band - 1], wkbs, *swath, nodata=profile.nodata, stats=statistics,
                percentiles=percentiles, workers=eng.workers, progress=progress,
                cancel=bridge.cancel) for band in bands]
        else:
            # by strips of rows within the budget (from the file, or the cached array)
            computed = vector.zonal_statistics(
                Rows(raster.rows, bands=bands), wkbs, profile.transform, nodata=profile.nodata,
                stats=statistics, percentiles=percentiles,
                all_touched=self.parameterAsBoolean(parameters, self.ALL_TOUCHED, context),
                workers=eng.workers, progress=progress, cancel=bridge.cancel,
                memory_budget=eng.memory_budget)
            per_band = [{k: v[:, i] for k, v in computed.items()} for i in range(len(bands))]
        result = dict(zip(bands, per_band))
        return features, result, missing, source, fast

    def writeResults(self, eng, result, parameters, context, feedback):
        features, values, missing, source, fast = result
        columns = self._columns(parameters, context)
        missing = np.asarray(missing).tolist()
        out = [[None if gone else null_if_nan(v) for v, gone in
                zip(values[band][key].tolist(), missing)] for key, band, _ in columns]
        return self.writeFields(
            parameters, context, feedback, source, fast, features,
            [(name, QVariant.Double, "double precision") for _, _, name in columns], out,
            progress_text=self.tr("Writing {} features").format(len(features)))
