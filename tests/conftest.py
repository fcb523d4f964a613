"""Shared fixtures: seeding, contexts, small datasets."""
from __future__ import annotations

import os

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase.context import seed_everything

# Two CPU "devices": MXNet treats cpu(0) and cpu(1) as distinct contexts and refuses mixed-context
# operations, so training on them proves there is no context leak.
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
