"""The documentation site (``make docs``) builds offline without a warning and documents every
public name of the package on a page of its own."""
from __future__ import annotations

import glob
import importlib
import inspect
import os
import re
import subprocess
import sys
import zlib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
PACKAGES = ["accelbrainbase", "accelbrainbase.data", "accelbrainbase.models", "accelbrainbase.controllers"]


def _read_inventory(path: str) -> dict:
    """``{(role, name): uri}`` from Sphinx's objects.inv (four header lines, then zlib text)."""
    with open(path, "rb") as f:
        for _ in range(4):
            f.readline()
        text = zlib.decompress(f.read()).decode()
    entries = {}
    for line in text.splitlines():
        match = re.match(r"(\S+)\s+(\S+)\s+-?\d+\s+(\S+)\s", line + " ")
        if match:
            name, role, uri = match.groups()
            entries[(role, name)] = uri[:-1] + name if uri.endswith("$") else uri
    return entries


def _api_page_modules() -> set:
    names = set()
    for page in glob.glob(os.path.join(DOCS, "api", "*.rst")):
        names.update(re.findall(r"^\s*\.\. abb-module::\s*(\S+)\s*$", open(page).read(), re.M))
    return names


def test_every_module_is_on_an_api_page():
    """Fast twin of the build's own check: a new module must be placed in a group of docs/api/."""
    import pkgutil

    import accelbrainbase

    named = _api_page_modules()
    missing = [info.name for info in pkgutil.walk_packages(accelbrainbase.__path__, "accelbrainbase.")
               if not info.ispkg and not info.name.startswith("accelbrainbase.demo")
               and not info.name.rsplit(".", 1)[-1].startswith("_") and info.name not in named]
    assert not missing, f"add '.. abb-module:: <name>' to a page of docs/api/ for: {missing}"
    for name in named:
        importlib.import_module(name)  # a page naming a module that is gone fails here too


@pytest.mark.slow
def test_docs_build_without_warnings_and_document_every_public_name(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    out = tmp_path / "html"
    env = dict(os.environ, MPLBACKEND="Agg")
    # -W: any warning fails (broken markup, a reference to a name of the package that does not
    # exist, a module on no page); --keep-going lists them all. No network is used.
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), DOCS, str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the docs build failed:\n{proc.stderr[-6000:]}\n{proc.stdout[-2000:]}"
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr[-6000:]

    inventory = _read_inventory(str(out / "objects.inv"))
    missing, without_page = [], []
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        for name in pkg.__all__:
            if name == "__version__":
                continue
            obj = getattr(pkg, name)
            if inspect.isclass(obj):
                roles = ("py:class", "py:exception")
            elif callable(obj):
                roles = ("py:function",)
            else:
                roles = ("py:data",)
            names = [f"{package}.{name}"]
            if hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
                names.append(f"{obj.__module__}.{obj.__qualname__}")
            # A name re-exported by two packages (draw_rows) is documented once, under the first.
            names += [f"{other}.{name}" for other in PACKAGES
                      if getattr(importlib.import_module(other), name, None) is obj]
            uris = [inventory[(role, n)] for role in roles for n in names if (role, n) in inventory]
            if not uris:
                missing.append(f"{package}.{name}")
                continue
            page = uris[0].split("#", 1)[0]
            # Every public class and function has a page of its own, named after it.
            if not (out / page).is_file() or not page.startswith("api/generated/") \
                    or not page.endswith(f".{name}.html"):
                without_page.append(f"{package}.{name} -> {page}")
    assert not missing, f"public names with no entry in the API reference: {missing}"
    assert not without_page, f"public names without a page of their own: {without_page}"

    for notebook in glob.glob(os.path.join(ROOT, "demo", "*.ipynb")):
        stem = os.path.splitext(os.path.basename(notebook))[0]
        assert (out / "notebooks" / f"{stem}.html").is_file(), f"notebook {stem} is not on the site"
    guide = (out / "guide.html").read_text()
    assert "Quickstart" in guide and 'href="design.html' in guide  # the README, its link resolved
    assert (out / "design.html").is_file()
