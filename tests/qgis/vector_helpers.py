"""Random polygons and rasterize-based references for the vector tests; QGIS layers (QGIS is
imported by the functions that use it only)."""

import numpy as np
from rasterio.features import rasterize


def star(rng, cx, cy, rmax, n=None, regular=False):
    """A star-shaped ring (simple, possibly concave) around (cx, cy), in pixel units;
    ``regular``: 12 vertices at jittered even angles and radii of 0.6 to 1 ``rmax`` (its
    edges stay further than 0.55 ``rmax`` from the centre)."""
    if regular:
        angles = (np.arange(12) + rng.uniform(-0.3, 0.3, 12)) * np.pi / 6
        radii = rng.uniform(0.6 * rmax, rmax, 12)
    else:
        n = n or int(rng.integers(4, 14))  # gaps under pi: the ring is simple
        angles = (np.arange(n) + rng.uniform(-0.4, 0.4, n)) * 2 * np.pi / n
        radii = rng.uniform(0.2 * rmax, rmax, n)
    return np.column_stack((cx + radii * np.cos(angles), cy + radii * np.sin(angles)))


def random_polygons(rng, count, height, width, transform, rmax=12.0, margin=8.0):
    """``count`` polygons as GeoJSON-like dicts in world coordinates: star-shaped, some with a
    hole, some multipolygons, some partly or wholly outside the grid."""
    a, _, c, _, e, f = transform[:6]

    def world(ring):
        ring = [(c + a * x, f + e * y) for x, y in ring]
        return [list(p) for p in ring + ring[:1]]
    out = []
    for i in range(count):
        cx = rng.uniform(-margin, width + margin)
        cy = rng.uniform(-margin, height + margin)
        r = rng.uniform(1.0, rmax)
        ext = star(rng, cx, cy, r, regular=i % 4 == 1)
        rings = [world(ext)]
        if i % 4 == 1:  # a hole: a small reversed polygon around the centre
            hole = star(rng, cx, cy, 0.4 * r, n=5, regular=True)[::-1]
            rings.append(world(hole))
        if i % 5 == 2:  # a second part, away from the first
            other = star(rng, cx + 2.5 * r, cy - 0.5 * r, 0.6 * r)
            out.append({"type": "MultiPolygon", "coordinates": [rings, [world(other)]]})
        else:
            out.append({"type": "Polygon", "coordinates": rings})
    return out


def to_wkt(geom):
    def ring(r):
        return "(" + ", ".join(f"{x!r} {y!r}" for x, y in r) + ")"

    def poly(p):
        return "(" + ", ".join(ring(r) for r in p) + ")"
    if geom["type"] == "Polygon":
        return "POLYGON " + poly(geom["coordinates"])
    return "MULTIPOLYGON (" + ", ".join(poly(p) for p in geom["coordinates"]) + ")"


def reference_pixels(geom, shape, transform, all_touched=False):
    """bool mask of the pixels rasterize gives ``geom``."""
    return rasterize([(geom, 1)], out_shape=shape, transform=transform,
                     all_touched=all_touched, fill=0, dtype="uint8").astype(bool)


def reference_stats(values):
    """Every statistic of a 1-D array of valid values (float64), as numpy gives them."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return {"count": 0, "sum": 0.0}
    u, c = np.unique(v, return_counts=True)
    return {"count": len(v), "sum": v.sum(), "mean": v.mean(), "median": np.median(v),
            "stdev": v.std(), "min": v.min(), "max": v.max(), "range": v.max() - v.min(),
            "minority": u[np.argmin(c)], "majority": u[np.argmax(c)], "variety": len(u),
            "variance": v.var()}


def save_gpkg(layer, path):
    """Write a QGIS vector layer to a GeoPackage file (QGIS's writer); returns the path."""
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter

    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), QgsCoordinateTransformContext(), options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    return str(path)


def rows_of(layer_or_path, key=0):
    """Attribute lists sorted by attribute ``key``; NULL (QVariant or None) as None."""
    from qgis.core import NULL, QgsVectorLayer

    layer = layer_or_path
    if isinstance(layer_or_path, str):
        layer = QgsVectorLayer(layer_or_path, "out", "ogr")
        assert layer.isValid(), layer_or_path
    rows = [[None if v is None or v == NULL else v for v in f.attributes()]
            for f in layer.getFeatures()]
    return sorted(rows, key=lambda r: r[key])


def memory_layer(uri, name, features, transform=None):
    """A QGIS memory layer (``uri``: geometry type, CRS and fields) holding ``features``,
    (attributes, WKT or None for no geometry) pairs; each geometry transformed by
    ``transform`` (a QgsCoordinateTransform) if given."""
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer(uri, name, "memory")
    made = []
    for attributes, wkt in features:
        feature = QgsFeature(layer.fields())
        feature.setAttributes(attributes)
        if wkt is not None:
            geometry = QgsGeometry.fromWkt(wkt)
            if transform is not None:
                geometry.transform(transform)
            feature.setGeometry(geometry)
        made.append(feature)
    layer.dataProvider().addFeatures(made)
    return layer
