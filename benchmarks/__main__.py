"""Run benchmarks, print a Markdown report and write it to ``benchmarks/out/results.md``.

Usage::

    python -m benchmarks                 # every benchmark
    python -m benchmarks dense --quick   # one family, tiny sizes (smoke test)
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from typing import Dict, List, Optional

from .common import machine_info, peak_rss_mb


def _find_benchmarks() -> Dict[str, str]:
    """Every ``bench_<name>.py`` beside this file, ordered by its ``ORDER`` (then by name)."""
    found = []
    for info in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f".{info.name}", __package__)
            found.append((getattr(module, "ORDER", 100), info.name[len("bench_"):], f".{info.name}"))
    return {name: module for _, name, module in sorted(found)}


#: benchmark name -> module (relative to this package); a family adds a ``bench_<name>.py`` file
#: with ``ORDER`` and ``run(quick) -> list of Table``.
BENCHMARKS = _find_benchmarks()

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "results.md")


def report(names: List[str], quick: bool) -> str:
    """Run the benchmarks ``names`` and return the Markdown report."""
    sections = []
    start = time.perf_counter()
    for name in names:
        module = importlib.import_module(BENCHMARKS[name], __package__)
        print(f"running {name} benchmark{' (quick)' if quick else ''} ...", file=sys.stderr, flush=True)
        sections += [table.to_markdown() for table in module.run(quick=quick)]
    elapsed = time.perf_counter() - start
    machine = "\n".join(f"| {key} | {value} |" for key, value in machine_info().items())
    header = (f"## Benchmarks{' (quick mode: tiny sizes, not representative)' if quick else ''}\n\n"
              f"| machine | |\n|---|---|\n{machine}\n"
              f"| peak RSS of the run | {peak_rss_mb():.0f} MiB |\n| wall time | {elapsed:.0f} s |\n")
    return "\n".join([header] + sections)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="Markdown file to write (default %(default)s)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    text = report(args.names or list(BENCHMARKS), args.quick)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
