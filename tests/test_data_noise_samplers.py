"""Noise (imperative and inside a hybridized block) and samplers."""
import json

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase.data import (
    ArrayIterator,
    ConditionSampler,
    CutoutNoise,
    GaussNoise,
    MaskingNoise,
    NormalNoiseSampler,
    TrueSampler,
    UniformNoiseSampler,
)
from accelbrainbase.data.samplers import DeviceSampler, draw_rows
from accelbrainbase.interfaces import NoiseableData, SamplableData


@pytest.fixture(autouse=True)
def _seed():
    mx.random.seed(0)
    np.random.seed(0)


# ------------------------------------------------------------------------------------------------ noise


def test_gauss_noise_statistics():
    out = GaussNoise(sigma=0.3).noise(mx.nd.ones((200, 500))).asnumpy()
    assert out.shape == (200, 500)
    assert abs(out.mean() - 1.0) < 0.01
    assert abs(out.std() - 0.3) < 0.01


def test_masking_noise_fraction():
    out = MaskingNoise(p=0.3).noise(mx.nd.ones((200, 500))).asnumpy()
    assert set(np.unique(out)) == {0.0, 1.0}
    assert abs((out == 0).mean() - 0.3) < 0.01
    np.testing.assert_array_equal(MaskingNoise(p=0.0).noise(mx.nd.ones((4, 4))).asnumpy(), 1)


def test_cutout_zeros_one_square_per_sample():
    out = CutoutNoise(size=4).noise(mx.nd.ones((64, 1, 16, 16))).asnumpy()
    zeros = out == 0
    np.testing.assert_array_equal(zeros.sum(axis=(1, 2, 3)), 16)
    rows, cols = zeros.any(axis=(1, 3)), zeros.any(axis=(1, 2))  # (N, 16) each
    np.testing.assert_array_equal(rows.sum(axis=1), 4)  # contiguous 4x4 square, not scattered pixels
    np.testing.assert_array_equal(cols.sum(axis=1), 4)
    tops = rows.argmax(axis=1)
    assert tops.min() == 0 or tops.max() == 12  # corners reach the borders ...
    assert len(set(tops)) > 5  # ... and vary between samples


def test_cutout_covers_every_channel_and_rank_3():
    out = CutoutNoise(size=3).noise(mx.nd.ones((8, 3, 10, 10))).asnumpy()
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    np.testing.assert_array_equal(out[:, 0], out[:, 2])
    out3 = CutoutNoise(size=3).noise(mx.nd.ones((8, 10, 10))).asnumpy()
    np.testing.assert_array_equal((out3 == 0).sum(axis=(1, 2)), 9)
    big = CutoutNoise(size=20).noise(mx.nd.ones((2, 1, 5, 6))).asnumpy()
    np.testing.assert_array_equal(big, 0)


def test_cutout_rejects_vectors():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(4, 8\)"):
        CutoutNoise(2).noise(mx.nd.ones((4, 8)))


class _Noisy(mx.gluon.HybridBlock):
    def __init__(self, noise):
        super().__init__()
        self.noise = noise
        self.conv = mx.gluon.nn.Conv2D(3, kernel_size=1)

    def hybrid_forward(self, F, x):
        return F.mean(self.conv(self.noise.noise(x, F)), axis=(2, 3))


class _NoiseOnly(mx.gluon.HybridBlock):
    def __init__(self, noise):
        super().__init__()
        self.noise = noise

    def hybrid_forward(self, F, x):
        return self.noise.noise(x, F)


@pytest.mark.parametrize("noise", [GaussNoise(0.1), MaskingNoise(0.3), CutoutNoise(3)])
def test_noise_hybridizes(noise):
    assert isinstance(noise, NoiseableData)
    block = _Noisy(noise)
    block.initialize()
    block.hybridize()
    for shape in ((4, 2, 8, 8), (5, 2, 6, 7)):  # a second shape: nothing is baked into the graph
        assert block(mx.nd.ones(shape)).shape == (shape[0], 3)
    x = mx.nd.ones((4, 2, 8, 8))
    x.attach_grad()
    with mx.autograd.record():
        loss = block(x).sum()
    loss.backward()
    assert np.isfinite(x.grad.asnumpy()).all()


@pytest.mark.parametrize("noise", [GaussNoise(0.1), MaskingNoise(0.3), CutoutNoise(3)])
def test_hybridized_noise_corrupts_like_the_imperative_one(noise):
    block = _NoiseOnly(noise)
    block.hybridize()
    x = mx.nd.ones((16, 1, 8, 8))
    symbolic, imperative = block(x).asnumpy(), noise.noise(x).asnumpy()
    assert symbolic.shape == imperative.shape == x.shape
    assert not np.array_equal(symbolic, x.asnumpy())
    # Same corruption statistics: mean absolute change per element.
    change = [np.abs(a - 1).mean() for a in (symbolic, imperative)]
    assert change[0] == pytest.approx(change[1], rel=0.25)


@pytest.mark.parametrize("noise", [GaussNoise(0.25), MaskingNoise(0.5), CutoutNoise(5)])
def test_noise_config_round_trips(noise):
    config = json.loads(json.dumps(noise.get_config()))
    assert type(noise)(**config).get_config() == config


def test_noise_rejects_bad_parameters():
    with pytest.raises(ValueError, match="sigma"):
        GaussNoise(-1)
    with pytest.raises(ValueError, match="p must"):
        MaskingNoise(1.5)
    with pytest.raises(ValueError, match="size"):
        CutoutNoise(0)


# --------------------------------------------------------------------------------------------- samplers


def test_normal_sampler_shape_ctx_statistics_and_determinism():
    sampler = NormalNoiseSampler(1000, (4, 5), loc=2.0, scale=0.5, ctx=mx.cpu(1), seed=7)
    assert isinstance(sampler, SamplableData)
    z = sampler.draw()
    assert z.shape == (1000, 4, 5) and z.dtype == np.float32 and z.context == mx.cpu(1)
    assert abs(z.asnumpy().mean() - 2.0) < 0.02 and abs(z.asnumpy().std() - 0.5) < 0.02
    again = NormalNoiseSampler(1000, (4, 5), loc=2.0, scale=0.5, ctx=mx.cpu(1), seed=7)
    np.testing.assert_array_equal(again.draw().asnumpy(), z.asnumpy())
    assert not np.array_equal(sampler.draw().asnumpy(), z.asnumpy())  # successive draws differ


def test_uniform_sampler_bounds_and_determinism():
    a = UniformNoiseSampler(500, 8, low=-2.0, high=3.0, ctx=[mx.cpu(1), mx.cpu(0)], seed=1)
    z = a.draw()
    assert z.shape == (500, 8) and z.context == mx.cpu(1)
    values = z.asnumpy()
    assert values.min() >= -2.0 and values.max() < 3.0 and abs(values.mean() - 0.5) < 0.1
    b = UniformNoiseSampler(500, 8, low=-2.0, high=3.0, seed=1)
    np.testing.assert_array_equal(b.draw().asnumpy(), values)
    with pytest.raises(ValueError, match="low < high"):
        UniformNoiseSampler(2, 2, low=1.0, high=1.0)


def test_true_sampler_draws_real_rows_and_cycles_epochs():
    x = np.random.RandomState(0).rand(10, 3).astype(np.float32)
    it = ArrayIterator(x, batch_size=4, drop_last=True, seed=0)
    sampler = TrueSampler(it)
    rows = {tuple(r) for r in x}
    drawn = [sampler.draw() for _ in range(5)]  # 2 batches per epoch -> into the third epoch
    assert sampler.epoch == 2
    for batch in drawn:
        assert batch.shape == (4, 3)
        assert all(tuple(r) in rows for r in batch.asnumpy())
    first_epoch = np.concatenate([drawn[0].asnumpy(), drawn[1].asnumpy()])
    np.testing.assert_array_equal(first_epoch, np.concatenate([b.asnumpy() for b, _ in it.train_batches(0)]))


def test_condition_sampler_one_hot_and_labels():
    sampler = ConditionSampler(num_classes=5, batch_size=400, ctx=mx.cpu(1), seed=0)
    assert sampler.last_labels is None
    one_hot = sampler.draw()
    assert one_hot.shape == (400, 5) and one_hot.dtype == np.float32 and one_hot.context == mx.cpu(1)
    np.testing.assert_array_equal(one_hot.sum(axis=1).asnumpy(), 1)
    np.testing.assert_array_equal(one_hot.asnumpy().argmax(axis=1), sampler.last_labels.asnumpy())
    assert set(sampler.last_labels.asnumpy().astype(int)) == set(range(5))
    labels = ConditionSampler(num_classes=5, batch_size=400, one_hot=False, seed=0).draw()
    assert labels.shape == (400,)
    np.testing.assert_array_equal(labels.asnumpy(), sampler.last_labels.asnumpy())  # same seed


@pytest.mark.parametrize(
    "sampler",
    [
        NormalNoiseSampler(8, 4, loc=1.0, scale=2.0, seed=3),
        UniformNoiseSampler(8, (2, 3), seed=None),
        ConditionSampler(10, 8, one_hot=False, seed=1),
    ],
)
def test_sampler_config_round_trips(sampler):
    config = json.loads(json.dumps(sampler.get_config()))
    assert type(sampler)(**config).get_config() == config


def test_noise_samplers_draw_rows_on_a_device_from_the_right_distribution():
    normal = NormalNoiseSampler(batch_size=4, dim_or_shape=(2, 3), loc=1.0, scale=2.0, seed=0)
    rows = normal.draw_rows(20000, mx.cpu(1))
    assert rows.shape == (20000, 2, 3) and rows.context == mx.cpu(1)
    values = rows.asnumpy()
    assert abs(values.mean() - 1.0) < 0.05 and abs(values.std() - 2.0) < 0.05
    uniform = UniformNoiseSampler(batch_size=4, dim_or_shape=5, low=-1.0, high=3.0, seed=0)
    values = uniform.draw_rows(20000, mx.cpu(1)).asnumpy()
    assert values.shape == (20000, 5) and values.min() >= -1.0 and values.max() <= 3.0
    assert abs(values.mean() - 1.0) < 0.05


def test_condition_sampler_draws_rows_on_a_device_with_mxnets_generator():
    sampler = ConditionSampler(num_classes=4, batch_size=8, seed=0)
    assert isinstance(sampler, DeviceSampler) and sampler.shape == (4,)
    mx.random.seed(3)
    rows = sampler.draw_rows(20000, mx.cpu(1))
    assert rows.shape == (20000, 4) and rows.context == mx.cpu(1) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows.sum(axis=1).asnumpy(), 1)
    np.testing.assert_array_equal(rows.asnumpy().argmax(axis=1), sampler.last_labels.asnumpy())
    frequencies = rows.asnumpy().mean(axis=0)
    assert np.abs(frequencies - 0.25).max() < 0.015, frequencies
    mx.random.seed(3)  # MXNet's generator decides, not the sampler's own seed
    np.testing.assert_array_equal(ConditionSampler(4, 8, seed=99).draw_rows(20000, mx.cpu(1)).asnumpy(),
                                  rows.asnumpy())
    labels = ConditionSampler(4, 8, one_hot=False).draw_rows(5, mx.cpu())
    assert labels.shape == (5,) and ConditionSampler(4, 8, one_hot=False).shape == ()


def test_draw_rows_takes_any_sampler():
    class Ones(SamplableData):  # a user's sampler: draw() only
        def draw(self):
            return mx.nd.ones((3, 2))

    rows = draw_rows(Ones(), 7, mx.cpu(1))
    assert rows.shape == (7, 2) and rows.context == mx.cpu(1)
    assert draw_rows(NormalNoiseSampler(4, 2), 7, mx.cpu(1)).shape == (7, 2)
