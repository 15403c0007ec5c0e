"""Where pixels live: shared-memory segments (``segments``, the one owner of a segment's
lifecycle: create, attach, forget, release, sweep), shared rasters (``raster``) and the
process-wide cache of written rasters (``cache``)."""
