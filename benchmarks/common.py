"""Shared helpers of the benchmarks: timing, machine description and Markdown tables.

A benchmark module (one per model family) exposes ``NAME`` and ``run(quick: bool) -> List[Table]``;
`benchmarks.__main__` runs the selected modules and writes every table to ``benchmarks/out/results.md``.
"""
from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

__all__ = [
    "Table",
    "best_rate",
    "peak_rss_mb",
    "machine_info",
    "fmt_rate",
    "fmt_ratio",
    "ENV_VARS",
    "timed",
    "interleaved_best",
]

#: environment variables that visibly change MXNet's small-op costs; reported as set.
ENV_VARS = ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "MXNET_MKLDNN_ENABLED")


@dataclass
class Table:
    """One Markdown table: a title, column names, rows of already formatted cells and notes."""

    title: str
    columns: Sequence[str]
    rows: List[Sequence[str]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: a row of {len(cells)} cells in a table of "
                             f"{len(self.columns)} columns")
        self.rows.append([str(c) for c in cells])

    def _align(self, column: int) -> str:
        # Numbers right-aligned, text left-aligned (judged on the first row).
        cell = self.rows[0][column] if self.rows else ""
        return "---:" if cell[:1].isdigit() or cell == "-" else "---"

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", "",
                 "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join(self._align(i) for i in range(len(self.columns))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _wait() -> None:
    # MXNet runs asynchronously: a timing must include the work still queued in the engine.
    import mxnet as mx

    mx.nd.waitall()


def best_rate(fn: Callable[[], object], n_samples: int, repeats: int = 3, warmup: int = 1,
              min_time: float = 0.0) -> float:
    """Best throughput (samples/s) of ``fn``, which processes ``n_samples`` per call.

    ``warmup`` untimed calls first (graph building, allocation, caches), then the fastest of at
    least ``repeats`` timed calls, and more until ``min_time`` seconds were timed: the fastest call
    is the one least disturbed by other processes, and short calls need more tries to find it.
    """
    for _ in range(warmup):
        fn()
        _wait()
    best, spent, calls = float("inf"), 0.0, 0
    while calls < max(1, repeats) or spent < min_time:
        start = time.perf_counter()
        fn()
        _wait()
        elapsed = time.perf_counter() - start
        best, spent, calls = min(best, elapsed), spent + elapsed, calls + 1
    return n_samples / best


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> Dict[str, str]:
    """What the figures depend on: CPU, cores, library versions and threading variables."""
    import mxnet as mx
    import numpy as np

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    info = {
        "CPU": _cpu_model(),
        "cores": f"{usable} usable of {os.cpu_count()}",
        "Python": platform.python_version(),
        "MXNet": mx.__version__,
        "numpy": np.__version__,
    }
    try:
        import sklearn

        info["scikit-learn"] = sklearn.__version__
    except ImportError:
        pass
    for name in ENV_VARS:
        info[name] = os.environ.get(name, "(unset)")
    return info


def fmt_rate(value: Optional[float]) -> str:
    """Samples/s with thousands separators; ``-`` when not measured."""
    return "-" if value is None else f"{value:,.0f}"


def fmt_ratio(value: Optional[float]) -> str:
    """A ratio such as ``1.23×``; ``-`` when not measured."""
    return "-" if value is None else f"{value:.2f}×"


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes, including the work it left queued in MXNet's engine."""
    import mxnet as mx

    mx.nd.waitall()
    start = time.perf_counter()
    fn()
    mx.nd.waitall()
    return time.perf_counter() - start


def interleaved_best(fns: Dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> Dict[str, float]:
    """Fastest time (s) of each function over ``rounds`` round-robin rounds, after ``warmup`` untimed
    rounds: each round runs every function once, so a slow spell of the machine hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            timed(fn)
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], timed(fn))
    return best
