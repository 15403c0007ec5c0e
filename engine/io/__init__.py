"""Files: reading rasters into arrays, writing arrays to rasters, GDAL creation options and
the capture of the errors GDAL logs without raising."""
