"""The package as a user meets it: the README quickstart, the demo entry point, module hygiene."""
from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys

import pytest

import accelbrainbase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_module_declares_all():
    for info in pkgutil.walk_packages(accelbrainbase.__path__, "accelbrainbase."):
        module = importlib.import_module(info.name)
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"


def test_no_gpu_default_anywhere():
    for info in pkgutil.walk_packages(accelbrainbase.__path__, "accelbrainbase."):
        source = open(importlib.import_module(info.name).__file__).read()
        assert not re.search(r"ctx\s*=\s*mx\.gpu\(", source), info.name


def test_readme_starts_with_the_two_commands():
    readme = open(os.path.join(ROOT, "README.md")).read()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    assert "make demo" in first_block and "make test" in first_block


def test_readme_tables_are_whole():
    """Every Markdown table of the README has a header, a separator, at least one row, and as many
    cells in each row as in its header (a table cut short by an edit fails here)."""
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    tables, current, in_code = [], [], False
    for line in lines + [""]:
        in_code ^= line.startswith("```")
        if line.startswith("|") and not in_code:
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) > 10

    def cells(row):
        return len(re.split(r"(?<!\\)\|", row.strip().strip("|")))

    for table in tables:
        where = table[0][:80]
        assert len(table) >= 3, f"table without rows: {where}"
        assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1].strip()), f"no separator row: {where}"
        assert {cells(row) for row in table} == {cells(table[0])}, f"ragged table: {where}"


@pytest.mark.slow
def test_readme_quickstart_runs_as_written(tmp_path, monkeypatch):
    readme = open(os.path.join(ROOT, "README.md")).read()
    code = re.search(r"## Quickstart\n\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README quickstart", "exec"), namespace)
    assert namespace["clf"].history["test_accuracy"][-1] > 0.9
    assert namespace["ae"].loss_arr[-1, 1] < 0.074
    assert (tmp_path / "ae.params").exists()


@pytest.mark.slow
def test_demo_writes_its_figures(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "accelbrainbase.demo", "--quick", "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "AutoEncoder" in result.stdout and "test accuracy" in result.stdout
    assert "log Z exact" in result.stdout
    assert "DBM 64-16-8" in result.stdout
    from accelbrainbase.demo import SECTIONS

    for section in SECTIONS:
        assert f"== {section} (" in result.stdout, f"section {section} did not run"
    for name in ("dense_loss.png", "dense_reconstructions.png", "rbm.png", "dbm.png", "temporal_rbm.png",
                 "shape_bm.png", "cnn.png", "cae.png", "ladder.png", "encdec_ad.png", "conv_lstm.png", "gan.png",
                 "aae.png", "dqn.png"):
        assert (out / name).stat().st_size > 1000, name


def test_demo_rejects_unknown_sections():
    result = subprocess.run([sys.executable, "-m", "accelbrainbase.demo", "nosuch"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode != 0 and "unknown section" in result.stderr
