"""tilewise:rasterstatistics: per-band statistics as numbers usable in a model, JSON and HTML."""

import html
import json
import math
import os
import tempfile

from qgis.core import (QgsProcessingException,
                       QgsProcessingOutputNumber,
                       QgsProcessingOutputString,
                       QgsProcessingParameterFileDestination,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..engine import statistics as engine_statistics
from .base import TilewiseAlgorithm

#: numeric outputs (of the BAND band, or band 1) -> key in the engine's statistics
NUMBERS = (("COUNT", "count", "Valid pixel count"),
           ("NODATA_COUNT", "nodata_count", "Nodata pixel count"),
           ("MIN", "min", "Minimum"), ("MAX", "max", "Maximum"), ("SUM", "sum", "Sum"),
           ("MEAN", "mean", "Mean"), ("STD", "std", "Standard deviation (population)"),
           ("VARIANCE", "variance", "Variance (population)"))


def parse_percentiles(text):
    """"2, 50, 98" -> [2.0, 50.0, 98.0]; ValueError with a message."""
    values = []
    for item in text.replace(";", ",").split(","):
        if not item.strip():
            continue
        try:
            value = float(item)
        except ValueError:
            raise ValueError("'{}' is not a number".format(item.strip())) from None
        if not 0 <= value <= 100:
            raise ValueError("{:g} is not in 0..100".format(value))
        values.append(value)
    return values


def write_texts(texts):
    """Write ``{path: text}`` all or nothing: each to a temporary file beside it, renamed
    into place once every one is written; a failure leaves none of them (and older files
    at those paths untouched)."""
    temporaries = {}
    try:
        for path, text in texts.items():
            folder, name = os.path.split(os.path.abspath(path))
            handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder,
                                                 prefix=".tilewise-report-", suffix=".part",
                                                 delete=False)
            temporaries[path] = handle.name
            with handle:
                handle.write(text)
        for path, temporary in temporaries.items():
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries.values():
            if os.path.exists(temporary):
                os.unlink(temporary)
        raise


class RasterStatistics(TilewiseAlgorithm):
    BINS = "BINS"
    PERCENTILES = "PERCENTILES"
    OUTPUT_HTML_FILE = "OUTPUT_HTML_FILE"
    OUTPUT_JSON_FILE = "OUTPUT_JSON_FILE"
    STATISTICS = "STATISTICS"
    MEDIAN = "MEDIAN"

    RASTER_OUTPUT = False
    ENGINE_PARAMETERS = {**TilewiseAlgorithm.ENGINE_PARAMETERS, "bins": BINS,
                         "percentiles": PERCENTILES}

    ID = "rasterstatistics"
    DISPLAY_NAME = "Raster statistics"
    GROUP = "statistics"
    TAGS = ("statistics,stats,histogram,percentile,quantile,mean,std,min,max,count,summary,"
            "report")

    def helpText(self):
        return self.tr(
            "Statistics of each band: count of valid pixels, count of nodata pixels, minimum, "
            "maximum, sum, mean, standard deviation and variance (population: divided by the "
            "count), a histogram and exact percentiles.\n"
            "INPUT: the raster layer.\n"
            "BAND: the band to describe; leave empty for every band.\n"
            "BINS: number of histogram bins over the band's minimum..maximum (default {}).\n"
            "PERCENTILES: comma-separated percentiles, 0 to 100 (default {}); exact, equal to "
            "numpy.percentile (linear interpolation). Empty: none.\n"
            "OUTPUT_HTML_FILE: optional HTML report (a table per band and its histogram).\n"
            "OUTPUT_JSON_FILE: optional JSON file: a list with one object per band (band, count, "
            "nodata_count, min, max, sum, mean, variance, std, histogram, percentiles).\n"
            "Outputs usable in a model: COUNT, NODATA_COUNT, MIN, MAX, SUM, MEAN, STD, VARIANCE "
            "and MEDIAN (when 50 is among the PERCENTILES) of the BAND band (band 1 when BAND "
            "is empty); STATISTICS: the JSON text of every band.\n"
            "Nodata: pixels equal to the band's nodata value, and NaN, are left out of every "
            "statistic and counted in NODATA_COUNT. A band without valid pixels has no minimum, "
            "maximum, mean... (empty outputs, null in JSON).\n"
            "Sums and means are merged across tiles with compensated float64 arithmetic and the "
            "variance with Chan et al.'s parallel formula: counts, minimum, maximum, histogram "
            "and percentiles are identical whatever WORKERS and TILE_SIZE; sum and mean agree "
            "to 1e-12, std to 1e-9 (relative)."
        ).format(engine_statistics.DEFAULT_BINS, ", ".join(format(q, "g") for q in engine_statistics.DEFAULT_PERCENTILES))

    def initParameters(self):
        self.addInputParameters(all_bands=True)
        self.addParameter(QgsProcessingParameterNumber(
            self.BINS, self.tr("Histogram bins"), type=QgsProcessingParameterNumber.Integer,
            defaultValue=engine_statistics.DEFAULT_BINS, minValue=1, maxValue=1000000))
        self.addParameter(QgsProcessingParameterString(
            self.PERCENTILES, self.tr("Percentiles (comma-separated, 0-100)"),
            defaultValue=",".join(format(q, "g") for q in engine_statistics.DEFAULT_PERCENTILES), optional=True))

    def initOutputs(self):
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML_FILE, self.tr("Statistics report (HTML)"),
            self.tr("HTML files (*.html)"), optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON_FILE, self.tr("Statistics (JSON)"), self.tr("JSON files (*.json)"),
            optional=True, createByDefault=False))
        for name, _, label in NUMBERS:
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))
        self.addOutput(QgsProcessingOutputNumber(self.MEDIAN, self.tr("Median")))
        self.addOutput(QgsProcessingOutputString(self.STATISTICS,
                                                 self.tr("Statistics of every band (JSON)")))

    def _files(self, parameters, context):
        return {name: self.parameterAsFileOutput(parameters, name, context)
                for name in (self.OUTPUT_HTML_FILE, self.OUTPUT_JSON_FILE)
                if parameters.get(name)}

    def parameterErrors(self, parameters, context):
        try:
            parse_percentiles(self.parameterAsString(parameters, self.PERCENTILES, context))
        except ValueError as error:
            yield self.PERCENTILES, str(error)
        for name, path in self._files(parameters, context).items():
            yield from self.fileOutputErrors(name, path)

    def engineOps(self, parameters, context):
        return [engine_statistics.moments, engine_statistics.histogram, engine_statistics.select]

    def runEngine(self, eng, rasters, parameters, context, bridge):
        band = self.parameterAsInt(parameters, self.BAND, context) or None
        return engine_statistics.band_statistics(
            eng, rasters[self.INPUT], band=band,
            bins=self.parameterAsInt(parameters, self.BINS, context),
            percentiles=parse_percentiles(
                self.parameterAsString(parameters, self.PERCENTILES, context)))

    def writeResults(self, eng, stats, parameters, context, feedback):
        text = json.dumps(stats, indent=1)
        results = {self.STATISTICS: text}
        files = self._files(parameters, context)
        texts = {}
        if self.OUTPUT_JSON_FILE in files:
            texts[files[self.OUTPUT_JSON_FILE]] = text + "\n"
        if self.OUTPUT_HTML_FILE in files:
            texts[files[self.OUTPUT_HTML_FILE]] = self.report(stats)
        try:
            write_texts(texts)
        except OSError as error:
            raise QgsProcessingException(self.tr("could not write {}: {}").format(
                error.filename, error.strerror or error)) from None
        results.update(files)
        first = stats[0]
        for name, key, _ in NUMBERS:
            results[name] = first[key]
        results[self.MEDIAN] = first["percentiles"].get("50")
        for band in stats:
            feedback.pushInfo(self.tr("Band {band}: count {count}, nodata {nodata_count}, min "
                                      "{min}, max {max}, mean {mean}, std {std}").format(**band))
        return results

    def report(self, stats):
        """An HTML page: per band a table of the statistics, the percentiles and the histogram
        as bars."""
        def cell(value):
            if value is None:
                return "&ndash;"
            if isinstance(value, float) and math.isfinite(value):
                return "{:.10g}".format(value)
            return html.escape(str(value))

        parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>{}</title>"
                 "<style>table{{border-collapse:collapse}}td,th{{border:1px solid #999;"
                 "padding:2px 6px;text-align:right}}.bar{{background:#4a7;height:10px}}"
                 "</style></head><body><h1>{}</h1>".format(
                     html.escape(self.tr("Raster statistics")),
                     html.escape(self.tr("Raster statistics")))]
        for band in stats:
            parts.append("<h2>{}</h2><table>".format(
                html.escape(self.tr("Band {}").format(band["band"]))))
            for _, key, label in NUMBERS:
                parts.append("<tr><th>{}</th><td>{}</td></tr>".format(
                    html.escape(self.tr(label)), cell(band[key])))
            for q, value in band["percentiles"].items():
                parts.append("<tr><th>{}</th><td>{}</td></tr>".format(
                    html.escape(self.tr("Percentile {}").format(q)), cell(value)))
            parts.append("</table>")
            hist = band["histogram"]
            counts = hist["counts"]
            top = max(counts) if counts else 0
            parts.append("<h3>{}</h3><table><tr><th>{}</th><th>{}</th><th></th></tr>".format(
                html.escape(self.tr("Histogram")), html.escape(self.tr("From")),
                html.escape(self.tr("Count"))))
            for edge, count in zip(hist["edges"], counts):
                width = int(300 * count / top) if top else 0
                parts.append("<tr><td>{}</td><td>{}</td><td style='text-align:left'><div "
                             "class='bar' style='width:{}px'></div></td></tr>".format(
                                 cell(edge), count, width))
            parts.append("</table>")
        parts.append("</body></html>\n")
        return "".join(parts)
