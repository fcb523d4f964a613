"""The notebooks in demo/: each runs top to bottom without a cell error in quick mode, and each is
stored executed at its full settings (``make notebooks``), with its figures and printed results, so
that it reads without running it."""
from __future__ import annotations

import ast
import base64
import glob
import json
import os
import struct
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
    nb = nbformat.read(path, as_version=4)  # its stored outputs are replaced cell by cell
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": kernel_env}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{os.path.basename(path)} failed:\n{err}")


# ------------------------------------------------------------------ the stored outputs
#: A stored notebook larger than this makes the repository and the docs heavy: lower the DPI of
#: demo/execute_notebooks.py or make the notebook print less.
MAX_STORED_BYTES = 300 * 1024
#: The widest stored figure, in pixels: a 12-inch figure at the executor's 72 DPI is 864.
MAX_FIGURE_WIDTH = 1200
#: What a cell shows when its last line returns a matplotlib object: a missing ``plt.show()`` or ``;``.
#: Calls after which the inline backend shows a figure at the end of the cell.
_DRAWS = {"plt.show", "plt.figure", "plt.subplots", "plt.plot", "plt.hist", "plt.bar", "plt.imshow", "plt.scatter"}
_STRAY_REPRS = ("<Figure", "Text(", "[<matplotlib", "<matplotlib", "(0.0, 1.0")


def _dotted(node) -> str:
    """``plt.show`` for the expression ``plt.show`` (ast.unparse needs Python 3.9)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _calls(source: str, names) -> bool:
    """Whether ``source`` calls one of ``names`` (``print``, ``plt.show``) outside a function body
    (a helper's body runs only where it is called)."""
    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Call) and _dotted(child.func) in names:
                return True
            if walk(child):
                return True
        return False
    return walk(ast.parse(source))


def _shows_value(source: str) -> bool:
    """Whether the cell ends with a bare name, attribute or item (``ctx``, ``SETTINGS``), which IPython
    shows; calls are left out, since many return None."""
    body = ast.parse(source).body
    return (bool(body) and isinstance(body[-1], ast.Expr) and not source.rstrip().endswith(";")
            and isinstance(body[-1].value, (ast.Name, ast.Attribute, ast.Subscript)))


def _png_width(data: str) -> int:
    header = base64.b64decode(data[:64])
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">I", header[16:20])[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[os.path.basename(p) for p in NOTEBOOKS])
def test_notebook_is_stored_executed(path):
    """Every code cell ran, in order, in one session and without an error; every cell that prints or
    shows a figure has that output stored; the figures are PNG of a modest size; the file stays small.
    Reads the file only: ``make notebooks`` stores the outputs."""
    name = os.path.basename(path)
    assert os.path.getsize(path) <= MAX_STORED_BYTES, (
        f"{name} is {os.path.getsize(path) / 1024:.0f} KB stored, more than {MAX_STORED_BYTES // 1024} KB")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.strip()]
    assert code, f"{name} has no code cell"
    hint = "run `make notebooks`"
    counts = [cell.execution_count for _, cell in code]
    assert None not in counts, f"{name}: cells {[i for i, c in code if c.execution_count is None]} never ran: {hint}"
    assert counts == list(range(1, len(code) + 1)), (
        f"{name}: execution counts {counts}: not run top to bottom in one session: {hint}")
    images = 0
    for index, cell in code:
        where = f"{name}, cell {index}"
        kinds = {output.output_type for output in cell.outputs}
        assert "error" not in kinds, f"{where} stored an error: {hint}"
        stdout = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        pngs = [output.data["image/png"] for output in cell.outputs if "image/png" in output.get("data", {})]
        images += len(pngs)
        if _calls(cell.source, {"print"}):
            assert stdout, f"{where} prints but stored no printed output: {hint}"
        if _calls(cell.source, _DRAWS):
            assert pngs, f"{where} draws a figure but stored none: {hint}"
        if _shows_value(cell.source):
            assert "execute_result" in kinds, f"{where} ends with a value to show but stored none: {hint}"
        assert "quick mode True" not in stdout, f"{where} ran in quick mode: {hint}"
        for output in cell.outputs:
            data = output.get("data", {})
            assert not {"image/svg+xml", "application/pdf", "image/jpeg"} & set(data), (
                f"{where} stored a figure in another format than PNG")
            text = data.get("text/plain", "")
            assert not (output.output_type == "execute_result" and text.startswith(_STRAY_REPRS)), (
                f"{where} ends with an expression that shows {text[:40]!r}: end it with `plt.show()` or `;`")
        for png in pngs:
            assert _png_width(png) <= MAX_FIGURE_WIDTH, (
                f"{where} stored a figure {_png_width(png)} pixels wide: lower the executor's DPI")
    assert images, f"{name} stored no figure: {hint}"
