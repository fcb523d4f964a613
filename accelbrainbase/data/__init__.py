"""The data layer: extractors, iterators, adapters for any data a Gluon user has, noise and samplers."""
from .adapters import DataIterData, LoaderData, NoisyData, ShardedData, apply_noise, as_iteratable
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
from .samplers import ConditionSampler, DeviceSampler, NormalNoiseSampler, TrueSampler, UniformNoiseSampler, draw_rows
from .series import sliding_windows, windows_to_steps
from .synthetic import (
    ANOMALY_KINDS,
    DOMAIN_SHIFTS,
    chord_rolls,
    co2_windows,
    digits_domain_shift,
    horse_silhouettes,
    inject_anomalies,
    moving_digit_sprites,
    next_frame_baselines,
)

__all__ = [
    "as_iteratable",
    "LoaderData",
    "DataIterData",
    "NoisyData",
    "ShardedData",
    "apply_noise",
    "ImageExtractor",
    "CSVExtractor",
    "ArrayIterator",
    "SequenceIterator",
    "LabeledImageIterator",
    "UnlabeledImageIterator",
    "LabeledCSVIterator",
    "UnlabeledCSVIterator",
    "sliding_windows",
    "windows_to_steps",
    "GaussNoise",
    "MaskingNoise",
    "CutoutNoise",
    "DeviceSampler",
    "draw_rows",
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
