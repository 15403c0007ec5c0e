"""Window arithmetic shared by tiles, strips and fused pipelines.

A window is ``(row0, row1, col0, col1)``: half-open rows and columns, in the pixels of the
image (or of the buffer it is counted in). Growing a window by a margin clips it to the
image, so that a filter's own border handling there is the one of the whole image.
"""


def grow(window, by, height, width):
    """``window`` grown by ``by`` pixels on every side, clipped to ``height`` x ``width``."""
    row0, row1, col0, col1 = window
    return (max(0, row0 - by), min(height, row1 + by), max(0, col0 - by), min(width, col1 + by))


def crop(array, window, to):
    """The part of ``array`` (bands, rows, cols), which covers ``window``, that covers the
    window ``to`` (inside it)."""
    return array[:, to[0] - window[0]:to[1] - window[0], to[2] - window[2]:to[3] - window[2]]


def shift_rows(window, rows):
    """``window`` with ``rows`` added to its row bounds (a buffer's rows to the image's)."""
    row0, row1, col0, col1 = window
    return (row0 + rows, row1 + rows, col0, col1)
