"""Reducers on raster files, on the Dask cluster: :func:`reduce_files` runs a reducer on the
tiles an in-memory ``Engine.reduce`` uses and merges the partials in tile order, so results
are the same bit for bit; :func:`file_statistics` runs every pass of ``band_statistics``
that way.
"""

import os
import time

from .dask_backend import IN_FLIGHT_PER_WORKER, _absolute, _remember, _Run, _where, group_tiles
from .dask_cluster import cluster_of


def reduce_files(eng, reducer, sources, **params):
    """``Engine.reduce`` of ``reducer`` on the files ``sources``, on the Dask cluster.

    The tiles are those ``Engine.reduce`` uses on the same images with the same Engine
    settings (workers, tile_size, memory budget), and partials merge in tile order: the
    result is the in-memory one, bit for bit.
    """
    from .stream import check_sources
    from ..tiling.tiles import bytes_per_pixel
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = [_absolute(path) for path in sources]
    profiles, params, _ = check_sources(reducer, sources, params)
    cluster = cluster_of(eng)
    workers = cluster.ready()
    cpu0 = cluster.scheduler_cpu()
    started = time.perf_counter()
    first = profiles[0]
    tiles = eng.tiles(first.height, first.width, 0, bytes_per_pixel(profiles))  # as in memory
    groups = group_tiles(tiles, first.width, workers)
    partials = [None] * len(tiles)
    run = _Run(eng, cluster, reducer, "reduce")
    limit = IN_FLIGHT_PER_WORKER * workers
    done_tiles, next_group = 0, 0
    eng.report(0.0)
    try:
        while next_group < len(groups) or run.futures:
            while next_group < len(groups) and len(run.futures) < limit:
                run.submit(next_group, reducer, params, sources, profiles, [],
                           groups[next_group])
                next_group += 1
            for index in run.finished():
                for tile_index, partial in run.take(index, groups[index]):
                    partials[tile_index] = partial
                    done_tiles += 1
                eng.report(done_tiles / len(tiles))
    finally:
        run.cancel()
    elapsed = time.perf_counter() - started
    _remember(eng, run, cluster, workers, len(tiles), elapsed, cpu0, 0.0)
    eng.say(f"{reducer.name}: {len(tiles)} tile{'s' if len(tiles) != 1 else ''} in "
            f"{run.stats['tasks']} tasks {_where(cluster, workers)} in {elapsed:.2f} s")
    return reducer.merge(partials, params)


class FileRaster:
    """Stands for raster files in ``statistics.band_statistics`` run on Dask."""

    def __init__(self, sources):
        from ..io.reading import read_profile
        self.sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
        self.profile = read_profile(self.sources[0])


class _FileReducing:
    def __init__(self, eng):
        self.eng = eng

    def reduce(self, reducer, raster, **params):
        return reduce_files(self.eng, reducer, raster.sources, **params)


def file_statistics(eng, path, **kwargs):
    """``band_statistics`` of the raster file ``path``, every pass on the Dask cluster."""
    from ..ops.statistics import band_statistics
    return band_statistics(_FileReducing(eng), FileRaster(path), **kwargs)


__all__ = ["FileRaster", "file_statistics", "reduce_files"]
