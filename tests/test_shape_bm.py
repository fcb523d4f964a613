"""Shape Boltzmann machine: the patch geometry and weight sharing checked against the plain DBM they
stand for, input checks, and on horse silhouettes (``skimage.data.horse()``) inpainting against the
training-mean fill and samples against noise."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase.data import ArrayIterator, horse_silhouettes
from accelbrainbase.demo.shape_bm import (
    BLOCK_POSITIONS,
    inpainting_accuracy,
    mask_block,
    mean_image_accuracy,
    nearest_hamming,
)
from accelbrainbase.models import DeepBoltzmannMachines, ShapeBoltzmannMachine
from accelbrainbase.models.shape_bm import patch_geometry
from accelbrainbase.registry import model_entry


def _example(seed=0):
    """The registry's small Shape-BM (8x8 rectangles) and its data."""
    kwargs, x, _ = model_entry("shape_bm").example(np.random.RandomState(0))
    return ShapeBoltzmannMachine(**kwargs, seed=seed), x, kwargs


def _random_model(seed=0, **kwargs):
    kw = dict(height=8, width=6, overlap_n=2, patch_hidden_dim=3, top_hidden_dim=2, seed=seed)
    kw.update(kwargs)
    sbm = ShapeBoltzmannMachine(**kw)
    rng = np.random.RandomState(seed)
    for name in sbm._param_names:
        p = getattr(sbm, name)
        p.set_data(mx.nd.array(rng.randn(*p.shape)))
    return sbm


def _as_dbm(sbm, **kwargs):
    """The DBM with the expanded first-layer weights of ``sbm``."""
    dbm = DeepBoltzmannMachines(sbm.layer_dims, mean_field_steps=sbm.mean_field_steps, gibbs_steps=sbm.gibbs_steps,
                                seed=0, **kwargs)
    weights, biases = sbm._weights(mx.cpu())
    for name, value in (("weight1", weights[1]), ("weight2", weights[2]), ("bias0", biases[0]),
                        ("bias1", biases[1]), ("bias2", biases[2])):
        getattr(dbm, name).set_data(value)
    return dbm


# ---------------------------------------------------------------------------- geometry
def test_patch_geometry():
    assert patch_geometry(32, 32) == (18, 18, 4)
    assert patch_geometry(32, 32, overlap_n=4) == (18, 18, 4)
    assert patch_geometry(32, 32, filter_size=20) == (20, 20, 8)
    assert patch_geometry(8, 6, filter_size=(5, 4)) == (5, 4, 2)
    assert patch_geometry(32, 32, filter_size=16, overlap_n=0) == (16, 16, 0)
    with pytest.raises(ValueError, match="disagree"):
        patch_geometry(32, 32, filter_size=20, overlap_n=4)
    with pytest.raises(ValueError, match="even"):
        patch_geometry(32, 32, overlap_n=3)
    with pytest.raises(ValueError, match="equal"):
        patch_geometry(32, 30, filter_size=(18, 18))
    with pytest.raises(ValueError, match="overlap_n"):
        patch_geometry(8, 8, overlap_n=8)


def test_first_layer_is_four_patches_with_shared_weights():
    sbm = _random_model()
    weights, _ = sbm._weights(mx.cpu())
    full, w1 = weights[1].asnumpy(), sbm.weight1.data().asnumpy()
    assert full.shape == (4 * 3, 8 * 6) and w1.shape == (3, 5 * 4)
    image_rows, image_cols = np.divmod(np.arange(48), 6)
    for p, (r0, c0) in enumerate([(0, 0), (0, 2), (3, 0), (3, 2)]):  # 5x4 patches of an 8x6 image
        block = full[3 * p:3 * (p + 1)]
        inside = (image_rows >= r0) & (image_rows < r0 + 5) & (image_cols >= c0) & (image_cols < c0 + 4)
        np.testing.assert_array_equal(block[:, inside], w1)  # row-major patch pixels: the same weights
        assert not block[:, ~inside].any()
    # The central overlap (rows 3-4, columns 2-3) is seen by all four patches.
    seen = (full.reshape(4, 3, 48) != 0).any(axis=1).sum(axis=0).reshape(8, 6)
    assert (seen[3:5, 2:4] == 4).all() and seen[0, 0] == 1 and seen[0, 2] == 2


def test_inference_and_features_are_the_dbm_of_the_expanded_weights():
    sbm = _random_model()
    dbm = _as_dbm(sbm)
    x = (np.random.RandomState(1).rand(5, 8, 6) > 0.5).astype(np.float32)
    flat = x.reshape(5, -1)
    np.testing.assert_allclose(sbm.inference(x).reshape(5, -1), dbm.inference(flat), rtol=1e-5, atol=1e-6)
    for layer in (1, 2):
        np.testing.assert_allclose(sbm.extract_feature_points(x, layer), dbm.extract_feature_points(flat, layer),
                                   rtol=1e-5, atol=1e-6)
    sbm.hybridize()
    np.testing.assert_allclose(sbm.inference(x).reshape(5, -1), dbm.inference(flat), rtol=1e-5, atol=1e-6)


def test_training_gradient_is_the_dbm_gradient_summed_over_the_patches():
    sbm = _random_model(fantasy_particles=7)
    dbm = _as_dbm(sbm, fantasy_particles=7)
    v0 = mx.nd.array((np.random.RandomState(2).rand(4, 48) > 0.5).astype(np.float32))
    chain = mx.nd.array((np.random.RandomState(3).rand(7, 48 + 2) > 0.5).astype(np.float32))
    mx.random.seed(5)
    ours = [o.asnumpy() for o in sbm._training_step()(v0, chain)]
    mx.random.seed(5)
    theirs = [o.asnumpy() for o in dbm._training_step()(v0, chain)]
    np.testing.assert_array_equal(ours[-2], theirs[-2])  # the same chain moves: the same model
    full = theirs[0].reshape(4, 3, 48)
    folded = sum(full[p][:, sbm._gather[p]] for p in range(4))  # d/dW1 of the tied copies
    np.testing.assert_allclose(ours[0], folded, rtol=1e-5, atol=1e-5)
    for a, b in zip(ours[1:], theirs[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_inpaint_keeps_known_pixels_and_checks_its_input():
    sbm = _random_model()
    x = (np.random.RandomState(1).rand(3, 8, 6) > 0.5).astype(np.float32)
    mask = np.zeros((8, 6), dtype=bool)
    mask[:4, :3] = True
    for method in ("gibbs", "mean_field"):
        out = sbm.inpaint(x, mask, method=method, steps=5, burn_in=2, seed=0)
        assert out.shape == (3, 8, 6)
        np.testing.assert_array_equal(out[:, ~mask], x[:, ~mask])
        assert ((out >= 0) & (out <= 1)).all()
    binary = sbm.inpaint(x[0], mask, steps=5, binary=True, seed=0)
    assert binary.shape == (8, 6) and set(np.unique(binary)) <= {0.0, 1.0}
    np.testing.assert_array_equal(sbm.inpaint(x, mask, steps=5, seed=4), sbm.inpaint(x, mask, steps=5, seed=4))
    per_image = np.broadcast_to(mask, (3, 8, 6))
    np.testing.assert_array_equal(sbm.inpaint(x, per_image, steps=5, seed=4), sbm.inpaint(x, mask, steps=5, seed=4))
    with pytest.raises(ValueError, match=r"mask must have shape \(8, 6\)"):
        sbm.inpaint(x, np.zeros((6, 8), dtype=bool))
    with pytest.raises(ValueError, match=r"images must have shape \(N, 8, 6\)"):
        sbm.inpaint(x.reshape(3, -1), mask)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sbm.inpaint(x * 2, mask)
    with pytest.raises(ValueError, match="method"):
        sbm.inpaint(x, mask, method="icm")
    assert sbm.sample(4, steps=3, seed=0).shape == (4, 8, 6)
    assert sbm.sample(steps=2, init=x, return_probabilities=False).shape == (3, 8, 6)


def test_bad_arguments_and_data_are_refused():
    with pytest.raises(ValueError, match="patch_hidden_dim"):
        ShapeBoltzmannMachine(8, 8, patch_hidden_dim=0)
    with pytest.raises(ValueError, match="even"):
        ShapeBoltzmannMachine(8, 8, overlap_n=1)
    sbm = ShapeBoltzmannMachine(8, 8, overlap_n=2, patch_hidden_dim=2, top_hidden_dim=2, pretrain_epochs=1)
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        sbm.learn(ArrayIterator(np.zeros((10, 8, 6), dtype=np.float32), batch_size=5, epochs=1))
    with pytest.raises(ValueError, match=r"x holds values in \[2, 2\].*Bernoulli visible units"):
        sbm.learn(ArrayIterator(np.full((10, 8, 8), 2.0, dtype=np.float32), batch_size=5, epochs=1))
    with pytest.raises(ValueError, match="layer"):
        sbm.extract_feature_points(np.zeros((2, 8, 8)), layer=3)


def test_a_shape_bm_is_a_dbm_with_its_chains_in_its_state():
    sbm, x, kwargs = _example(seed=0)
    assert isinstance(sbm, DeepBoltzmannMachines)
    sbm.learn(ArrayIterator(x, batch_size=10, epochs=1, seed=0), verbose=False)
    state = sbm.extra_state()
    assert state["chain0"].shape == (sbm.fantasy_particles, 64 + sbm.top_hidden_dim)
    np.testing.assert_array_equal(state["pretrained_layers"], [1, 1])
    twin = ShapeBoltzmannMachine(**kwargs, seed=1)
    twin.load_state_dict(sbm.state_dict())
    np.testing.assert_array_equal(twin._chains[0].asnumpy(), sbm._chains[0].asnumpy())
    # The DBM's likelihood tools work on the expanded weights.
    log_z = sbm.log_partition("ais", chains=20, betas=200)
    bound = sbm.variational_lower_bound(x[:5], log_z=log_z)
    assert np.isfinite(log_z) and bound.shape == (5,) and (bound < 0).all()
    assert sbm.decode(sbm.encode(x[:3])).shape == (3, 8, 8)
    with pytest.raises(ValueError, match="shares its weights"):
        sbm.load_pretrained(1, sbm)
    with pytest.raises(TypeError, match="from_rbms"):
        ShapeBoltzmannMachine.from_rbms([])


def test_pretraining_runs_once_and_a_loaded_model_is_not_pretrained_again(tmp_path):
    sbm, x, _ = _example(seed=0)
    sbm.learn(ArrayIterator(x, batch_size=10, epochs=1, seed=0), verbose=False)
    assert len(sbm.pretrain_histories) == 2  # the patch RBM and the top RBM
    w1 = sbm.weight1.data().asnumpy()
    path = str(tmp_path / "sbm.params")
    sbm.save(path)
    loaded = ShapeBoltzmannMachine.load(path)
    loaded.learn(ArrayIterator(x, batch_size=40, epochs=1, seed=0), verbose=False)
    # One joint update moves the weights a little; pre-training again would have replaced them.
    assert np.abs(loaded.weight1.data().asnumpy() - w1).max() < 0.05


# ---------------------------------------------------------------------------- horses
@pytest.fixture(scope="module")
def horses():
    """A Shape BM (the defaults: 4 x 100 + 50 hidden units) trained on 1000 shifted, scaled and rotated
    32x32 horses, and 50 held-out copies."""
    x_train = horse_silhouettes(1000, 32, seed=0)
    x_test = horse_silhouettes(50, 32, seed=1)
    sbm = ShapeBoltzmannMachine(height=32, width=32, overlap_n=4, seed=0)
    sbm.learn(ArrayIterator(x_train, batch_size=50, epochs=30, seed=0), verbose=False)
    return sbm, x_train, x_test


@pytest.mark.slow
def test_inpainting_a_masked_quarter_beats_the_training_mean_fill(horses):
    sbm, x_train, x_test = horses
    # A 16x16 block (25 % of the image) at each of the 9 positions of an 8-pixel grid.
    masks = np.stack([mask_block(32, top, left, 16) for top, left in BLOCK_POSITIONS])
    images = np.repeat(x_test[None], len(masks), axis=0)                 # (9, 50, 32, 32)
    per_image = np.repeat(masks[:, None], len(x_test), axis=1)
    restored = sbm.inpaint(images.reshape(-1, 32, 32), per_image.reshape(-1, 32, 32), steps=100, burn_in=20,
                           seed=0).reshape(images.shape)
    np.testing.assert_array_equal(restored[~per_image], images[~per_image])
    mean_image = x_train.mean(axis=0)
    ours = np.array([inpainting_accuracy(restored[i], x_test, m) for i, m in enumerate(masks)])
    # The baseline in its better form: thresholded or probability-weighted training mean image.
    baseline = np.array([max(mean_image_accuracy(mean_image, x_test, m).values()) for m in masks])
    assert ours.mean() >= baseline.mean() + 0.10, (ours, baseline)
    assert (ours > baseline).all(), (ours, baseline)


@pytest.mark.slow
def test_samples_are_closer_to_horses_than_noise(horses):
    sbm, x_train, _ = horses
    samples = sbm.sample(20, steps=500, seed=0)
    assert samples.shape == (20, 32, 32)
    # Noise with the training set's density of horse pixels (independent pixels, the same for all).
    density = float(x_train.mean())
    noise = (np.random.RandomState(0).rand(20, 32, 32) < density).astype(np.float32)
    ours, theirs = nearest_hamming(samples, x_train).mean(), nearest_hamming(noise, x_train).mean()
    assert ours < 0.8 * theirs, (ours, theirs)
    # Neither empty nor filled (the samples are denser than the data, ~0.40 vs 0.24: see the README).
    assert 0.1 < float((samples >= 0.5).mean()) < 0.6
