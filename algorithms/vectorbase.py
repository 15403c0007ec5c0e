"""Base of the vector algorithms (toolbox group Vectors): features and a raster, no raster filter.

``VectorAlgorithm``: no OUTPUT raster and no engine filters to start early; the features are
reprojected to the CRS of the raster parameter ``GRID`` (tilewise:geometrymask and the others).
``FeatureAlgorithm``: new fields computed from a raster (``GRID``) for each feature of INPUT,
written to OUTPUT with the input's fields (tilewise:zonalstatistics, tilewise:samplepoints):
their common parameters, the swath geolocation, the GeoPackage fast path and the writing.
"""

from qgis.core import (QgsField,
                       QgsFields,
                       QgsProcessingException,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterRasterLayer)
from qgis.PyQt.QtCore import QVariant

from ..engine import InputError, Rows
from .advanced import streams_from
from .base import TilewiseAlgorithm
from .vectors import (LATITUDE, LONGITUDE, add_swath_parameters, coordinate_transform,
                      raster_crs, sink_error, swath_arrays, wgs84, write_features, write_gpkg)


def feature_engine_parameters(grid, **more):
    """ENGINE_PARAMETERS of a FeatureAlgorithm reading the raster parameter ``grid``, plus
    ``more`` (engine parameter = QGIS parameter)."""
    return {**TilewiseAlgorithm.ENGINE_PARAMETERS, "path": grid, "inputs": grid,
            "geometry": TilewiseAlgorithm.INPUT, "geolocation": LONGITUDE,
            "output": TilewiseAlgorithm.OUTPUT, **more}


class GridFile:
    """A raster input of a vector algorithm that is not read whole: ``profile``, and ``rows``
    (``engine.Rows``) read strip by strip within the run's memory budget. ``array`` reads the
    whole raster (the swath's geolocation grids need it)."""

    def __init__(self, path):
        self.path = path
        self.rows = Rows(path)
        self.profile = self.rows.profile

    @property
    def array(self):
        return self.rows.read(0, self.profile.height)


class VectorAlgorithm(TilewiseAlgorithm):
    """An algorithm of the Vectors group: results are not one raster written by the base.

    Its raster inputs are read by strips of rows (``GridFile``), unless one is in the
    shared-memory cache (a model's intermediate, read from memory) or TILEWISE_STREAM=0:
    then every input is held whole, as a SharedRaster with ``rows`` over its array.
    """

    GROUP = "vectors"
    RASTER_OUTPUT = False
    #: the raster parameter whose CRS the features are reprojected to
    GRID = TilewiseAlgorithm.INPUT

    def engineOps(self, parameters, context):
        return []

    def prepareAlgorithm(self, parameters, context, feedback):
        ok = super().prepareAlgorithm(parameters, context, feedback)
        self._grid_crs = self.parameterAsRasterLayer(parameters, self.GRID, context).crs()
        return ok

    def _open(self, eng, name, path):
        if not hasattr(self, "_streamed") or self._streamed[0] is not eng:
            self._streamed = (eng, streams_from(eng, [p for p in self._sources.values()
                                                      if isinstance(p, str)]))
        if self._streamed[1]:
            try:
                return GridFile(path)
            except InputError as error:
                raise QgsProcessingException(self.parameterError(name, error.message))
        raster = super()._open(eng, name, path)
        raster.rows = Rows(raster.array)
        return raster

    def gridCrs(self, profile):
        """The CRS of the GRID raster: QGIS's, else the one of its engine ``profile``."""
        return self._grid_crs if self._grid_crs.isValid() else raster_crs(profile)

    def featureSource(self, parameters, name, context):
        """The feature source of parameter ``name`` (a Processing error when it cannot be
        read)."""
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, name))
        return source


class FeatureAlgorithm(VectorAlgorithm):
    """INPUT features (of ``GEOMETRY`` type, labelled ``INPUT_LABEL``), a raster ``GRID``
    ("Raster layer"), the algorithm's ``fieldParameters``, the swath geolocation; OUTPUT (
    ``OUTPUT_LABEL``): the features with the new fields, their names after COLUMN_PREFIX."""

    COLUMN_PREFIX = "COLUMN_PREFIX"
    LONGITUDE = LONGITUDE
    LATITUDE = LATITUDE

    INPUT_LABEL = ""
    GEOMETRY = None  # QgsProcessing.TypeVectorPolygon, TypeVectorPoint...

    def fieldParameters(self):
        """The parameters after the raster and before the swath geolocation."""
        raise NotImplementedError

    def initParameters(self):
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr(self.INPUT_LABEL), [self.GEOMETRY]))
        self.addParameter(QgsProcessingParameterRasterLayer(self.GRID, self.tr("Raster layer")))
        for parameter in self.fieldParameters():
            self.addParameter(parameter)
        add_swath_parameters(self)

    def initOutputs(self):
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr(self.OUTPUT_LABEL), self.GEOMETRY))

    def existingFieldErrors(self, source, names):
        """COLUMN_PREFIX, if the INPUT ``source`` already has one of the new fields ``names``."""
        existing = set(source.fields().names())
        for name in names:
            if name in existing:
                yield self.COLUMN_PREFIX, self.tr(
                    "the input layer already has a field '{}'; choose another prefix"
                ).format(name)
                return

    def readSource(self, rasters, parameters, context):
        """``(source, swath, transform)``: the INPUT source, the swath geolocation arrays of
        the raster (None: its geotransform places the pixels) and the transform of the features
        to the raster's CRS (WGS 84 with a swath; None when none is needed)."""
        source = self.featureSource(parameters, self.INPUT, context)
        profile = rasters[self.GRID].profile
        swath = swath_arrays(rasters, self._sources[self.GRID], profile)
        target = wgs84() if swath is not None else self.gridCrs(profile)
        return source, swath, coordinate_transform(source.sourceCrs(), target, context)

    def writeFields(self, parameters, context, feedback, source, fast, features, fields,
                    columns, progress_text=None):
        """Write the ``features`` with new ``fields`` ((name, QVariant type, type name))
        holding ``columns`` (a list of values per field): by GDAL on the GeoPackage fast path
        (``fast``, from ``vectors.fast_gpkg``), else to QGIS's feature sink (after
        ``progress_text``). Returns the outputs."""
        if fast is not None:
            from osgeo import ogr
            kinds = {QVariant.Double: ogr.OFTReal, QVariant.Int: ogr.OFTInteger}
            path = write_gpkg(*fast, [(name, kinds.get(kind, ogr.OFTInteger64))
                                      for name, kind, _ in fields],
                              features, columns, context, self.OUTPUT)
            feedback.setProgress(100)
            return {self.OUTPUT: path}
        sink_fields = QgsFields(source.fields())
        for name, kind, type_name in fields:
            sink_fields.append(QgsField(name, kind, type_name))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, sink_fields,
                                          source.wkbType(), source.sourceCrs())
        if sink is None:
            raise sink_error(self, parameters, self.OUTPUT)
        if progress_text:
            feedback.setProgressText(progress_text)
        write_features(sink, features, columns, feedback)
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
