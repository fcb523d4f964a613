"""Timing benchmarks of the model zoo (SPEC §7): ``python -m benchmarks [NAME ...] [--quick]``.

Each family has one module (``bench_dense.py``, ...) exposing ``NAME`` and
``run(quick) -> List[common.Table]``; register it in `benchmarks.__main__.BENCHMARKS`.
"""
