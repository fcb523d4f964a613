"""The benchmarks stay runnable: a quick-mode smoke run of each family (figures come from `make bench`)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_benchmarks_run_in_quick_mode(tmp_path):
    out = tmp_path / "results.md"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "samples/s" in text and "hybrid" in text and "peak RSS" in text
