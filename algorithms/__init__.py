"""Tilewise Processing algorithms; ``ALGORITHMS`` is the one list the provider registers."""

from . import edges, focal, morphology, nodata, smoothing, terrain
from .bandmath import BandMath
from .base import ICON_PATH
from .customfilter import CustomFilter
from .geometrymask import GeometryMask
from .nodata import FillNodata, NodataMask
from .pipeline import PipelineAlgorithm
from .samplepoints import SamplePoints
from .smoothing import MeanFilter
from .statistics import RasterStatistics
from .zonalstatistics import ZonalStatistics

ALGORITHMS = [*nodata.ALGORITHMS, MeanFilter, *smoothing.ALGORITHMS, *focal.ALGORITHMS,
              *morphology.ALGORITHMS, *edges.ALGORITHMS, *terrain.ALGORITHMS, BandMath,
              RasterStatistics, CustomFilter, PipelineAlgorithm, ZonalStatistics,
              SamplePoints, GeometryMask]

__all__ = ["ALGORITHMS", "ICON_PATH", "BandMath", "CustomFilter", "FillNodata", "GeometryMask",
           "MeanFilter", "NodataMask", "PipelineAlgorithm", "RasterStatistics", "SamplePoints",
           "ZonalStatistics"]
