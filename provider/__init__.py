from .provider import TilewiseProvider

__all__ = ["TilewiseProvider"]
