"""The flagship demo behind ``make demo``: train zoo models on bundled data, write figures, summarise.

Usage::

    python -m accelbrainbase.demo                 # every section, figures in demo/out/
    python -m accelbrainbase.demo dense --quick   # one section, a few epochs
    python -m accelbrainbase.demo --list

Each family adds one module to this package holding ``ORDER`` (its position) and
``section(out_dir, quick) -> list of summary lines``; `SECTIONS` finds them. Needs the demo extras
(``pip install accelbrainbase[demo]``).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from typing import Callable, Dict, List, Optional

__all__ = ["SECTIONS", "main"]

_NOT_SECTIONS = {"common", "__main__"}


def _find_sections() -> Dict[str, Callable[[str, bool], List[str]]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_SECTIONS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append((module.ORDER, info.name, module.section))
    return {name: fn for _, name, fn in sorted(found)}


#: section name -> ``section(out_dir, quick)``, in demo order.
SECTIONS: Dict[str, Callable[[str, bool], List[str]]] = _find_sections()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accelbrainbase.demo", description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="*", help=f"sections to run (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("ABB_QUICK") == "1",
                        help="a few epochs only (also ABB_QUICK=1)")
    parser.add_argument("--out", default=os.path.join("demo", "out"), help="figure directory (default demo/out)")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in SECTIONS.items():
            print(f"{name:{max(map(len, SECTIONS))}s}  {(fn.__doc__ or '').strip()}")
        return 0
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    try:
        import matplotlib
        import sklearn  # noqa: F401
    except ImportError as err:
        print(f"the demo needs the demo extras: pip install 'accelbrainbase[demo]' ({err})", file=sys.stderr)
        return 1
    matplotlib.use("Agg")
    os.makedirs(args.out, exist_ok=True)
    for name in args.sections or list(SECTIONS):
        start = time.time()
        lines = SECTIONS[name](args.out, args.quick)
        print(f"== {name} ({time.time() - start:.1f} s)")
        for line in lines:
            print("  " + line)
    print(f"figures written to {os.path.abspath(args.out)}")
    return 0
