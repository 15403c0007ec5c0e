"""What the vector algorithms share: features to plain arrays for the engine, and back."""

import math

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
    xs = [c, c + a * profile.width, c + b * profile.height, c + a * profile.width + b * profile.height]
    ys = [f, f + d * profile.width, f + e * profile.height, f + d * profile.width + e * profile.height]
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
