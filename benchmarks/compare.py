"""Training throughput of this tree against another git revision, measured in the same run.

A redesign must not make training slower. This runs the named benchmarks (default: every family
with a throughput table) alternately in this working tree and in a checkout of ``--against``
(``git worktree add`` into a temporary directory, removed afterwards), each run in its own
process, ``--rounds`` times each, and keeps the best figure of every cell per tree (the machine's
other load only ever slows a run down). Then it compares, table by table and row by row, every
throughput cell (columns ``hybridized``, ``imperative``, ``ours`` and ``.../s`` rates) that both
trees report: the ratio is this tree's figure over the other's, so below 1 is slower. Cells that
time a baseline (numpy, scikit-learn, a plain Gluon loop) run the same code in both trees and show
how much the two runs differ by chance; columns named as baselines are left out of the summary.

Usage::

    python -m benchmarks.compare --against 8f1e44b dense rbm convolutional

Quality benchmarks that take minutes without timing training (the DQN recipe over five seeds)
are skipped in both trees.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

from .__main__ import BENCHMARKS

#: benchmarks with a training-throughput table (the anomaly benchmark measures ROC-AUC).
THROUGHPUT = ["dense", "rbm", "temporal_rbm", "shape_bm", "convolutional", "recurrent", "transformer",
              "adversarial", "ladder", "drcn", "dqn"]

_THROUGHPUT_COLUMN = re.compile(r"^(hybridized|imperative|ours|.*(samples|steps|updates|seq|frames)/s)$")
# Columns that time a baseline, not this library: the runs' noise, left out of the summary.
_BASELINE_COLUMN = re.compile(r"baseline|RBM CD-1")
_NUMBER = re.compile(r"^[\d,]+(\.\d+)?$")
# Cells that are figures (times, ratios, percentages) rather than names: not part of a row's label.
_FIGURE = re.compile(r"^[\d,.\s/×%-]*$")

# Run in the tree's own directory, so that `benchmarks` and `accelbrainbase` are that tree's.
_CHILD = """
import json, sys
import importlib
name = sys.argv[1]
module = importlib.import_module("benchmarks.bench_" + name)
if hasattr(module, "recipe"):  # minutes of DQN training per seed, no throughput figure
    module.recipe = lambda *args, **kwargs: module.Table("skipped", ["-"])
print("\\n@@TABLES@@" + json.dumps([table.to_markdown() for table in module.run(quick=False)]))
"""

Cells = Dict[Tuple[str, str, str], List[float]]


def _parse(tables: List[str]) -> Cells:
    """``{(table title, row label, column): [numbers]}`` of the throughput cells of Markdown tables
    (a cell may hold several figures separated by `` / ``)."""
    cells: Cells = {}
    for text in tables:
        lines = [line for line in text.splitlines() if line.strip()]
        title = lines[0].lstrip("#").strip().split(" (")[0]
        rows = [line for line in lines if line.startswith("|")]
        if len(rows) < 3:
            continue
        header = [cell.strip() for cell in rows[0].strip("|").split("|")]
        for row in rows[2:]:
            values = [cell.strip() for cell in row.strip("|").split("|")]
            label = " | ".join(value for value in values if not _FIGURE.match(value))
            for column, value in zip(header, values):
                numbers = [part.strip() for part in value.split("/")]
                if _THROUGHPUT_COLUMN.match(column) and numbers and all(_NUMBER.match(n) for n in numbers):
                    cells[(title, label, column)] = [float(n.replace(",", "")) for n in numbers]
    return cells


def _run(tree: str, name: str) -> Cells:
    result = subprocess.run([sys.executable, "-c", _CHILD, name], cwd=tree, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": tree})
    if result.returncode != 0 or "@@TABLES@@" not in result.stdout:
        raise RuntimeError(f"benchmark {name} failed in {tree}:\n{result.stderr[-3000:]}")
    return _parse(json.loads(result.stdout.split("@@TABLES@@")[-1]))


def _best(runs: List[Cells]) -> Cells:
    best: Cells = {}
    for cells in runs:
        for key, numbers in cells.items():
            best[key] = numbers if key not in best else [max(a, b) for a, b in zip(best[key], numbers)]
    return best


def compare(names: List[str], against: str, rounds: int = 2, other_tree: Optional[str] = None) -> str:
    """The Markdown report: one row per throughput cell both trees report, and a summary per
    benchmark (geometric mean and worst ratio of this tree over ``against``). ``other_tree``: an
    existing checkout of ``against`` to use instead of a temporary worktree."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    other = other_tree or tempfile.mkdtemp(prefix="abb-compare-")
    if other_tree is None:
        subprocess.run(["git", "worktree", "add", "--detach", other, against], cwd=here, check=True,
                       capture_output=True)
    lines = [f"## Training throughput: this tree / `{against}` (best of {rounds} alternating runs each)", "",
             "| benchmark | table | row | column | this tree | other | ratio |", "|---|---|---|---|---:|---:|---:|"]
    summary = ["", "| benchmark | cells | geometric mean ratio | worst ratio (cell) |", "|---|---:|---:|---|"]
    try:
        for name in names:
            print(f"comparing {name} ...", file=sys.stderr, flush=True)
            runs: Dict[str, List[Cells]] = {here: [], other: []}
            try:
                for round_ in range(rounds):
                    order = (other, here) if round_ % 2 == 0 else (here, other)
                    for tree in order:
                        runs[tree].append(_run(tree, name))
            except RuntimeError as err:  # e.g. the other revision fails on this machine: say so, go on
                last = str(err).strip().splitlines()[-1]
                where = "this tree" if f"in {here}:" in str(err) else "the other"
                summary.append(f"| {name} | 0 | - | failed in {where}: {last[:150]} |")
                continue
            ours, theirs = _best(runs[here]), _best(runs[other])
            ratios = []
            for key in sorted(set(ours) & set(theirs)):
                for a, b in zip(ours[key], theirs[key]):
                    ratio = a / b
                    if not _BASELINE_COLUMN.search(key[2]):
                        ratios.append((ratio, key))
                    lines.append(f"| {name} | {key[0][:60]} | {key[1][:70]} | {key[2]} | {a:,.0f} | {b:,.0f} | "
                                 f"{ratio:.2f} |")
            print(f"{name}: " + ", ".join(f"{key[1][:40]} {key[2]} {r:.2f}" for r, key in ratios), file=sys.stderr,
                  flush=True)
            if ratios:
                geo = math.exp(sum(math.log(r) for r, _ in ratios) / len(ratios))
                worst, key = min(ratios)
                summary.append(f"| {name} | {len(ratios)} | {geo:.3f} | {worst:.2f} ({key[1][:50]}, {key[2]}) |")
            else:
                summary.append(f"| {name} | 0 | - | no cell in both trees |")
    finally:
        if other_tree is None:
            subprocess.run(["git", "worktree", "remove", "--force", other], cwd=here, capture_output=True)
            shutil.rmtree(other, ignore_errors=True)
    return "\n".join(lines + summary)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks (default {' '.join(THROUGHPUT)})")
    parser.add_argument("--against", required=True, help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="runs per tree (default %(default)s)")
    parser.add_argument("--other-tree", help="an existing checkout of --against (default: a temporary worktree)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    print(compare(args.names or THROUGHPUT, args.against, args.rounds, args.other_tree))
    return 0


if __name__ == "__main__":
    sys.exit(main())
