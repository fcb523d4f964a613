"""Every notebook in demo/ runs top to bottom without a cell error, in quick mode."""
from __future__ import annotations

import glob
import json
import os
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DIR = os.path.join(REPO, "demo")
NOTEBOOKS = sorted(glob.glob(os.path.join(DEMO_DIR, "*.ipynb")))
# jupyter_client replaces these kernel commands by the interpreter that starts the kernel.
_SELF_NAMES = {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}


def _kernel_runs_this_python() -> bool:
    try:
        argv = KernelSpecManager().get_kernel_spec("python3").argv
    except NoSuchKernel:
        return False
    return argv[0] in _SELF_NAMES or os.path.abspath(argv[0]) == os.path.abspath(sys.executable)


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """Quick mode, a headless matplotlib, this checkout importable, and a ``python3`` kernel running
    this very interpreter (the project's venv), even when another ``python3`` kernelspec would be
    found first. Returns the (empty) working directory of the kernel."""
    monkeypatch.setenv("ABB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # The kernel runs in a temporary directory: make the package under test importable from there
    # whether or not it is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    if not _kernel_runs_this_python():
        spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
        spec_dir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (tests)", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    assert _kernel_runs_this_python()
    workdir = tmp_path / "run"
    workdir.mkdir()
    return str(workdir)


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {DEMO_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
        f"{os.path.basename(path)} is committed with outputs: clear them")
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": kernel_env}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{os.path.basename(path)} failed:\n{err}")
