"""Tilewise Processing algorithms; ``ALGORITHMS`` is the one list the provider registers."""

from .base import ICON_PATH
from .fillnodata import FillNodata
from .meanfilter import MeanFilter
from .nodatamask import NodataMask

ALGORITHMS = [NodataMask, FillNodata, MeanFilter]

__all__ = ["ALGORITHMS", "ICON_PATH", "FillNodata", "MeanFilter", "NodataMask"]
