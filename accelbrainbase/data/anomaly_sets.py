"""Real series and data sets for benchmarking anomaly detectors, available offline from packages.

Two sources, both read as plain files:

- statsmodels' bundled series (``co2``, ``sunspots``, ``elnino``, ``nile``, ``macrodata``), installed
  with the demo extra;
- the UCR/UEA files and series that the ``aeon`` wheel ships in ``aeon/datasets/data`` (GunPoint,
  ArrowHead, ItalyPowerDemand, JapaneseVowels, OSULeaf, the UCR anomaly-archive series 135
  "InternalBleeding16", Airline, Lynx, Uschange, Daphnet, ...).
  aeon's own imports do not fit this library's pins (numpy < 1.24), so the wheel is never installed:
  `aeon_wheel` fetches it once with ``pip download --no-deps aeon==1.6.0`` into a cache directory
  (``$ACCELBRAINBASE_DATA`` or ``~/.cache/accelbrainbase``), checks its SHA-256, and the loaders
  read the ``.ts`` / ``.csv`` members straight from the zip file.

`anomaly_task` builds the benchmark's tasks (`ANOMALY_TASKS`) under two documented protocols, as
arrays of windows ``(N, T, F)`` ready for a detector:

- ``"one-class"``: the detector learns from normal data only and scores a test set with real,
  labelled anomalies. For a UCR classification set, one class is normal: its training series are
  the normal data, and every test series is scored (label 1 when it belongs to another class). For
  the UCR anomaly-archive series, the training part is normal and a test window is anomalous when
  it overlaps the labelled anomaly.
- ``"injected"``: a real series without labels is cut chronologically into a training, a validation
  and a test range; every test window is scored twice, as it is and as a copy with one injected
  anomaly (`inject_sensor_anomalies`: a spike, a level shift, a noise burst or a stuck sensor).

The sets fall in two groups. On `TUNING_SETS` (ArrowHead, OSULeaf, Airline, Lynx, Nile, macrodata,
Uschange, Daphnet) EncDec-AD's default recipe is compared with its alternatives
(``python -m benchmarks anomaly_recipe``); the other seven (GunPoint, ItalyPowerDemand,
JapaneseVowels, UCR-anomaly-135, co2, sunspots, elnino) report the recipe
(``python -m benchmarks anomaly``).

In both protocols, the normal data are split into ``train`` (to fit a model) and ``normal`` (held-out normal
windows, to fit the detector's error distribution, EncDec-AD's vN1); nothing in the test range is
used for fitting. ``validation`` / ``validation_labels`` are the ``normal`` windows plus
anomalies injected into a copy of them (another seed): labelled windows that need no test labels,
for choosing settings and thresholds.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["AEON_VERSION", "AEON_SHA256", "DATA_ENV", "SENSOR_ANOMALY_KINDS", "ANOMALY_TASKS", "TUNING_SETS",
           "AnomalyTask", "data_home", "aeon_wheel", "load_ucr", "load_ucr_anomaly_series",
           "inject_sensor_anomalies", "anomaly_task", "anomaly_tasks"]

#: The aeon release whose wheel holds the UCR/UEA files, and the SHA-256 of
#: ``aeon-1.6.0-py3-none-any.whl`` (checked after download and before every read).
AEON_VERSION = "1.6.0"
AEON_SHA256 = "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409"
#: Environment variable naming the cache directory (default ``~/.cache/accelbrainbase``).
DATA_ENV = "ACCELBRAINBASE_DATA"
_MEMBER_ROOT = "aeon/datasets/data/"

#: The anomalies `inject_sensor_anomalies` draws from, in the order of its label codes (1, 2, 3, 4).
SENSOR_ANOMALY_KINDS = ("spike", "level_shift", "noise_burst", "stuck")


def data_home() -> str:
    """The cache directory: ``$ACCELBRAINBASE_DATA`` or ``~/.cache/accelbrainbase``."""
    return os.environ.get(DATA_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "accelbrainbase")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_VERIFIED: Dict[str, bool] = {}


def aeon_wheel(download: bool = True) -> str:
    """Path of the verified ``aeon-1.6.0`` wheel in the cache, fetched on first use.

    The wheel is fetched with the ordinary package client (``python -m pip download --no-deps
    aeon==1.6.0``), from the package index pip is configured for; nothing is installed. A file whose
    SHA-256 differs from `AEON_SHA256` is refused (and removed when this call downloaded it).

    Raises:
        FileNotFoundError: the wheel is not cached and ``download`` is False, or pip could not fetch it.
        ValueError: the wheel's checksum is wrong.
    """
    directory = os.path.join(data_home(), "wheels")
    path = os.path.join(directory, f"aeon-{AEON_VERSION}-py3-none-any.whl")
    if _VERIFIED.get(path):
        return path
    fetched = False
    if not os.path.exists(path):
        if not download:
            raise FileNotFoundError(f"{path} is not cached; call aeon_wheel(download=True) or run "
                                    f"`pip download --no-deps aeon=={AEON_VERSION} -d {directory}`")
        os.makedirs(directory, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                                 f"aeon=={AEON_VERSION}", "-d", directory], capture_output=True, text=True)
        if result.returncode != 0 or not os.path.exists(path):
            raise FileNotFoundError(f"could not fetch aeon=={AEON_VERSION} with pip (is the package index "
                                    f"reachable?): {result.stderr.strip()[-500:]}")
        fetched = True
    digest = _sha256(path)
    if digest != AEON_SHA256:
        if fetched:
            os.remove(path)
        raise ValueError(f"{path} has SHA-256 {digest}, expected {AEON_SHA256}: delete it and fetch it again")
    _VERIFIED[path] = True
    return path


def _read_member(member: str) -> str:
    with zipfile.ZipFile(aeon_wheel()) as wheel:
        return wheel.read(_MEMBER_ROOT + member).decode("utf-8")


def _parse_ts(text: str) -> Tuple[np.ndarray, np.ndarray]:
    """Equal-length series of a ``.ts`` file: ``(N, T, F)`` float32 and labels ``(N,)`` (str)."""
    rows, labels = [], []
    in_data = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        rows.append([[float(v) for v in dim.split(",")] for dim in dims])
        labels.append(label.strip())
    lengths = {len(d) for row in rows for d in row}
    if len(lengths) != 1:
        raise ValueError(f"the series have unequal lengths {sorted(lengths)[:5]}...; only equal-length sets load")
    return np.asarray(rows, np.float32).transpose(0, 2, 1), np.asarray(labels)


#: Sets whose equal-length version is read (the archive's own files have unequal lengths).
_UCR_FILES = {"JapaneseVowels": "JapaneseVowels/JapaneseVowels_eq"}


def load_ucr(name: str, split: str = "train") -> Tuple[np.ndarray, np.ndarray]:
    """A UCR/UEA classification set shipped in the aeon wheel, e.g. ``"GunPoint"``.

    Args:
        name: the set's folder in ``aeon/datasets/data`` (equal-length sets only: GunPoint,
            ArrowHead, ItalyPowerDemand, OSULeaf, ACSF1, BasicMotions, JapaneseVowels (its
            equal-length version, 25 frames), ...).
        split: ``"train"`` or ``"test"`` (the archive's own split).

    Returns:
        ``(x, labels)``: float32 series ``(N, T, F)`` and their class labels ``(N,)`` as strings.

    Example:
        >>> x, y = load_ucr("GunPoint", "train")          # doctest: +SKIP
        >>> x.shape, sorted(set(y))                        # doctest: +SKIP
        ((50, 150, 1), ['1', '2'])
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    stem = _UCR_FILES.get(name, f"{name}/{name}")
    return _parse_ts(_read_member(f"{stem}_{split.upper()}.ts"))


def _csv(member: str) -> Tuple[List[str], Any]:
    import pandas as pd

    frame = pd.read_csv(io.StringIO(_read_member(member)))
    return list(frame.columns), frame


def load_ucr_anomaly_series() -> Tuple[np.ndarray, np.ndarray, int]:
    """Series 135 of the UCR time-series anomaly archive (Wu & Keogh 2021, "InternalBleeding16").

    Returns ``(values (T,), is_anomaly (T,) int, train_end)``: the whole series, its per-step
    labels (one labelled anomaly, steps 4187-4198) and the end of its normal training part (1200).
    """
    _, train = _csv("KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TRAIN.csv")
    _, test = _csv("KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv")
    return (test["value"].to_numpy(np.float64), test["is_anomaly"].to_numpy(np.int64), len(train))



def inject_sensor_anomalies(windows: np.ndarray, kinds: Sequence[str] = SENSOR_ANOMALY_KINDS, *,
                            scale: Optional[np.ndarray] = None,
                            seed: Optional[int] = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Copies of windows with one injected sensor fault each, sized relative to the data's spread.

    For each window one kind is drawn (uniformly from ``kinds``) and one feature is hit; sizes are
    in units of ``scale`` (per feature; default the standard deviation of ``windows``):

    - ``"spike"``: one step moves by 2-4 (either sign);
    - ``"level_shift"``: from a step in the middle half of the window to its end, the level moves
      by 0.75-1.5 (either sign);
    - ``"noise_burst"``: Gaussian noise of standard deviation 0.4-0.8 is added to ``T/8 - T/4``
      consecutive steps (at least 3);
    - ``"stuck"``: the sensor repeats its value for ``T/4 - T/2`` consecutive steps (at least 4).

    Args:
        windows: ``(N, T, F)`` with ``T >= 8``.
        kinds: a subset of `SENSOR_ANOMALY_KINDS`.
        scale: ``(F,)`` sizes' unit per feature, e.g. the training data's standard deviation.
        seed: random seed.

    Returns:
        ``(corrupted, labels)``: float32 ``(N, T, F)`` and int labels ``(N,)``,
        ``1 + SENSOR_ANOMALY_KINDS.index(kind)``.

    Example:
        >>> x, kinds = inject_sensor_anomalies(np.zeros((4, 16, 1)), ("spike",), scale=np.ones(1), seed=0)
        >>> kinds.tolist(), (np.abs(x) > 1.9).sum(axis=(1, 2)).tolist()
        ([1, 1, 1, 1], [1, 1, 1, 1])
    """
    x = np.array(windows, dtype=np.float32)
    if x.ndim != 3 or x.shape[1] < 8:
        raise ValueError(f"windows must be (N, T >= 8, F), got shape {x.shape}")
    unknown = [k for k in kinds if k not in SENSOR_ANOMALY_KINDS]
    if not len(kinds) or unknown:
        raise ValueError(f"unknown anomaly kinds {unknown or kinds!r}; choose from {SENSOR_ANOMALY_KINDS}")
    n, t, f = x.shape
    unit = x.reshape(-1, f).std(axis=0) if scale is None else np.broadcast_to(np.asarray(scale, np.float64), (f,))
    rng = np.random.RandomState(seed)
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n):
        kind = kinds[rng.randint(len(kinds))]
        j = rng.randint(f)
        u = float(unit[j])
        if kind == "spike":
            x[i, rng.randint(t), j] += rng.choice([-1, 1]) * rng.uniform(2.0, 4.0) * u
        elif kind == "level_shift":
            x[i, rng.randint(t // 4, 3 * t // 4):, j] += rng.choice([-1, 1]) * rng.uniform(0.75, 1.5) * u
        elif kind == "noise_burst":
            length = rng.randint(max(3, t // 8), max(4, t // 4) + 1)
            start = rng.randint(0, t - length + 1)
            x[i, start:start + length, j] += rng.randn(length) * rng.uniform(0.4, 0.8) * u
        else:
            length = rng.randint(max(4, t // 4), max(5, t // 2) + 1)
            start = rng.randint(0, t - length + 1)
            x[i, start:start + length, j] = x[i, start, j]
        labels[i] = 1 + SENSOR_ANOMALY_KINDS.index(kind)
    return x, labels


@dataclass
class AnomalyTask:
    """One benchmark task: windows ``(N, T, F)`` to fit on and a labelled test set.

    Attributes:
        name: the task's name (a key of `ANOMALY_TASKS`, with the normal class for one-class sets).
        protocol: ``"one-class"`` or ``"injected"``.
        train: normal windows to fit a model on.
        normal: held-out normal windows (the detector's error distribution, EncDec-AD's vN1).
        test, labels: windows to score and their labels (1 = anomalous).
        validation, validation_labels: ``normal`` plus anomalies of half the test size injected into
            a copy of it (another seed than any test injection): labelled windows that use no test
            label, for choosing settings.
        description: how the windows were made.
    """

    name: str
    protocol: str
    train: np.ndarray
    normal: np.ndarray
    test: np.ndarray
    labels: np.ndarray
    validation: np.ndarray = field(repr=False, default=None)  # type: ignore[arg-type]
    validation_labels: np.ndarray = field(repr=False, default=None)  # type: ignore[arg-type]
    description: str = ""

    def __post_init__(self) -> None:
        if self.validation is None:
            # Half-size anomalies: full-size ones are flagged perfectly on most one-class sets, and a
            # validation figure stuck at 1.0 cannot tell two settings apart.
            scale = 0.5 * self.train.reshape(-1, self.train.shape[-1]).std(axis=0)
            corrupted, _ = inject_sensor_anomalies(self.normal, scale=scale, seed=1001)
            self.validation = np.concatenate([self.normal, corrupted])
            self.validation_labels = np.r_[np.zeros(len(self.normal)), np.ones(len(corrupted))].astype(np.int64)


def _windows(values: np.ndarray, seq_len: int, stride: int) -> np.ndarray:
    from .series import sliding_windows

    return sliding_windows(values, seq_len, stride)


def _chronological(values: np.ndarray, splits: Tuple[float, float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(values)
    a, b = int(splits[0] * n), int((splits[0] + splits[1]) * n)
    return values[:a], values[a:b], values[b:]


def _injected(name: str, values: np.ndarray, seq_len: int, train_stride: int, test_stride: int,
              description: str, splits: Tuple[float, float] = (0.5, 0.2), seed: int = 0) -> AnomalyTask:
    values = np.asarray(values, np.float64)
    if values.ndim == 1:
        values = values[:, None]
    fit_range, normal_range, test_range = _chronological(values, splits)
    train = _windows(fit_range, seq_len, train_stride)
    normal = _windows(normal_range, seq_len, max(1, train_stride))
    clean = _windows(test_range, seq_len, test_stride)
    scale = fit_range.std(axis=0)
    corrupted, _ = inject_sensor_anomalies(clean, scale=scale, seed=seed)
    test = np.concatenate([clean, corrupted])
    labels = np.r_[np.zeros(len(clean)), np.ones(len(corrupted))].astype(np.int64)
    return AnomalyTask(name, "injected", train, normal, test, labels, description=description)


def _split_normal(x: np.ndarray, normal_fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(seed).permutation(len(x))
    k = max(2, int(round(normal_fraction * len(x))))
    return x[order[k:]], x[order[:k]]


#: Classification sets whose series are thinned to every n-th step for the anomaly tasks.
_UCR_STEP = {"OSULeaf": 4}


def _one_class_ucr(name: str, normal_class: Optional[str], normal_fraction: float = 0.3) -> AnomalyTask:
    x_train, y_train = load_ucr(name, "train")
    x_test, y_test = load_ucr(name, "test")
    step = _UCR_STEP.get(name, 1)  # long series thinned: the LSTM's cost grows with every step
    x_train, x_test = x_train[:, ::step], x_test[:, ::step]
    classes = sorted(set(y_train.tolist()))
    normal_class = classes[0] if normal_class is None else str(normal_class)
    if normal_class not in classes:
        raise ValueError(f"{name} has classes {classes}, not {normal_class!r}")
    train, normal = _split_normal(x_train[y_train == normal_class], normal_fraction, seed=0)
    labels = (y_test != normal_class).astype(np.int64)
    return AnomalyTask(f"{name}/{normal_class}", "one-class", train, normal, x_test, labels,
                       description=f"UCR {name}: class {normal_class} normal ({len(train)} + {len(normal)} training "
                                   f"series), all {len(x_test)} test series scored")


def _co2_monthly() -> np.ndarray:
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"].interpolate()
    monthly = weekly.resample("MS").mean().to_numpy()
    return np.diff(monthly)  # month-to-month change: the trend becomes a level, the seasonal cycle stays


def _sunspots() -> np.ndarray:
    import statsmodels.api as sm

    return np.sqrt(sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64))


def _elnino() -> np.ndarray:
    import statsmodels.api as sm

    return sm.datasets.elnino.load_pandas().data.drop(columns=["YEAR"]).to_numpy(np.float64).ravel()


def _airline() -> np.ndarray:
    _, frame = _csv("Airline/Airline.csv")
    return np.diff(np.log(frame["Passengers"].to_numpy(np.float64)))  # monthly growth: the trend becomes a level


def _lynx() -> np.ndarray:
    _, frame = _csv("Lynx/Lynx.csv")
    return np.log10(frame.iloc[:, 1].to_numpy(np.float64))


def _nile() -> np.ndarray:
    import statsmodels.api as sm

    return sm.datasets.nile.load_pandas().data["volume"].to_numpy(np.float64)


def _macrodata() -> np.ndarray:
    import statsmodels.api as sm

    frame = sm.datasets.macrodata.load_pandas().data
    growth = np.diff(np.log(frame[["realgdp", "realcons", "realinv"]].to_numpy(np.float64)), axis=0)
    return np.column_stack([growth, frame[["infl", "unemp"]].to_numpy(np.float64)[1:]])


def _uschange() -> np.ndarray:
    _, frame = _csv("Uschange/Uschange.csv")
    return frame[["Consumption", "Income", "Production", "Savings", "Unemployment"]].to_numpy(np.float64)


def _daphnet() -> np.ndarray:
    _, frame = _csv("Daphnet_S06R02E0/S06R02E0.csv")
    return frame.drop(columns=["timestamp", "is_anomaly"]).to_numpy(np.float64)[::4]  # 64 Hz -> 16 Hz


def _ucr_anomaly(seq_len: int = 64) -> AnomalyTask:
    values, is_anomaly, train_end = load_ucr_anomaly_series()
    fit_part, normal_part = values[:int(0.75 * train_end)], values[int(0.75 * train_end):train_end]
    train, normal = _windows(fit_part, seq_len, 2), _windows(normal_part, seq_len, 2)
    test_values, test_flags = values[train_end:], is_anomaly[train_end:]
    stride = 4
    test = _windows(test_values, seq_len, stride)
    starts = np.arange(len(test)) * stride
    flagged = np.flatnonzero(test_flags)
    labels = ((starts[:, None] <= flagged[None, :]) & (flagged[None, :] < starts[:, None] + seq_len)).any(axis=1)
    return AnomalyTask("UCR-anomaly-135", "one-class", train, normal, test, labels.astype(np.int64),
                       description=f"UCR anomaly archive 135 (InternalBleeding16): the first {train_end} steps "
                                   f"normal; test windows of {seq_len} steps every {stride} steps, anomalous when they "
                                   "overlap the labelled anomaly")


#: name -> (protocol, description) of the benchmark's data sets; `anomaly_tasks` builds their tasks.
ANOMALY_TASKS: Dict[str, Tuple[str, str]] = {
    "GunPoint": ("one-class", "UCR GunPoint (T=150, 2 classes; 24-26 training series per class)"),
    "ArrowHead": ("one-class", "UCR ArrowHead (T=251, 3 classes; 12 training series per class)"),
    "ItalyPowerDemand": ("one-class", "UCR ItalyPowerDemand (T=24, 2 classes; 33-34 training series per class)"),
    "JapaneseVowels": ("one-class", "UEA JapaneseVowels, equal-length version (T=25, F=12, 9 speakers; 30 "
                                    "training series per speaker)"),
    "UCR-anomaly-135": ("one-class", "UCR anomaly archive 135 InternalBleeding16 (1200 normal steps, one "
                                     "labelled anomaly in the 6300 test steps), windows of 64 steps"),
    "co2-monthly": ("injected", "statsmodels co2: monthly means, first differences, windows of 24 months"),
    "sunspots": ("injected", "statsmodels sunspots: yearly, square root, windows of 22 years"),
    "elnino": ("injected", "statsmodels elnino: monthly sea-surface temperatures, windows of 24 months"),
    # The tuning sets (`TUNING_SETS`): the default recipe was chosen on these.
    "OSULeaf": ("one-class", "UCR OSULeaf, every 4th of its 427 steps (T=107, 6 classes; 16-53 training series "
                             "per class)"),
    "airline": ("injected", "aeon Airline passengers: monthly, log growth, windows of 12 months"),
    "lynx": ("injected", "aeon Lynx trappings: yearly, log10, windows of 10 years"),
    "nile": ("injected", "statsmodels nile: yearly river volume, windows of 12 years"),
    "macrodata": ("injected", "statsmodels macrodata: quarterly growth of real GDP, consumption and investment, "
                              "inflation, unemployment (F=5), windows of 12 quarters"),
    "uschange": ("injected", "aeon Uschange: quarterly changes of 5 US series (F=5), windows of 12 quarters"),
    "daphnet": ("injected", "aeon Daphnet S06R02E0: 9 accelerometer channels at 16 Hz (F=9), windows of 32 steps"),
}

#: The sets EncDec-AD's default recipe is compared with its alternatives on (`ANOMALY_TASKS` keys);
#: none of the seven sets that report the recipe's figures is among them.
TUNING_SETS = ("ArrowHead", "OSULeaf", "airline", "lynx", "nile", "macrodata", "uschange", "daphnet")


def _ucr_classes(name: str) -> List[str]:
    return sorted(set(load_ucr(name, "train")[1].tolist()))


def anomaly_task(name: str, normal_class: Optional[str] = None) -> AnomalyTask:
    """One task of the benchmark data set ``name`` (a key of `ANOMALY_TASKS`) as windows ``(N, T, F)``.

    Args:
        name: the data set.
        normal_class: for a UCR/UEA classification set, the class that is normal (default: the
            first of its sorted class labels); `anomaly_tasks` gives every class in turn.

    Example:
        >>> task = anomaly_task("sunspots")
        >>> task.protocol, task.train.shape[1:], task.labels.mean()
        ('injected', (22, 1), 0.5)
    """
    if name not in ANOMALY_TASKS:
        raise ValueError(f"unknown data set {name!r}; choose from {sorted(ANOMALY_TASKS)}")
    if ANOMALY_TASKS[name][0] == "one-class" and name != "UCR-anomaly-135":
        return _one_class_ucr(name, normal_class)
    if normal_class is not None:
        raise ValueError(f"{name} has no classes: normal_class applies to the UCR classification sets")
    if name == "UCR-anomaly-135":
        return _ucr_anomaly()
    injected = {"airline": (_airline, 12, 1, 1), "lynx": (_lynx, 10, 1, 1), "nile": (_nile, 12, 1, 1),
                "macrodata": (_macrodata, 12, 1, 1), "uschange": (_uschange, 12, 1, 1),
                "daphnet": (_daphnet, 32, 2, 4)}
    if name in injected:
        load, seq_len, train_stride, test_stride = injected[name]
        return _injected(name, load(), seq_len, train_stride, test_stride, ANOMALY_TASKS[name][1])
    if name == "co2-monthly":
        return _injected(name, _co2_monthly(), 24, 1, 2, ANOMALY_TASKS[name][1])
    if name == "sunspots":
        return _injected(name, _sunspots(), 22, 1, 1, ANOMALY_TASKS[name][1])
    return _injected(name, _elnino(), 24, 1, 2, ANOMALY_TASKS[name][1])


def anomaly_tasks(name: str) -> List[AnomalyTask]:
    """Every task of the data set ``name``: one per class for a classification set (each class in
    turn is normal; a detector's figure on the set is the mean over them), else the one task.

    Example:
        >>> [task.name for task in anomaly_tasks("GunPoint")]      # doctest: +SKIP
        ['GunPoint/1', 'GunPoint/2']
    """
    if name in ANOMALY_TASKS and ANOMALY_TASKS[name][0] == "one-class" and name != "UCR-anomaly-135":
        return [anomaly_task(name, c) for c in _ucr_classes(name)]
    return [anomaly_task(name)]
