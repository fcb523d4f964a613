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


def test_compare_reads_the_throughput_cells_of_a_report():
    """`benchmarks.compare` keys each throughput figure by table, row names and column; figures,
    ratios and times are not part of a row's name, so two runs of a benchmark line up."""
    from benchmarks.common import Table
    from benchmarks.compare import _best, _parse

    def report(rate_a: str, rate_b: str) -> list:
        table = Table("RBM training (`learn`, 3 rounds)", ["data", "path", "epoch s", "samples/s", "hybridized",
                                                           "vs numpy"])
        table.add("digits 64", "fused", "0.015", rate_a, f"{rate_b} / 9,331", "2.06×")
        table.add("digits 64", "numpy float32 CD-1", "0.007", "196,693", "-", "1.00×")
        return [table.to_markdown()]

    first, second = _parse(report("95,291", "7,927")), _parse(report("90,000", "8,100"))
    assert set(first) == set(second) == {("RBM training", "digits 64 | fused", "samples/s"),
                                         ("RBM training", "digits 64 | fused", "hybridized"),
                                         ("RBM training", "digits 64 | numpy float32 CD-1", "samples/s")}
    assert first[("RBM training", "digits 64 | fused", "hybridized")] == [7927.0, 9331.0]
    assert _best([first, second])[("RBM training", "digits 64 | fused", "hybridized")] == [8100.0, 9331.0]
