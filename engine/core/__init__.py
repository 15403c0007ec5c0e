"""The engine's vocabulary, imported by every other part: errors, profiles (grid, CRS,
dtype, nodata), Filter and Reducer, and the ``TILEWISE_*`` environment reader."""
