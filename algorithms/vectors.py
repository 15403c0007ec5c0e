"""What the vector algorithms share: features to plain arrays for the engine, and back."""

import math

import numpy as np

from qgis.core import (QgsCoordinateReferenceSystem,
                       QgsCoordinateTransform,
                       QgsCsException,
                       QgsFeature,
                       QgsFeatureRequest,
                       QgsFeatureSink,
                       QgsGeometry,
                       QgsProcessingException,
                       QgsRectangle,
                       QgsWkbTypes)


def raster_crs(profile):
    """The QGIS CRS of an engine profile (invalid when the raster has none)."""
    return QgsCoordinateReferenceSystem.fromWkt(profile.crs_wkt or "")


def raster_extent(profile):
    """The raster's extent as a QgsRectangle (its CRS), from the profile's transform."""
    a, b, c, d, e, f = profile.transform[:6]
    w, h = profile.width, profile.height
    xs = [c, c + a * w, c + b * h, c + a * w + b * h]
    ys = [f, f + d * w, f + e * h, f + d * w + e * h]
    return QgsRectangle(min(xs), min(ys), max(xs), max(ys))


def coordinate_transform(source_crs, target_crs, context):
    """A transform from the layer's CRS to the raster's, or None when none is needed."""
    if not source_crs.isValid() or not target_crs.isValid() or source_crs == target_crs:
        return None
    return QgsCoordinateTransform(source_crs, target_crs, context.transformContext())


def read_features(source, transform, feedback, param, polygons=True):
    """``(features, wkbs, boxes)`` of a feature source: the features as read, their
    geometries as WKB in the raster's CRS (``None`` for null geometries; curves
    segmentized) and their bounding boxes there (or None)."""
    features, wkbs, boxes = [], [], []
    total = source.featureCount() or 1
    request = QgsFeatureRequest()
    for i, feature in enumerate(source.getFeatures(request)):
        if feedback is not None and feedback.isCanceled():
            break
        features.append(feature)
        geometry = feature.geometry()
        if geometry is None or geometry.isNull() or geometry.isEmpty():
            wkbs.append(None)
            boxes.append(None)
            continue
        geometry = QgsGeometry(geometry)
        if QgsWkbTypes.isCurvedType(geometry.wkbType()):
            geometry = QgsGeometry(geometry.constGet().segmentize())
        if transform is not None:
            try:
                geometry.transform(transform)
            except QgsCsException as error:
                raise QgsProcessingException(
                    "Invalid value for parameter {}: feature {} cannot be reprojected to the "
                    "raster's CRS ({})".format(param, feature.id(), error)) from None
        wkbs.append(bytes(geometry.asWkb()))
        boxes.append(geometry.boundingBox())
        if feedback is not None and i % 1000 == 0:
            feedback.setProgress(10.0 * i / total)
    return features, wkbs, boxes


def null_if_nan(value, integer=False):
    """A float statistic as an attribute value: None for NaN (NULL), else float or int."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value) if integer else float(value)


def write_features(sink, features, columns, feedback, geometry=True):
    """Add ``features`` with ``columns`` (lists of attribute values, one per feature)
    appended to their attributes."""
    batch = []
    for i, feature in enumerate(features):
        out = QgsFeature(feature)
        out.setAttributes(feature.attributes() + [column[i] for column in columns])
        batch.append(out)
        if len(batch) == 5000:
            sink.addFeatures(batch, QgsFeatureSink.FastInsert)
            batch = []
    if batch:
        sink.addFeatures(batch, QgsFeatureSink.FastInsert)


def sink_error(algorithm, parameters, name):
    return QgsProcessingException(algorithm.invalidSinkError(parameters, name))


# --- fast path: a GeoPackage file in, a GeoPackage file out ------------------------------------
#
# QGIS's feature sinks cost about 20 us per feature (each QgsFeature converted to an OGR
# feature), and a Python loop over QgsFeatures about as much again: more than the raster work.
# When the input is a plain GeoPackage file (given as a path, no selection or filter) and the
# output a .gpkg path, the features are read by GDAL's Arrow stream (FIDs and WKB as arrays),
# the input file is copied to the output (GDAL's VectorTranslate when the file holds more than
# that layer) and the new fields are filled by SQL UPDATEs in one transaction.
# Anything else takes the QGIS feature-sink path.

FAST_PATH_HELP = (
    "Files: when the input is a GeoPackage file given by its path and the output a .gpkg "
    "file, GDAL reads and writes them directly (much faster than feature by feature); the "
    "output then keeps the input layer's name.")


def fast_gpkg(algorithm, parameters, context, input_name, output_name):
    """``(source path, layer name, output path)`` when the fast path applies, else None."""
    import os

    from qgis.core import QgsProcessingOutputLayerDefinition
    out = parameters.get(output_name)
    if isinstance(out, QgsProcessingOutputLayerDefinition):
        return None
    if not isinstance(out, str) or not out.lower().endswith(".gpkg") or "|" in out:
        return None
    source = gpkg_layer(algorithm, parameters, context, input_name)
    if source is None or (os.path.exists(out) and os.path.samefile(out, source[0])):
        return None
    return source[0], source[1], os.path.abspath(out)


def gpkg_layer(algorithm, parameters, context, input_name):
    """``(path, layer name)`` when parameter ``input_name`` is a plain GeoPackage file's layer
    given by its path (no selection, filter or subset), which GDAL reads directly; else None."""
    import os

    from osgeo import ogr
    from qgis.core import QgsProcessingFeatureSourceDefinition
    value = parameters.get(input_name)
    if isinstance(value, QgsProcessingFeatureSourceDefinition) or not isinstance(value, str):
        return None
    layer = algorithm.parameterAsVectorLayer(parameters, input_name, context)
    if layer is None or layer.providerType() != "ogr" or layer.subsetString():
        return None
    parts = layer.source().split("|")
    path = parts[0]
    if not path.lower().endswith(".gpkg") or not os.path.isfile(path):
        return None
    if os.path.exists(path + "-wal"):
        return None
    options = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    if set(options) - {"layername", "layerid"}:
        return None
    ds = ogr.Open(path)
    if ds is None:
        return None
    if "layername" in options:
        found = ds.GetLayerByName(options["layername"])
    else:
        found = ds.GetLayer(int(options.get("layerid", 0)))
    if found is None or not hasattr(found, "GetArrowStreamAsNumPy"):
        return None
    return path, found.GetName()


def read_arrow(path, layer_name, fixed=False):
    """``(fids int64, geometries)`` of a layer by GDAL's Arrow stream: a list of WKB bytes (or
    None), or with ``fixed`` a (n, size) uint8 array when every WKB has the same size."""
    from osgeo import ogr
    ds = ogr.Open(path)
    layer = ds.GetLayerByName(layer_name)
    column = layer.GetGeometryColumn() or "wkb_geometry"
    fids, geoms = [], []
    stream = layer.GetArrowStreamAsNumPy(options=["INCLUDE_FID=YES", "USE_MASKED_ARRAYS=NO"])
    fid_name = layer.GetFIDColumn() or "OGC_FID"
    for batch in stream:
        fids.append(np.asarray(batch[fid_name], dtype=np.int64))
        geoms.append(batch[column])
    stream = None
    ds = None
    fids = np.concatenate(fids) if fids else np.empty(0, np.int64)
    if fixed and geoms and all(g.dtype.kind == "V" for g in geoms) and \
            len({g.dtype.itemsize for g in geoms}) == 1:
        size = geoms[0].dtype.itemsize
        return fids, np.concatenate(geoms).view(np.uint8).reshape(-1, size)
    out = []
    for g in geoms:
        if g.dtype.kind == "V":
            out.extend(bytes(item) for item in g)
        else:
            out.extend(None if item is None else bytes(item) for item in g)
    return fids, out


def write_gpkg(path, layer_name, out_path, fields, fids, columns, context, output_name):
    """Copy the GeoPackage layer to ``out_path`` and add ``fields`` (``(name, OGR field
    type)``) holding ``columns`` (one list per field, in ``fids`` order; None = NULL)."""
    import os
    import shutil
    import sqlite3

    from osgeo import gdal, ogr
    from qgis.core import QgsProcessingContext
    name = os.path.splitext(os.path.basename(out_path))[0]
    tmp = out_path + ".tilewise-tmp.gpkg"
    if os.path.exists(tmp):
        os.remove(tmp)

    def failed(what):
        if os.path.exists(tmp):
            os.remove(tmp)
        return QgsProcessingException("Could not {} ({}): {}".format(
            what, out_path, gdal.GetLastErrorMsg() or "GDAL gave no reason"))
    src = ogr.Open(path)
    alone = src is not None and src.GetLayerCount() == 1
    src = None
    if alone:  # the file is this layer: copy it whole (its spatial index too)
        shutil.copyfile(path, tmp)
        name = layer_name
    else:
        done = gdal.VectorTranslate(tmp, path, options=gdal.VectorTranslateOptions(
            options=["-preserve_fid"], format="GPKG", layers=[layer_name], layerName=name))
        if done is None:
            raise failed("copy the input layer")
        done = None
    ds = ogr.Open(tmp, 1)
    if ds is None:
        raise failed("open the copy")
    out = ds.GetLayerByName(name)
    for field_name, kind in fields:
        if out.CreateField(ogr.FieldDefn(field_name, kind)) != 0:
            ds = out = None
            raise failed("add field " + field_name)
    fid_column = out.GetFIDColumn() or "fid"
    ds = out = None
    db = sqlite3.connect(tmp)

    def never(*args):  # the R-tree triggers only call these when a FID or geometry changes
        raise sqlite3.OperationalError("a geometry or FID changed in the attribute update")
    for function in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
        db.create_function(function, 1, never)
    try:
        def quote(text):
            return '"{}"'.format(text.replace('"', '""'))
        # a temporary file, renamed into place at the end or removed: no journal, no sync
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        # one UPDATE whose values come from a Python function per field (a dict lookup by
        # FID): twice as fast as a temporary table joined by UPDATE ... FROM
        sets = []
        for i, ((field_name, _), column) in enumerate(zip(fields, columns)):
            db.create_function("tilewise_v{}".format(i), 1, dict(zip(fids.tolist(),
                                                                     column)).get)
            sets.append("{} = tilewise_v{}({})".format(quote(field_name), i, quote(fid_column)))
        db.execute("BEGIN")
        # the table's R-tree and feature-count triggers watch geometries and FIDs, which
        # this update leaves alone: dropped for it and created again from their own SQL in
        # the same transaction (half the time of the update for 200,000 points)
        triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                              "AND tbl_name = ?", (name,)).fetchall()
        for trigger, _ in triggers:
            db.execute("DROP TRIGGER {}".format(quote(trigger)))
        db.execute("UPDATE {} SET {}".format(quote(name), ", ".join(sets)))
        for _, sql in triggers:
            db.execute(sql)
        db.commit()
    except sqlite3.Error as error:
        db.close()
        os.remove(tmp)
        raise QgsProcessingException("Could not write {}: {}".format(out_path, error))
    db.close()
    os.replace(tmp, out_path)
    context.addLayerToLoadOnCompletion(out_path, QgsProcessingContext.LayerDetails(
        name, context.project(), output_name))
    return out_path


def points_of(geoms):
    """``(x, y, parts)`` float64/int arrays from point WKB (read_arrow's geometries): the
    first point of each geometry, NaN for empty or null ones, and its number of points."""
    import struct
    if isinstance(geoms, np.ndarray):  # all 21-byte 2D points (or all the same size)
        n, size = geoms.shape
        if size == 21 and n and (geoms[:, 0] == 1).all() and \
                (geoms[:, 1:5].view("<u4")[:, 0] == 1).all():
            xy = geoms[:, 5:21].copy().view("<f8").reshape(n, 2)
            return xy[:, 0].copy(), xy[:, 1].copy(), np.ones(n, dtype=np.int64)
        geoms = [bytes(g) for g in geoms]
    from ..engine import vector
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    parts = np.zeros(len(geoms), dtype=np.int64)
    for i, wkb in enumerate(geoms):
        if not wkb:
            continue
        try:
            xy, _ = vector.points_from_wkb([wkb])
        except (struct.error, ValueError):
            continue
        parts[i] = len(xy)
        if len(xy):
            x[i], y[i] = xy[0]
    return x, y, parts


# --- swath geolocation: LONGITUDE and LATITUDE rasters in place of the geotransform ----------

LONGITUDE, LATITUDE = "LONGITUDE", "LATITUDE"
SWATH_HELP = (
    "LONGITUDE: optional raster (band 1, degrees, WGS 84) of the same size as the raster, "
    "giving the longitude of each pixel, as swath products (Sentinel-3) do. With it and "
    "LATITUDE the geotransform is not used: the features are reprojected to WGS 84 and "
    "pixels are found by their own coordinates, through a spatial index (longitudes must not "
    "cross the antimeridian). A raster without geotransform whose GDAL metadata has "
    "GEOLOCATION arrays (Sentinel-3 netCDF) uses them without LONGITUDE and LATITUDE.\n"
    "LATITUDE: the latitude of each pixel, likewise; give both or neither.")


def add_swath_parameters(algorithm):
    from qgis.core import QgsProcessingParameterRasterLayer
    for name, label in ((LONGITUDE, "Longitude of each pixel (swath geolocation)"),
                        (LATITUDE, "Latitude of each pixel (swath geolocation)")):
        algorithm.addParameter(QgsProcessingParameterRasterLayer(
            name, algorithm.tr(label), optional=True))


def swath_errors(algorithm, parameters, context, raster_name):
    """Only one of LONGITUDE and LATITUDE, or either not on the raster's grid size."""
    from ..engine import read_profile
    from .checks import file_path
    given = [n for n in (LONGITUDE, LATITUDE) if parameters.get(n)]
    if not given:
        return
    if len(given) == 1:
        missing = LATITUDE if given[0] == LONGITUDE else LONGITUDE
        yield missing, algorithm.tr("give both LONGITUDE and LATITUDE, or neither")
        return
    raster = algorithm.parameterAsRasterLayer(parameters, raster_name, context)
    if raster is None:
        return
    size = (raster.height(), raster.width())
    for name in given:
        layer = algorithm.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            continue
        profile = read_profile(file_path(layer))
        if (profile.height, profile.width) != size:
            yield name, algorithm.tr("it is {} x {} pixels, the raster {} x {}").format(
                profile.width, profile.height, size[1], size[0])


def swath_arrays(rasters, path=None, profile=None):
    """``(lon, lat)`` band-1 arrays of the LONGITUDE and LATITUDE rasters; else, for a raster
    at ``path`` without geotransform, its GDAL GEOLOCATION arrays; else None."""
    if LONGITUDE in rasters and LATITUDE in rasters:
        return rasters[LONGITUDE].array[0], rasters[LATITUDE].array[0]
    from ..engine import vector
    if path is not None and profile is not None and \
            tuple(map(float, profile.transform[:6])) == vector.IDENTITY:
        return vector.geolocation_arrays(path)
    return None


def wgs84():
    from qgis.core import QgsCoordinateReferenceSystem
    return QgsCoordinateReferenceSystem("EPSG:4326")


def swath_extent(lon, lat):
    return QgsRectangle(float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)),
                        float(np.nanmax(lat)))
