"""Swath geolocation: pixels located by their own longitude/latitude (Sentinel-3 style), not
by a geotransform. A grid index over the pixel coordinates finds the candidates of a polygon
(point in polygon, even-odd rule) and a k-d tree on the unit sphere the nearest pixel of a
point; neither scans every pixel."""

import numpy as np

from ..core.errors import InputError
from .geometry import Rings, from_wkb
from .parallel import map_batches
from .zonal import STATISTICS, check_statistics, percentile_name

BATCH_FEATURES = 64


def _unit(lon, lat):
    lon, lat = np.radians(lon), np.radians(lat)
    c = np.cos(lat)
    return np.column_stack((c * np.cos(lon), c * np.sin(lon), np.sin(lat)))


class Swath:
    """Pixel centres given by ``lon`` and ``lat`` (rows, cols) arrays, in degrees (NaN: no
    location). ``cell``: side of the index cells in degrees (default: about 4 pixels)."""

    def __init__(self, lon, lat, cell=None):
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if lon.ndim == 3 and lon.shape[0] == 1:
            lon = lon[0]
        if lat.ndim == 3 and lat.shape[0] == 1:
            lat = lat[0]
        if lon.ndim != 2 or lon.shape != lat.shape:
            raise InputError("geolocation", f"longitude {lon.shape} and latitude {lat.shape} "
                             "must be two (rows, cols) arrays of the same shape")
        self.shape = lon.shape
        self.lon, self.lat = lon.reshape(-1), lat.reshape(-1)
        located = np.flatnonzero(np.isfinite(self.lon) & np.isfinite(self.lat))
        if not len(located):
            raise InputError("geolocation", "no pixel has a finite longitude and latitude")
        x, y = self.lon[located], self.lat[located]
        self.x0, self.y0 = x.min(), y.min()
        span = max(x.max() - self.x0, y.max() - self.y0, 1e-12)
        self.cell = float(cell) if cell else max(span * 4 / np.sqrt(len(located)), 1e-12)
        self.nx = int((x.max() - self.x0) // self.cell) + 1
        self.ny = int((y.max() - self.y0) // self.cell) + 1
        ids = ((y - self.y0) // self.cell).astype(np.int64) * self.nx + \
            ((x - self.x0) // self.cell).astype(np.int64)
        order = np.argsort(ids, kind="stable")
        self.pixels = located[order]
        self.starts = np.searchsorted(ids[order], np.arange(self.nx * self.ny + 1))
        self._tree = None

    def candidates(self, xmin, ymin, xmax, ymax):
        """Flat indices of the pixels in the index cells meeting the box (a superset)."""
        i0 = max(int((xmin - self.x0) // self.cell), 0)
        i1 = min(int((xmax - self.x0) // self.cell), self.nx - 1)
        j0 = max(int((ymin - self.y0) // self.cell), 0)
        j1 = min(int((ymax - self.y0) // self.cell), self.ny - 1)
        if i0 > i1 or j0 > j1:
            return np.empty(0, dtype=np.int64)
        parts = [self.pixels[self.starts[j * self.nx + i0]:self.starts[j * self.nx + i1 + 1]]
                 for j in range(j0, j1 + 1)]
        return np.concatenate(parts)

    def inside(self, xy, offsets):
        """Flat indices of the pixels inside one feature's rings (``xy`` vertices, ring
        ``offsets``), by the even-odd rule on their (lon, lat)."""
        if not len(xy):
            return np.empty(0, dtype=np.int64)
        (xmin, ymin), (xmax, ymax) = xy.min(axis=0), xy.max(axis=0)
        cand = self.candidates(xmin, ymin, xmax, ymax)
        px, py = self.lon[cand], self.lat[cand]
        keep = (px >= xmin) & (px <= xmax) & (py >= ymin) & (py <= ymax)
        cand, px, py = cand[keep], px[keep], py[keep]
        odd = np.zeros(len(cand), dtype=bool)
        for r0, r1 in zip(offsets[:-1], offsets[1:]):
            ring = xy[r0:r1]
            x0, y0 = ring[:, 0], ring[:, 1]
            x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
            for a, b, c, d in zip(x0, y0, x1, y1):
                if b == d:
                    continue
                lo, hi = (b, d) if b < d else (d, b)
                hit = (py >= lo) & (py < hi)
                if not hit.any():
                    continue
                sub = np.flatnonzero(hit)
                x = a + (py[sub] - b) * (c - a) / (d - b)
                odd[sub[px[sub] < x]] ^= True
        return cand[odd]

    def nearest(self, lon, lat, max_distance=None):
        """``(flat index, found)`` of the pixel nearest each point (great circle, by a k-d
        tree on the unit sphere). ``max_distance`` in degrees of arc (default: 1.5 times
        the median distance between neighbouring pixels); farther points are not found."""
        from scipy.spatial import cKDTree
        if self._tree is None:
            self._tree = cKDTree(_unit(self.lon[self.pixels], self.lat[self.pixels]))
            # median spacing of neighbouring pixels, along rows and columns
            lon2, lat2 = self.lon.reshape(self.shape), self.lat.reshape(self.shape)
            steps = []
            for a, b in (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                         ((slice(1, None), slice(None)), (slice(None, -1), slice(None)))):
                d = np.linalg.norm(_unit(lon2[a].ravel(), lat2[a].ravel()) -
                                   _unit(lon2[b].ravel(), lat2[b].ravel()), axis=1)
                steps.append(d[np.isfinite(d)])
            steps = np.concatenate(steps)
            self.spacing = float(np.degrees(np.median(steps))) if len(steps) else 0.0
        if max_distance is None:
            max_distance = 1.5 * self.spacing
        points = np.column_stack((np.asarray(lon, np.float64), np.asarray(lat, np.float64)))
        ok = np.all(np.isfinite(points), axis=1)
        index = np.zeros(len(points), dtype=np.int64)
        found = np.zeros(len(points), dtype=bool)
        if ok.any():
            chord = 2 * np.sin(np.radians(max_distance) / 2)
            dist, k = self._tree.query(_unit(points[ok, 0], points[ok, 1]),
                                       distance_upper_bound=chord)
            hit = np.isfinite(dist)
            idx = np.flatnonzero(ok)
            index[idx[hit]] = self.pixels[k[hit]]
            found[idx[hit]] = True
        return index, found


def _statistics_of(v, nodata_count, stats, qs, out, k):
    """Every requested statistic of one feature's valid values ``v`` (float64)."""
    out["count"][k] = len(v)
    if "nodata" in out:
        out["nodata"][k] = nodata_count
    if "sum" in out:
        out["sum"][k] = np.sum(v) if len(v) else 0.0
    if not len(v):
        return
    v = np.sort(v)
    mean = np.mean(v)
    values = {"mean": mean, "median": np.median(v), "min": v[0], "max": v[-1],
              "range": v[-1] - v[0]}
    if stats & {"stdev", "variance"}:
        values["variance"] = np.mean(np.square(v - mean))
        values["stdev"] = np.sqrt(values["variance"])
    if stats & {"minority", "majority", "variety"}:
        first = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
        runs = np.diff(np.r_[first, len(v)])
        values.update(variety=len(first), majority=v[first[np.argmax(runs)]],
                      minority=v[first[np.argmin(runs)]])
    for name in stats:
        if name in values:
            out[name][k] = values[name]
    for q in qs:
        out[percentile_name(q)][k] = np.percentile(v, q)


def swath_zonal_statistics(band, rings, lon, lat, nodata=None, stats=("count", "sum", "mean"),
                           percentiles=(), workers=0, progress=None, cancel=None):
    """``zonal_statistics`` for a swath: a pixel belongs to a polygon when its own (lon, lat)
    lies inside (even-odd rule). ``rings``: a ``Rings`` or a list of WKB in longitude/latitude
    degrees; ``lon``, ``lat``: (rows, cols) like ``band``, or a ``Swath``. Same statistics
    and result as ``zonal_statistics``."""
    from .zonal_tables import _valid
    band = np.asarray(band)
    if band.ndim != 2:
        raise InputError("band", f"expected a (rows, cols) array, got shape {band.shape}")
    stats, qs = check_statistics(stats, percentiles)
    swath = lon if isinstance(lon, Swath) else Swath(lon, lat)
    if swath.shape != band.shape:
        raise InputError("geolocation", f"the geolocation arrays are {swath.shape}, the band "
                         f"is {band.shape}")
    if not isinstance(rings, Rings):
        rings = from_wkb(rings)
    count = rings.count
    out = {name: np.full(count, np.nan) for name in set(stats) | {"count"}}
    for q in qs:
        out[percentile_name(q)] = np.full(count, np.nan)
    flat = band.reshape(-1)
    ring_start = np.searchsorted(rings.feature, np.arange(count + 1))
    wanted = set(stats)

    def batch(start):
        for k in range(start, min(start + BATCH_FEATURES, count)):
            r0, r1 = ring_start[k], ring_start[k + 1]
            offsets = rings.offsets[r0:r1 + 1]
            xy = rings.xy[offsets[0]:offsets[-1]]
            pixels = swath.inside(xy, offsets - offsets[0])
            v = flat[pixels]
            ok = _valid(v, nodata)
            _statistics_of(v[ok].astype(np.float64), int((~ok).sum()), wanted, qs, out, k)
    map_batches(batch, range(0, count, BATCH_FEATURES), workers, progress, cancel)
    return out


def swath_sample_points(array, xy, lon, lat, nodata=None, max_distance=None):
    """``sample_points`` for a swath: the value of the pixel nearest each point (lon, lat in
    degrees); points farther than ``max_distance`` (degrees of arc; default 1.5 pixel
    spacings) from every pixel are not valid. Returns ``(values, valid)`` (n, bands)."""
    from .sampling import sample_points
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    swath = lon if isinstance(lon, Swath) else Swath(lon, lat)
    if swath.shape != array.shape[1:]:
        raise InputError("geolocation", f"the geolocation arrays are {swath.shape}, the "
                         f"raster is {array.shape[1:]}")
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    index, found = swath.nearest(xy[:, 0], xy[:, 1], max_distance)
    h, w = swath.shape
    row, col = np.divmod(index, w)
    # sample the pixels through the identity grid: pixel (row, col) has centre (col+.5, row+.5)
    pixel_xy = np.column_stack((col + 0.5, row + 0.5)).astype(np.float64)
    pixel_xy[~found] = np.nan
    return sample_points(array, pixel_xy, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), nodata)




IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def geolocation_arrays(path):
    """``(lon, lat)`` float64 arrays from the GDAL ``GEOLOCATION`` metadata of the raster at
    ``path`` (as Sentinel-3 netCDF products carry), or None when it has none. Only full
    resolution arrays (offsets 0, steps 1) in geographic coordinates are supported."""
    from osgeo import gdal, osr
    ds = gdal.Open(str(path))
    if ds is None:
        return None
    md = ds.GetMetadata("GEOLOCATION") or {}
    if not md.get("X_DATASET") or not md.get("Y_DATASET"):
        return None
    for key, want in (("PIXEL_OFFSET", 0), ("LINE_OFFSET", 0), ("PIXEL_STEP", 1),
                      ("LINE_STEP", 1)):
        if float(md.get(key, want)) != want:
            raise InputError("geolocation", f"GEOLOCATION arrays with {key}={md[key]} "
                             "(subsampled) are not supported; give full-resolution "
                             "longitude and latitude rasters")
    if md.get("SRS"):
        srs = osr.SpatialReference()
        if srs.SetFromUserInput(md["SRS"]) != 0 or not srs.IsGeographic():
            raise InputError("geolocation", "the GEOLOCATION arrays are not longitudes and "
                             f"latitudes ({md['SRS'][:60]})")
    arrays = []
    for name, band in (("X_DATASET", "X_BAND"), ("Y_DATASET", "Y_BAND")):
        src = gdal.Open(md[name])
        if src is None:
            raise InputError("geolocation", f"cannot open the GEOLOCATION {name} "
                             f"{md[name]!r}")
        values = src.GetRasterBand(int(md.get(band, 1))).ReadAsArray().astype(np.float64)
        if values.shape != (ds.RasterYSize, ds.RasterXSize):
            raise InputError("geolocation", f"the GEOLOCATION {name} is {values.shape[1]} x "
                             f"{values.shape[0]} pixels, the raster {ds.RasterXSize} x "
                             f"{ds.RasterYSize}")
        arrays.append(values)
    return tuple(arrays)


__all__ = ["STATISTICS", "Swath", "geolocation_arrays", "swath_sample_points",
           "swath_zonal_statistics"]
