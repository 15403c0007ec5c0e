"""One lock for the engine's GDAL reads and writes of raster files in this process.

GDAL's block cache is process-wide. When it is full, a thread reading one dataset flushes
the dirty blocks of a dataset that another thread is writing, and a pixel-interleaved
GeoTIFF then loses the other bands of that block: GDAL #2011, fixed in part by #2015,
whose author warns "there could still be problems if the block cache size is too small
regarding the number of threads". Measured here (GDAL 3.6): a stream reading strip k + 1
on one thread while writing strip k - 1 on another, with the cache held small, wrote
zeros in band 2 of one strip in about 3 runs in 1000.

``read_into``, ``RasterWriter`` and ``write_raster`` take ``GDAL_IO`` for every call that
goes through the block cache, so that no two of them touch it at once; computing still
overlaps both. Decoding threads inside one ``read_into`` read their own datasets (clean
blocks only) under the lock of the call.
"""

import threading

GDAL_IO = threading.RLock()
