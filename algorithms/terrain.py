"""Terrain: tilewise:slope, aspect, hillshade, roughness, tri (Horn's 3 x 3, like gdaldem)."""

from ..engine import filters
from .catalogue import CatalogueAlgorithm, Param, filter_algorithm

Z_FACTOR = Param("Z_FACTOR", "z_factor", "Z factor (vertical exaggeration)",
                 "elevations are multiplied by this, > 0 (default 1). For a DEM in a geographic "
                 "CRS (degrees) with elevations in metres use 1/111120 = 0.0000089992800576 "
                 "(gdaldem's -s 111120).", kind="double", default=1.0, minimum=0)


class TerrainAlgorithm(CatalogueAlgorithm):
    GROUP = "terrain"
    ALL_BANDS = False
    NODATA_HELP = ("the 1-pixel image border and every pixel whose 3 x 3 window holds nodata "
                   "or NaN are nodata (as gdaldem without -compute_edges).")
    NOTES = ("Derivatives by Horn's formula; the pixel size comes from the raster's "
             "geotransform, in CRS units. Agrees with gdaldem (GDAL 3.6).")


FLOAT_9999 = "Float32, nodata -9999 (gdaldem's)."

Slope = filter_algorithm(
    "Slope", ID="slope", base=TerrainAlgorithm, DISPLAY_NAME="Slope",
    TAGS="slope,dem,terrain,gradient,steepness,gdaldem",
    FILTER=filters.slope, OUTPUT_LABEL="Slope",
    PARAMS=(Param("UNITS", "units", "Slope units",
                  "degrees (0 to 90) or percent (100 x rise / run).", kind="enum",
                  choices=(("Degrees", "degrees"), ("Percent", "percent"))), Z_FACTOR),
    DESCRIPTION="Slope of a DEM, in degrees or percent.", OUTPUT_HELP=FLOAT_9999)

Aspect = filter_algorithm(
    "Aspect", ID="aspect", base=TerrainAlgorithm, DISPLAY_NAME="Aspect",
    TAGS="aspect,exposition,orientation,dem,terrain,gdaldem",
    FILTER=filters.aspect, OUTPUT_LABEL="Aspect",
    PARAMS=(Param("ZERO_FOR_FLAT", "zero_for_flat", "Return 0 for flat areas",
                  "unchecked (default): flat pixels (no slope) are nodata; checked: they are 0.",
                  kind="bool", default=False),),
    DESCRIPTION="Aspect of a DEM: the direction the slope faces, in degrees, 0 = north, "
                "clockwise (90 = east).", OUTPUT_HELP=FLOAT_9999,
    NOTES=TerrainAlgorithm.NOTES + " Unlike gdaldem aspect -zero_for_flat, ZERO_FOR_FLAT sets "
                                   "only flat pixels to 0, never nodata or border pixels.")

Hillshade = filter_algorithm(
    "Hillshade", ID="hillshade", base=TerrainAlgorithm, DISPLAY_NAME="Hillshade",
    TAGS="hillshade,shaded relief,relief,illumination,dem,terrain,gdaldem",
    FILTER=filters.hillshade, OUTPUT_LABEL="Hillshade",
    PARAMS=(Param("AZIMUTH", "azimuth", "Azimuth of the light (degrees)",
                  "direction the light comes from, in degrees clockwise from north, 0 to 360 "
                  "(default 315 = north-west).", kind="double", default=315.0, minimum=0,
                  maximum=360),
            Param("ALTITUDE", "altitude", "Altitude of the light (degrees)",
                  "height of the light above the horizon, in degrees, 0 to 90 (default 45).",
                  kind="double", default=45.0, minimum=0, maximum=90), Z_FACTOR),
    DESCRIPTION="Shaded relief of a DEM lit from AZIMUTH at ALTITUDE.",
    OUTPUT_HELP="Byte (uint8), 1 (dark) to 255 (lit), nodata 0 (gdaldem's).")

Roughness = filter_algorithm(
    "Roughness", ID="roughness", base=TerrainAlgorithm, DISPLAY_NAME="Roughness",
    TAGS="roughness,dem,terrain,relief,gdaldem", FILTER=filters.roughness,
    OUTPUT_LABEL="Roughness",
    DESCRIPTION="Roughness of a DEM: largest minus smallest elevation of the 3 x 3 window.",
    OUTPUT_HELP=FLOAT_9999)

Tri = filter_algorithm(
    "Tri", ID="tri", base=TerrainAlgorithm, DISPLAY_NAME="Terrain Ruggedness Index (TRI)",
    TAGS="tri,terrain ruggedness index,ruggedness,dem,terrain,gdaldem", FILTER=filters.tri,
    OUTPUT_LABEL="TRI",
    PARAMS=(Param("ALGORITHM", "algorithm", "Algorithm",
                  "Riley et al. 1999 (default; square root of the sum of squared differences "
                  "to the 8 neighbours, for terrain) or Wilson et al. 2007 (mean absolute "
                  "difference, for bathymetry).", kind="enum",
                  choices=(("Riley", "riley"), ("Wilson", "wilson"))),),
    DESCRIPTION="Terrain Ruggedness Index of a DEM: how much each pixel differs from its 8 "
                "neighbours.", OUTPUT_HELP=FLOAT_9999)

ALGORITHMS = [Slope, Aspect, Hillshade, Roughness, Tri]
