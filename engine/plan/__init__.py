"""Pipelines: a chain of steps checked, planned and fused into one pass over the tiles."""
