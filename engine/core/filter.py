"""What a filter and a reducer are: plain functions plus what the engine needs to tile them."""

from dataclasses import dataclass
from typing import Callable

from .errors import InputError


def _same_as_first(profiles, params):
    return [profiles[0]]


def _no_check(profiles, params):
    return dict(params)


@dataclass(frozen=True)
class Filter:
    """N images -> M images, computed tile by tile.

    ``func(buffers, profiles, params)`` gets read-only (bands, rows, cols) tiles with
    their margins and the tiles' profiles (transform shifted to the tile), and returns
    one array per output, each of the tile's shape. ``margin(params)`` is how far the
    filter reaches, in pixels. ``outputs(profiles, params)`` gives the output profiles
    from the whole-image input profiles. ``check(profiles, params)`` validates the
    parameters before any work starts and returns them with defaults filled in.
    ``releases_gil`` says the filter's work runs with the GIL released (numpy, scipy), so
    the engine runs its tiles on threads; others (GDAL's FillNodata, user scripts) go to
    worker processes.
    ``runs_in_caller`` says the filter may also run in the calling process while worker
    processes run other tiles: the engine's own filters, which cannot crash or hang it. Others
    (a user's script) run only in workers, so that a crash cannot take the caller (QGIS)
    down.
    ``isolated`` says the filter runs only in worker processes, even with one worker or a
    small image (user scripts: a segfault or ``os._exit`` there must not end the caller;
    inputs are mapped read-only there).
    ``preload``: modules that worker processes started for this filter import while
    booting (``Engine.prepare``), rather than at its first tile.
    ``flat_cost`` says the filter's cost per pixel does not depend on the tile's size or
    shape (GDAL's FillNodata), so that an in-memory run cuts it into as few tiles as the
    workers and memory allow, full width: its margins are then recomputed least.
    ``temporaries(profiles)``: bytes the filter holds per pixel of a tile's read window
    beyond its input and output bands, from its input profiles (measured for FillNodata);
    None: TEMP_FACTOR float64 values per band (``tiling.tiles.bytes_per_pixel``). Tiles are
    sized with it where the memory budget is short.
    ``fusable`` says the filter only needs its margin (no global dependency), so a
    Pipeline may run it inside a fused tile pass. ``core_only`` marks engine-internal
    filters whose ``func(buffers, profiles, params, tile)`` returns just the tile's core.
    """

    name: str
    func: Callable
    margin: Callable = None
    outputs: Callable = _same_as_first
    check: Callable = _no_check
    inputs: tuple = (1, 1)  # (min, max) number of input rasters
    releases_gil: bool = False
    runs_in_caller: bool = False
    isolated: bool = False
    preload: tuple = ()
    fusable: bool = True
    core_only: bool = False
    flat_cost: bool = False
    temporaries: Callable = None

    def margin_for(self, params):
        if self.margin is None:
            return 0
        return int(self.margin(params)) if callable(self.margin) else int(self.margin)


@dataclass(frozen=True)
class Reducer:
    """N images -> M scalars: ``func`` per tile core, then ``merge(partials, params)`` in tile order.

    ``func(buffers, profiles, params)`` gets the tiles' cores (read-only) and returns a
    small picklable partial result. ``releases_gil`` and ``runs_in_caller`` as for a Filter.
    """

    name: str
    func: Callable
    merge: Callable
    check: Callable = _no_check
    inputs: tuple = (1, 1)
    releases_gil: bool = False
    runs_in_caller: bool = False


def check_input_count(op, count):
    """InputError unless ``op`` (a Filter or Reducer) takes ``count`` input rasters."""
    low, high = op.inputs
    if not low <= count <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise InputError("inputs", f"{op.name} takes {expected} input rasters, got {count}")
