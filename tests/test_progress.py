"""What a user sees while a model trains: a bar per epoch in Jupyter and on terminals, a line per
epoch when the output is piped, nothing with verbose=0."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = ("import numpy as np\nfrom accelbrainbase.models import AutoEncoder\n"
          "AutoEncoder(8, [4], seed=0).learn(np.random.rand(64, 8).astype('float32'), epochs=3)\n")


def test_a_piped_script_prints_one_line_per_epoch(tmp_path):
    script = SCRIPT
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("AutoEncoder epoch")]
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"], result.stderr
    assert all("train_loss=" in line for line in lines)
    quiet = subprocess.run([sys.executable, "-c", script.replace("epochs=3", "epochs=3, verbose=0")],
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "epoch" not in quiet.stderr



@pytest.mark.slow
def test_a_notebook_cell_shows_every_epoch_with_default_arguments():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SCRIPT)]
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": REPO}})
    client.execute()
    text = "".join(out.get("text", "") for out in nb.cells[0].outputs if out.get("output_type") == "stream")
    for epoch in ("1/3", "2/3", "3/3"):
        finished = [part for part in text.split("\r") if f"AutoEncoder {epoch}: 100%" in part]
        assert finished and "train_loss=" in finished[-1], text
    assert "Warning" not in text, text
