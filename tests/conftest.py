"""Shared fixtures: seeding, contexts, small datasets."""
from __future__ import annotations

import os

# MXNet 1.9.1's threaded engine with oneDNN gives wrong numbers now and then (4 of 10 runs of the
# hybridized check) and occasional segfaults for the ConvLSTM models' convolutions inside
# `foreach` on small frames; the synchronous engine never did (README, "Known MXNet 1.9.1 CPU
# pitfalls"). The suite, its notebooks and subprocesses run on it unless the caller chose an engine.
os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from accelbrainbase.context import seed_everything  # noqa: E402

# Two CPU "devices": MXNet treats cpu(0) and cpu(1) as distinct contexts and refuses mixed-context
# operations, so training on them proves there is no context leak (SPEC §4.2).
CPU_CONTEXTS = {
    "cpu1": mx.cpu(1),
    "cpu0+cpu1": [mx.cpu(0), mx.cpu(1)],
}
GPU_AVAILABLE = mx.context.num_gpus() > 0


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a learning test that takes more than a few seconds")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed():
    seed_everything(0)
    yield


@pytest.fixture(scope="session")
def digits():
    """scikit-learn digits scaled to [0, 1], split 80/20 with random_state=0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, data.target, test_size=0.2, random_state=0)
    return x_train, x_test, y_train, y_test
