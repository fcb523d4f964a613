"""Execute the notebooks in demo/ at their full settings and store them with their outputs.

``make notebooks`` runs this script: every ``demo/*.ipynb`` (or only the notebooks named on the command
line) runs top to bottom in a ``python3`` kernel of this interpreter (the project's venv), from the
``demo/`` directory, with this checkout importable and without ``ABB_QUICK``, and is written back with
its outputs, so that a reader sees the figures and the figures of merit without running anything.

The stored notebooks stay small and do not churn needlessly between runs:

- the figures are PNG at a modest DPI: a first cell, executed but never stored, selects matplotlib's
  inline backend, PNG only, and the DPI (``--dpi``);
- no per-cell execution timestamps are recorded, and the notebook-level metadata stays as it was (not
  the kernel's full ``language_info`` with its version numbers);
- consecutive stream outputs of one cell are merged, the carriage-return redraws of the progress
  bars are resolved to their last state, as a notebook front end would show them, and the blank
  standard-error outputs a closing bar leaves are dropped.

A cell error stops that notebook, names the notebook and the cell, and leaves the stored file as it
was; the other notebooks still run, and the exit status is 1. A stored notebook larger than
``--max-kb`` is written but reported, and the exit status is 1 too.
"""
from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import re
import sys
import tempfile
import time
from typing import Dict, List, Optional

import nbclient
import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

DEMO_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(DEMO_DIR)
KERNEL = "python3"
# jupyter_client replaces these kernel commands by the interpreter that starts the kernel.
_SELF_NAMES = {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}

# Executed before the notebook's own cells and removed afterwards: PNG figures at a modest DPI,
# whatever the user's matplotlib or IPython configuration says.
SETUP_CELL = """\
%matplotlib inline
%config InlineBackend.figure_formats = ["png"]
import matplotlib
matplotlib.rcParams["figure.dpi"] = {dpi}
matplotlib.rcParams["savefig.dpi"] = "figure"
"""


def _kernel_runs_this_python() -> bool:
    try:
        argv = KernelSpecManager().get_kernel_spec(KERNEL).argv
    except NoSuchKernel:
        return False
    return argv[0] in _SELF_NAMES or os.path.abspath(argv[0]) == os.path.abspath(sys.executable)


def kernel_environment(jupyter_dir: str) -> Dict[str, str]:
    """The environment variables for the kernel: full settings (no ``ABB_QUICK``), the inline matplotlib
    backend (an inherited ``MPLBACKEND=Agg`` would show no figure), this checkout importable, and a
    ``python3`` kernelspec that runs this interpreter when the one found first would not."""
    changes = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
               "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    os.environ.pop("ABB_QUICK", None)
    os.environ.update(changes)
    if not _kernel_runs_this_python():
        spec_dir = os.path.join(jupyter_dir, "kernels", KERNEL)
        os.makedirs(spec_dir)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (accelbrainbase)", "language": "python"}
        with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
            json.dump(spec, f)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [jupyter_dir, os.environ.get("JUPYTER_PATH")]))
        changes["JUPYTER_PATH"] = os.environ["JUPYTER_PATH"]
        if not _kernel_runs_this_python():
            raise SystemExit(f"cannot make the {KERNEL!r} kernel run {sys.executable}")
    return changes


def _resolve_carriage_returns(text: str) -> str:
    """What a terminal shows of ``text``: on each line, only what follows the last ``\\r``."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def tidy_outputs(nb: nbformat.NotebookNode) -> None:
    """Merge consecutive stream outputs of the same name, resolve the progress bars' redraws, and drop
    the per-cell execution metadata (timestamps)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        merged: List[nbformat.NotebookNode] = []
        for output in cell.outputs:
            if (output.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == output.name):
                merged[-1].text += output.text
            else:
                merged.append(output)
        for output in merged:
            if output.output_type == "stream":
                output.text = _resolve_carriage_returns(output.text)
        # A bar closing after the cell's last print leaves a stderr output of a lone newline.
        cell.outputs = [o for o in merged if not (o.output_type == "stream" and not o.text.strip()
                                                  and (o.name == "stderr" or not o.text))]


def _error_summary(nb: nbformat.NotebookNode) -> Optional[str]:
    """Where the first error output is (the code cell's ordinal, the cell's index among all cells, as
    ``nbformat`` and ruff count them), its source and its traceback without the terminal colours."""
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                source = cell.source if len(cell.source) < 600 else cell.source[:600] + " ..."
                trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output.traceback))
                ordinal = next(k for k, c in enumerate(code_cells, 1) if c is cell)
                return (f"code cell {ordinal} of {len(code_cells)} (cell index {index}, id {cell.get('id')}):\n"
                        f"{source}\n\n{trace}")
    return None


def execute(path: str, dpi: int, timeout: Optional[int]) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` from demo/ and return it with its outputs (the file is untouched).

    Raises:
        RuntimeError: a cell failed; the message names the notebook and the cell.
    """
    nb = nbformat.read(path, as_version=4)
    metadata = copy.deepcopy(nb.metadata)
    setup = nbformat.v4.new_code_cell(SETUP_CELL.format(dpi=dpi))
    setup.id = "execute-notebooks-setup"
    nb.cells.insert(0, setup)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, record_timing=False,
                                     resources={"metadata": {"path": DEMO_DIR}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        nb.cells.pop(0)  # the cell numbers are then those of the stored notebook
        detail = _error_summary(nb) or str(err)
        raise RuntimeError(f"{os.path.basename(path)} failed in {detail}") from None
    except nbclient.exceptions.CellTimeoutError as err:
        raise RuntimeError(f"{os.path.basename(path)}: a cell ran longer than {timeout} s:\n{err}") from None
    except nbclient.exceptions.DeadKernelError as err:
        raise RuntimeError(f"{os.path.basename(path)}: the kernel died (see its messages above): {err}") from None
    nb.cells.pop(0)
    if setup.outputs:
        raise RuntimeError(f"{os.path.basename(path)}: the setup cell printed {setup.outputs}")
    # The setup cell took execution count 1: count the notebook's own cells from 1.
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.execution_count is not None:
            cell.execution_count -= 1
            for output in cell.outputs:
                if "execution_count" in output:
                    output.execution_count = cell.execution_count
    tidy_outputs(nb)
    nb.metadata = metadata
    return nb


def _notebook_paths(names: List[str]) -> List[str]:
    if not names:
        return sorted(glob.glob(os.path.join(DEMO_DIR, "*.ipynb")))
    paths = []
    for name in names:
        candidates = [name, os.path.join(DEMO_DIR, name), os.path.join(DEMO_DIR, name + ".ipynb")]
        found = next((c for c in candidates if c.endswith(".ipynb") and os.path.isfile(c)), None)
        if found is None:
            raise SystemExit(f"no notebook {name!r} in {DEMO_DIR}")
        paths.append(os.path.abspath(found))
    return paths


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (a path or a name in demo/); default: all")
    parser.add_argument("--dpi", type=int, default=72, help="resolution of the stored PNG figures (default 72)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds a single cell may run before it counts as failed (default 3600)")
    parser.add_argument("--max-kb", type=float, default=300.0,
                        help="a stored notebook larger than this is reported as a failure (default 300)")
    args = parser.parse_args(argv)
    paths = _notebook_paths(args.notebooks)

    failures = []
    with tempfile.TemporaryDirectory(prefix="abb-notebooks-") as jupyter_dir:
        kernel_environment(jupyter_dir)
        for path in paths:
            name = os.path.basename(path)
            print(f"{name}: running ...", flush=True)
            started = time.perf_counter()
            try:
                nb = execute(path, args.dpi, args.timeout)
            except RuntimeError as err:
                failures.append(name)
                print(f"{name}: FAILED after {time.perf_counter() - started:.0f} s, not stored\n{err}",
                      file=sys.stderr, flush=True)
                continue
            elapsed = time.perf_counter() - started
            nbformat.validate(nb)
            nbformat.write(nb, path)
            size_kb = os.path.getsize(path) / 1024
            images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
            print(f"{name}: {elapsed:.0f} s, stored {size_kb:.0f} KB, {images} figures", flush=True)
            if size_kb > args.max_kb:
                failures.append(name)
                print(f"{name}: stored size {size_kb:.0f} KB exceeds {args.max_kb:.0f} KB: lower --dpi or "
                      "make the notebook print less", file=sys.stderr, flush=True)
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
