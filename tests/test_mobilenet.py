"""MobileNetV2 from gluoncv's zoo as an ObservableData: learns, exposes features, serves as a Q-network."""
from __future__ import annotations

import numpy as np
import pytest

import accelbrainbase as abb
from accelbrainbase.data import ArrayIterator
from accelbrainbase.models import MobileNetV2


def test_mobilenet_learns_a_small_image_task():
    rng = np.random.RandomState(0)
    # Class = which quadrant is bright.
    y = rng.randint(0, 4, 48)
    x = rng.rand(48, 3, 16, 16).astype(np.float32) * 0.2
    for i, c in enumerate(y):
        r, q = divmod(c, 2)
        x[i, :, 8 * r:8 * r + 8, 8 * q:8 * q + 8] += 0.8
    net = MobileNetV2(num_classes=4, multiplier=0.25, learning_rate=1e-3, seed=0)
    net.hybridize()
    net.learn(ArrayIterator(x, y, batch_size=48, epochs=10, seed=0), verbose=False)
    # Training loss (batch statistics); the running BatchNorm statistics need many more steps.
    assert net.loss_arr[-1, 0] < 0.5 * net.loss_arr[0, 0], net.loss_arr[:, 0]
    assert net.extract_feature_points(x[:5]).shape == (5, 1280)


def test_mobilenet_as_a_q_network_block():
    q = abb.get_model("mobilenet_v2", output_dim=2, in_channels=1, multiplier=0.25, seed=0)
    out = q(abb.models.mobilenet.mx.nd.zeros((3, 1, 24, 24)))
    assert out.shape == (3, 2)
    assert q.inference(np.zeros((3, 1, 24, 24), dtype=np.float32)).shape == (3, 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_classes=3, multiplier=0.3), "multiplier"),
    (dict(), "exactly one"),
    (dict(num_classes=1), "at least 2"),
])
def test_bad_hyper_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MobileNetV2(**kwargs)
