"""One tile of work, and how to run it wherever it lands (this process or a worker)."""

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np

from ..core.filter import Filter
from ..store.segments import Segment


@dataclass(frozen=True)
class TileJob:
    """Everything needed to compute one tile: small and picklable, never pixels."""

    op: object          # Filter or Reducer
    params: dict
    inputs: tuple       # RasterRef
    outputs: tuple      # RasterRef (empty for a Reducer)
    tile: object        # tiling.Tile
    out_row: int = 0    # the outputs' first row is the tile's row ``out_row`` (a strip's
    #                     output buffers hold its core rows only)


def tile_jobs(op, params, inputs, outputs, tiles):
    """One TileJob per tile of ``tiles``, on the SharedRasters ``inputs`` and ``outputs``."""
    in_refs = tuple(r.ref for r in inputs)
    out_refs = tuple(r.ref for r in outputs)
    return [TileJob(op, params, in_refs, out_refs, tile) for tile in tiles]


class Attachments:
    """A worker's maps of shared segments, kept across tiles until the parent says ``forget``.

    Mapping once per worker instead of once per tile spares the page-table work of every
    tile (a 256-pixel-wide tile of a wide image touches a page per row). Inputs are mapped
    read-only, so filters cannot write to them even by flipping numpy's flag.
    """

    def __init__(self):
        self._maps = {}  # (segment name, writable) -> (Segment, its whole view)

    @contextmanager
    def view(self, ref, writable):
        key = (ref.segment.name, writable)
        if key not in self._maps:
            segment = Segment.attach(ref.segment, writable)
            self._maps[key] = (segment, ref.whole(segment.buffer, writable))
        # a reused strip buffer's refs differ strip by strip: the rows of each
        yield ref.select(self._maps[key][1])

    def forget(self, names):
        """Unmap these segments (the parent released them)."""
        for key in [k for k in self._maps if k[0] in names]:
            segment, view = self._maps.pop(key)
            del view
            segment.close()


def run_job(job, open_view):
    """Compute ``job``; return None for a filter (results are in shared memory) or the partial."""
    with ExitStack() as stack:
        sources = [stack.enter_context(open_view(ref, False)) for ref in job.inputs]
        if not isinstance(job.op, Filter):
            return _reduce(job, sources)
        targets = [stack.enter_context(open_view(ref, True)) for ref in job.outputs]
        _filter(job, sources, targets)
        del sources, targets
    return None


def _filter(job, sources, targets):
    tile = job.tile
    rows, cols = tile.read_slices
    buffers = [s[:, rows, cols] for s in sources]
    profiles = [ref.profile.window(tile.rrow0, tile.rcol0, *tile.read_shape) for ref in job.inputs]
    cores = compute_tile(job.op, job.params, buffers, profiles, tile,
                         [ref.profile for ref in job.outputs])
    rows, cols = tile.core_slices
    rows = slice(rows.start - job.out_row, rows.stop - job.out_row)
    for core, target in zip(cores, targets):
        np.copyto(target[:, rows, cols], core, casting="same_kind")


def compute_tile(op, params, buffers, profiles, tile, out_profiles):
    """Run Filter ``op`` on one tile; return one core array (bands, rows, cols) per output.

    ``buffers`` are the tile's read windows, ``profiles`` their profiles (shifted to the
    window) and ``out_profiles`` the whole-image output profiles. Pure: no shared memory,
    so it runs the same in a worker process, a thread, or a Dask task that read the window
    from the file itself (engine.execution.dask_tasks).
    """
    if op.core_only:
        results = op.func(buffers, profiles, params, tile)
        shape, crop = (tile.row1 - tile.row0, tile.col1 - tile.col0), (slice(None),) * 3
    else:
        results = op.func(buffers, profiles, params)
        shape, crop = tile.read_shape, (slice(None),) + tile.core_in_read
    if isinstance(results, np.ndarray):
        results = [results]
    results = list(results)
    if len(results) != len(out_profiles):
        raise TypeError(f"filter {op.name!r} returned {len(results)} arrays, "
                        f"expected {len(out_profiles)}")
    cores = []
    for i, (profile, result) in enumerate(zip(out_profiles, results)):
        result = np.asarray(result)
        if result.ndim == 2:
            result = result[None]
        expected = (profile.count,) + shape
        if result.shape != expected:
            raise ValueError(f"filter {op.name!r} output {i} has shape {result.shape}, "
                             f"expected {expected} (bands, rows, cols of the tile with margin)")
        cores.append(result[crop])
    return cores


def reduce_tile(op, params, buffers, profiles):
    """Run Reducer ``op`` on one tile's cores (``buffers``, with their ``profiles``)."""
    return op.func(buffers, profiles, params)


def _reduce(job, sources):
    rows, cols = job.tile.core_slices
    buffers = [s[:, rows, cols] for s in sources]
    profiles = [ref.profile.window(job.tile.row0, job.tile.col0, job.tile.row1 - job.tile.row0,
                                   job.tile.col1 - job.tile.col0) for ref in job.inputs]
    return reduce_tile(job.op, job.params, buffers, profiles)
