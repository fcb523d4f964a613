"""The data layer: extractors, iterators, noise and samplers (SPEC §5)."""
from .iterators import ArrayIterator

__all__ = ["ArrayIterator"]
