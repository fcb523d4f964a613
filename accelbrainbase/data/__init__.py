"""The data layer: extractors, iterators, noise and samplers (SPEC §5)."""
from .extractors import CSVExtractor, ImageExtractor
from .iterators import (
    ArrayIterator,
    LabeledCSVIterator,
    LabeledImageIterator,
    SequenceIterator,
    UnlabeledCSVIterator,
    UnlabeledImageIterator,
)
from .noise import CutoutNoise, GaussNoise, MaskingNoise
from .samplers import ConditionSampler, NormalNoiseSampler, TrueSampler, UniformNoiseSampler
from .synthetic import chord_rolls, horse_silhouettes, moving_digit_sprites, next_frame_baselines
from .synthetic import ANOMALY_KINDS, co2_windows, inject_anomalies
from .synthetic import DOMAIN_SHIFTS, digits_domain_shift

__all__ = [
    "ImageExtractor",
    "CSVExtractor",
    "ArrayIterator",
    "SequenceIterator",
    "LabeledImageIterator",
    "UnlabeledImageIterator",
    "LabeledCSVIterator",
    "UnlabeledCSVIterator",
    "GaussNoise",
    "MaskingNoise",
    "CutoutNoise",
    "NormalNoiseSampler",
    "UniformNoiseSampler",
    "TrueSampler",
    "ConditionSampler",
    "moving_digit_sprites",
    "chord_rolls",
    "next_frame_baselines",
    "horse_silhouettes",
    "co2_windows",
    "inject_anomalies",
    "ANOMALY_KINDS",
    "digits_domain_shift",
    "DOMAIN_SHIFTS",
]
