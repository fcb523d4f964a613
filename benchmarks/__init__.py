"""Timing and quality benchmarks of the model zoo: ``python -m benchmarks [NAME ...] [--quick]``.

Each family has one module (``bench_dense.py``, ...) exposing ``NAME`` and
``run(quick) -> List[common.Table]``; register it in `benchmarks.__main__.BENCHMARKS`.
"""
