"""Deep Boltzmann machines: exact sums checked by brute force, the training gradient checked against
exact model expectations, and on binarized digits the likelihood, AIS and the variational bound."""
from __future__ import annotations

import itertools

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase.data import ArrayIterator
from accelbrainbase.gluon_internals import structural_params
from accelbrainbase.models import DeepBoltzmannMachines, RestrictedBoltzmannMachines


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _set_random_params(dbm, rng, scale=1.0):
    for layer in range(1, dbm.num_layers + 1):
        w = getattr(dbm, f"weight{layer}")
        w.set_data(mx.nd.array(rng.randn(*w.shape) * scale))
    for layer in range(dbm.num_layers + 1):
        b = getattr(dbm, f"bias{layer}")
        b.set_data(mx.nd.array(rng.randn(*b.shape) * 0.5))
    return dbm._numpy_params()


def _joint_states(dims):
    """Every joint state (v, h_1, ..., h_L) as a list of per-layer arrays, and the negative energy."""
    n = sum(dims)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    layers, start = [], 0
    for d in dims:
        layers.append(states[:, start:start + d])
        start += d
    return layers


def _neg_energy(layers, weights, biases):
    total = sum(layers[l] @ biases[l] for l in range(len(layers)))
    for l in range(1, len(layers)):
        total = total + ((layers[l - 1] @ weights[l].T) * layers[l]).sum(axis=1)
    return total


def _logsumexp(a, axis=None):
    peak = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(peak, axis=axis) + np.log(np.exp(a - peak).sum(axis=axis))


def _reference_mean_field(v, weights, biases, steps):
    """Per-layer mean field written independently of the model's bipartite graphs."""
    top = len(weights) - 1
    mus = [v]
    for l in range(1, top + 1):
        below = mus[-1] * (2.0 if l < top else 1.0)
        mus.append(_sigmoid(below @ weights[l].T + biases[l]))
    for _ in range(steps):
        for parity in (1, 0):
            for l in range(1, top + 1):
                if l % 2 == parity:
                    pre = mus[l - 1] @ weights[l].T + biases[l]
                    if l < top:
                        pre = pre + mus[l + 1] @ weights[l + 1]
                    mus[l] = _sigmoid(pre)
    return mus


# ---------------------------------------------------------------------------- exact sums, mean field
@pytest.mark.parametrize("dims", [[4, 3, 2], [3, 2, 3, 2], [2, 2, 2, 2, 2]])
def test_exact_log_partition_and_likelihood_match_brute_force(dims):
    dbm = DeepBoltzmannMachines(dims, seed=0)
    weights, biases = _set_random_params(dbm, np.random.RandomState(1))
    layers = _joint_states(dims)
    neg_energy = _neg_energy(layers, weights, biases)
    log_z = _logsumexp(neg_energy)
    assert dbm.log_partition("exact") == pytest.approx(log_z, abs=1e-6)

    v_all = np.array(list(itertools.product([0.0, 1.0], repeat=dims[0])), dtype=np.float32)
    v_index = (layers[0] @ (2 ** np.arange(dims[0])[::-1])).astype(int)
    log_pv = np.array([_logsumexp(neg_energy[v_index == i]) for i in range(len(v_all))]) - log_z
    np.testing.assert_allclose(dbm.log_likelihood(v_all, method="exact"), log_pv, atol=1e-6)
    assert np.exp(dbm.log_likelihood(v_all, method="exact")).sum() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("dims", [[5, 4, 3], [5, 4, 3, 2]])
def test_mean_field_matches_a_per_layer_reference(dims):
    dbm = DeepBoltzmannMachines(dims, mean_field_steps=7, seed=0)
    weights, biases = _set_random_params(dbm, np.random.RandomState(2))
    v = (np.random.RandomState(3).rand(9, dims[0]) > 0.5).astype(np.float32)
    mus = _reference_mean_field(v.astype(np.float64), weights, biases, steps=7)
    for layer in range(1, len(dims)):
        np.testing.assert_allclose(dbm.extract_feature_points(v, layer=layer), mus[layer], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dbm.inference(v), _sigmoid(mus[1] @ weights[1] + biases[0]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dims", [[4, 3, 2], [3, 2, 2, 2]])
def test_training_gradient_matches_exact_model_expectations(dims):
    """Chains drawn exactly from the model stay there under Gibbs sweeps, so the step's gradient is
    -(mean-field data statistics - n * model expectations) up to Monte Carlo noise."""
    rng = np.random.RandomState(4)
    dbm = DeepBoltzmannMachines(dims, mean_field_steps=4, gibbs_steps=2, seed=0)
    weights, biases = _set_random_params(dbm, rng)
    layers = _joint_states(dims)
    neg_energy = _neg_energy(layers, weights, biases)
    p = np.exp(neg_energy - _logsumexp(neg_energy))
    chains = 40000
    draw = rng.choice(len(p), size=chains, p=p)
    even = np.concatenate([layers[l][draw] for l in range(0, len(dims), 2)], axis=1)
    v0 = (rng.rand(8, dims[0]) > 0.5).astype(np.float32)

    outs = dbm._training_step()(mx.nd.array(v0), mx.nd.array(even))
    top = len(dims) - 1
    mus = _reference_mean_field(v0.astype(np.float64), weights, biases, steps=4)
    n = len(v0)
    for l in range(1, top + 1):
        expected = -(mus[l].T @ mus[l - 1] - n * (layers[l].T * p) @ layers[l - 1])
        np.testing.assert_allclose(outs[l - 1].asnumpy(), expected, atol=0.15)
    for l in range(top + 1):
        expected = -(mus[l].sum(axis=0) - n * p @ layers[l])
        np.testing.assert_allclose(outs[top + l].asnumpy(), expected, atol=0.15)
    assert outs[-2].shape == even.shape
    reconstruction = _sigmoid(mus[1] @ weights[1] + biases[0])
    assert outs[-1].asscalar() == pytest.approx(((v0 - reconstruction) ** 2).mean(axis=1).sum(), rel=1e-4)


def test_ais_matches_the_exact_partition_function_of_a_small_model():
    dbm = DeepBoltzmannMachines([10, 6, 4], seed=0)
    _set_random_params(dbm, np.random.RandomState(5), scale=0.7)
    exact = dbm.log_partition("exact")
    assert dbm.log_partition("ais", chains=100, betas=2000, seed=0) == pytest.approx(exact, abs=0.05)
    schedule = np.linspace(0, 1, 1500)
    assert dbm.log_partition("ais", betas=schedule) == pytest.approx(exact, abs=0.1)


def test_per_sample_ais_of_the_unnormalized_probability_matches_the_exact_sum():
    dbm = DeepBoltzmannMachines([10, 6, 4], seed=0)
    _set_random_params(dbm, np.random.RandomState(8), scale=0.7)
    v = (np.random.RandomState(9).rand(6, 10) > 0.5).astype(np.float32)
    exact = dbm._log_unnormalized(v)
    estimate = dbm._ais_log_unnormalized(v, chains=50, betas=1000, seed=0)
    np.testing.assert_allclose(estimate, exact, atol=0.05)


def test_ais_log_likelihood_of_a_model_too_big_to_enumerate():
    """|h_1| = 24: log p*(v) by per-sample AIS, log Z by AIS; the result lies above the bound."""
    dbm = DeepBoltzmannMachines([12, 24, 5], seed=0)
    _set_random_params(dbm, np.random.RandomState(10), scale=0.3)
    v = (np.random.RandomState(11).rand(5, 12) > 0.5).astype(np.float32)
    log_z = dbm.log_partition("ais", betas=1000)
    ll = dbm.log_likelihood(v, method="ais", log_z=log_z, sample_chains=20, sample_betas=500)
    bound = dbm.variational_lower_bound(v, log_z=log_z)
    assert ll.shape == (5,) and np.isfinite(ll).all() and (ll < 0).all()
    assert (ll > bound - 0.05).all() and (ll - bound).mean() > 0


@pytest.mark.parametrize("dims", [[8, 5, 3], [6, 3, 4, 2]])
def test_variational_bound_is_below_log_likelihood_and_tightens_with_mean_field_sweeps(dims):
    dbm = DeepBoltzmannMachines(dims, seed=0)
    _set_random_params(dbm, np.random.RandomState(6))
    v = (np.random.RandomState(7).rand(20, dims[0]) > 0.5).astype(np.float32)
    log_z = dbm.log_partition("exact")
    exact = dbm.log_likelihood(v, log_z=log_z)
    loose = dbm.variational_lower_bound(v, log_z=log_z, mean_field_steps=1)
    tight = dbm.variational_lower_bound(v, log_z=log_z, mean_field_steps=30)
    assert (tight <= exact + 1e-5).all() and (loose <= exact + 1e-5).all()
    assert (tight >= loose - 1e-5).all() and tight.mean() > loose.mean()
    # Without log_z the exact value is used for a model this small.
    np.testing.assert_allclose(dbm.variational_lower_bound(v, mean_field_steps=30), tight, rtol=1e-9)


# ---------------------------------------------------------------------------- binarized digits
@pytest.fixture(scope="module")
def binary_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x = (load_digits().data >= 8).astype(np.float32)
    return train_test_split(x, test_size=0.2, random_state=0)


@pytest.fixture(scope="module")
def digits_dbm(binary_digits):
    x_train, x_test = binary_digits
    dbm = DeepBoltzmannMachines([64, 16, 8], pretrain_epochs=10, mean_field_steps=5, gibbs_steps=2, seed=0)
    dbm.learn(ArrayIterator(x_train, test_x=x_test, batch_size=20, epochs=10, seed=0), verbose=False)
    return dbm


@pytest.mark.slow
def test_digits_likelihood_ais_and_variational_bound(digits_dbm, binary_digits):
    x_train, x_test = binary_digits
    dbm = digits_dbm
    p = np.clip(x_train.mean(axis=0), 1e-3, 1 - 1e-3)
    independent = float((x_test * np.log(p) + (1 - x_test) * np.log(1 - p)).sum(axis=1).mean())
    assert -25.4 < independent < -24.5

    log_z = dbm.log_partition("exact")
    exact = dbm.log_likelihood(x_test, log_z=log_z)
    ais = dbm.log_likelihood(x_test, method="ais", chains=100, betas=3000, seed=0)
    bound = dbm.variational_lower_bound(x_test, log_z=log_z)
    assert abs(ais.mean() - exact.mean()) < 0.5, (ais.mean(), exact.mean())
    assert bound.mean() < exact.mean() and (bound <= exact + 1e-4).all()
    assert exact.mean() > independent + 4.0, (exact.mean(), independent)
    # Joint training kept what pre-training reached and reconstructs the digits.
    assert len(dbm.pretrain_histories) == 2 and dbm.loss_arr.shape == (10, 2)
    assert np.isfinite(dbm.loss_arr).all() and dbm.loss_arr[-1, 1] < 0.08


@pytest.mark.slow
def test_digits_features_samples_and_auto_encoder_view(digits_dbm, binary_digits):
    _, x_test = binary_digits
    dbm = digits_dbm
    for layer, size in ((1, 16), (2, 8)):
        features = dbm.extract_feature_points(x_test, layer=layer)
        assert features.shape == (len(x_test), size) and ((features >= 0) & (features <= 1)).all()
    np.testing.assert_array_equal(dbm.extract_feature_points(x_test), dbm.extract_feature_points(x_test, layer=2))
    codes = dbm.encode(x_test)
    assert codes.shape == (len(x_test), 8)
    decoded = dbm.decode(codes)
    assert decoded.shape == x_test.shape and ((decoded >= 0) & (decoded <= 1)).all()
    # The codes carry the digits: the round trip beats predicting the pixel means.
    assert ((decoded - x_test) ** 2).mean() < ((x_test - x_test.mean(axis=0)) ** 2).mean()
    nd_codes = dbm.encode(mx.nd.array(x_test[:5]))
    assert isinstance(nd_codes, mx.nd.NDArray) and isinstance(dbm.decode(nd_codes), mx.nd.NDArray)

    samples = dbm.sample(12, steps=50)
    assert samples.shape == (12, 64) and ((samples >= 0) & (samples <= 1)).all()
    states = dbm.sample(3, steps=5, return_probabilities=False)
    assert set(np.unique(states)) <= {0.0, 1.0}
    assert dbm.sample(steps=3, init=x_test[:4]).shape == (4, 64)


@pytest.mark.slow
def test_transfer_learning_gives_the_same_features(digits_dbm, binary_digits):
    _, x_test = binary_digits
    fresh = DeepBoltzmannMachines([64, 16, 8], mean_field_steps=digits_dbm.mean_field_steps, seed=5)
    assert not np.allclose(fresh.extract_feature_points(x_test), digits_dbm.extract_feature_points(x_test))
    fresh.load_pretrained(1, digits_dbm).load_pretrained(2, digits_dbm)
    for layer in (1, 2):
        np.testing.assert_allclose(fresh.extract_feature_points(x_test, layer=layer),
                                   digits_dbm.extract_feature_points(x_test, layer=layer), rtol=1e-6)
    np.testing.assert_allclose(fresh.encode(x_test), digits_dbm.encode(x_test), rtol=1e-6)
    # The bottom layer of the digits DBM under a new top layer: learn pre-trains only the new one.
    deeper = DeepBoltzmannMachines([64, 16, 4], pretrain_epochs=1, seed=0).load_pretrained(1, digits_dbm)
    deeper.learn(ArrayIterator(x_test, batch_size=40, epochs=1, seed=0), verbose=False)
    assert len(deeper.pretrain_histories) == 1


def test_a_three_hidden_layer_dbm_trains_samples_and_encodes():
    x = (np.random.RandomState(0).rand(60, 6) > 0.5).astype(np.float32)
    dbm = DeepBoltzmannMachines([6, 5, 4, 3], pretrain_epochs=2, seed=0)
    dbm.learn(ArrayIterator(x, test_size=0.2, batch_size=12, epochs=2, seed=0), verbose=False)
    assert len(dbm.pretrain_histories) == 3 and np.isfinite(dbm.loss_arr).all()
    for layer, size in ((1, 5), (2, 4), (3, 3)):
        assert dbm.extract_feature_points(x, layer=layer).shape == (60, size)
    assert dbm.decode(dbm.encode(x)).shape == (60, 6)
    assert dbm.sample(5, steps=10).shape == (5, 6)
    assert np.isfinite(dbm.log_likelihood(x, method="exact")).all()


# ---------------------------------------------------------------------------- composition
def test_from_rbms_copies_weights_and_averages_shared_biases():
    x = (np.random.RandomState(0).rand(60, 6) > 0.5).astype(np.float32)
    r1 = RestrictedBoltzmannMachines(6, 4, seed=0)
    r1.learn(ArrayIterator(x, batch_size=20, epochs=2, seed=0), verbose=False)
    h = r1.extract_feature_points(x)
    r2 = RestrictedBoltzmannMachines(4, 3, seed=0)
    r2.learn(ArrayIterator(h, batch_size=20, epochs=2, seed=0), verbose=False)
    dbm = DeepBoltzmannMachines.from_rbms([r1, r2], pretrain_epochs=3, seed=0)
    weights, biases = dbm._numpy_params()
    np.testing.assert_allclose(weights[1], r1.weight.data().asnumpy())
    np.testing.assert_allclose(weights[2], r2.weight.data().asnumpy())
    np.testing.assert_allclose(biases[0], r1.visible_bias.data().asnumpy())
    np.testing.assert_allclose(biases[1], (r1.hidden_bias.data().asnumpy() + r2.visible_bias.data().asnumpy()) / 2,
                               rtol=1e-6)
    np.testing.assert_allclose(biases[2], r2.hidden_bias.data().asnumpy())
    # Loading in the other order gives the same model; learn skips pre-training.
    other = DeepBoltzmannMachines([6, 4, 3], seed=1).load_pretrained(2, r2).load_pretrained(1, r1)
    for a, b in zip(other._numpy_params()[1], biases):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    dbm.learn(ArrayIterator(x, batch_size=20, epochs=1, seed=0), verbose=False)
    assert dbm.pretrain_histories == []


def test_pretraining_runs_once_and_loaded_models_are_not_pretrained_again(tmp_path):
    x = (np.random.RandomState(0).rand(40, 6) > 0.5).astype(np.float32)
    dbm = DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=2, seed=0)
    dbm.learn(ArrayIterator(x, batch_size=10, epochs=1, seed=0), verbose=False)
    assert len(dbm.pretrain_histories) == 2
    assert dbm.pretrain_histories[0].loss_arr.shape == (2, 2)
    dbm.pretrain_histories = []
    dbm.learn(ArrayIterator(x, batch_size=10, epochs=1, seed=0), verbose=False)
    assert dbm.pretrain_histories == []
    path = str(tmp_path / "dbm.params")
    dbm.save(path)
    loaded = DeepBoltzmannMachines.load(path)
    loaded.learn(ArrayIterator(x, batch_size=10, epochs=1, seed=0), verbose=False)
    assert loaded.pretrain_histories == []
    # Saved before any training, a model is pre-trained when it learns: the state says which layers are.
    fresh = DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=2, seed=0)
    fresh.save(str(tmp_path / "fresh.params"))
    reloaded = DeepBoltzmannMachines.load(str(tmp_path / "fresh.params"))
    reloaded.learn(ArrayIterator(x, batch_size=10, epochs=1, seed=0), verbose=False)
    assert len(reloaded.pretrain_histories) == 2
    # A resumed run continues joint training from its checkpoint ...
    ckpt = str(tmp_path / "ckpt")
    first = DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=2, seed=0)
    first.learn(ArrayIterator(x, batch_size=10, epochs=2, seed=0), verbose=False, checkpoint_dir=ckpt)
    again = DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=2, seed=0)
    again.learn(ArrayIterator(x, batch_size=10, epochs=3, seed=0), verbose=False, checkpoint_dir=ckpt, resume=True)
    assert again.loss_arr.shape == (3, 2)
    # ... exactly as an uninterrupted run: the checkpoint keeps the persistent chains too.
    straight = DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=2, seed=0)
    straight.learn(ArrayIterator(x, batch_size=10, epochs=3, seed=0), verbose=False)
    for (name, p), q in zip(structural_params(again).items(), structural_params(straight).values()):
        np.testing.assert_array_equal(p.data().asnumpy(), q.data().asnumpy(), err_msg=name)


def test_a_resumed_run_is_not_pretrained_again(tmp_path):
    x = (np.random.RandomState(0).rand(40, 6) > 0.5).astype(np.float32)
    ckpt = str(tmp_path / "ckpt")
    DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=2, seed=0).learn(
        ArrayIterator(x, batch_size=10, epochs=2, seed=0), verbose=False, checkpoint_dir=ckpt)
    again = DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=2, seed=0)
    again.learn(ArrayIterator(x, batch_size=10, epochs=3, seed=0), verbose=False, checkpoint_dir=ckpt, resume=True)
    assert again.pretrain_histories == []


def test_without_pretraining_the_visible_biases_start_at_the_data_log_odds():
    x = (np.random.RandomState(0).rand(50, 6) < np.linspace(0.1, 0.9, 6)).astype(np.float32)
    dbm = DeepBoltzmannMachines([6, 4, 3], pretrain_epochs=0, seed=0)
    dbm.learn(ArrayIterator(x, batch_size=50, epochs=1, seed=0), verbose=False)
    p = np.clip(x.mean(axis=0), 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(dbm._numpy_params()[1][0], np.log(p / (1 - p)), atol=0.05)
    assert dbm.pretrain_histories == []


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("dims", [[64], [64, 16], [64, 0, 8], [64, 16.5, 8], "64,16,8", 64, [64, True, 8]])
def test_wrong_layer_dims_are_refused(dims):
    with pytest.raises(ValueError, match="layer_dims"):
        DeepBoltzmannMachines(dims)


def test_clear_errors():
    dbm = DeepBoltzmannMachines([6, 4, 3], seed=0)
    x = np.zeros((5, 6), dtype=np.float32)
    for layer in (0, 3, -1, 1.5):
        with pytest.raises(ValueError, match=r"layer must be an integer in 1\.\.2"):
            dbm.extract_feature_points(x, layer=layer)
    with pytest.raises(ValueError, match=r"expects \(6,\)"):
        dbm.extract_feature_points(np.zeros((5, 7)))
    with pytest.raises(ValueError, match=r"expects \(3,\)"):
        dbm.decode(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="method"):
        dbm.log_partition("magic")
    with pytest.raises(ValueError, match="method"):
        dbm.log_likelihood(x, method="magic")
    with pytest.raises(ValueError, match="schedule"):
        dbm.log_partition("ais", betas=np.linspace(0.1, 1, 10))
    with pytest.raises(ValueError, match=r"x holds values in \[2, 2\].*Bernoulli visible units"):
        dbm.learn(ArrayIterator(x + 2, batch_size=5, epochs=1), verbose=False)
    with pytest.raises(ValueError, match="n and steps"):
        dbm.sample(0)
    with pytest.raises(ValueError, match="layer must be"):
        dbm.load_pretrained(3, dbm)
    with pytest.raises(ValueError, match="hidden_dim"):
        dbm.load_pretrained(1, RestrictedBoltzmannMachines(6, 5))
    with pytest.raises(ValueError, match="Bernoulli"):
        dbm.load_pretrained(1, RestrictedBoltzmannMachines(6, 4, visible_type="gaussian"))
    with pytest.raises(TypeError, match="RestrictedBoltzmannMachines"):
        dbm.load_pretrained(1, "weights.params")
    with pytest.raises(ValueError, match="share a layer"):
        DeepBoltzmannMachines.from_rbms([RestrictedBoltzmannMachines(6, 4), RestrictedBoltzmannMachines(5, 3)])
    with pytest.raises(ValueError, match="at least two"):
        DeepBoltzmannMachines.from_rbms([RestrictedBoltzmannMachines(6, 4)])
    big = DeepBoltzmannMachines([10, 21, 3])
    with pytest.raises(ValueError, match="2\\^21"):
        big.log_partition("exact")
    with pytest.raises(ValueError, match="2\\^21"):
        big.log_likelihood(np.zeros((2, 10)), method="exact")
    assert np.isfinite(big.log_partition("ais", chains=10, betas=200))
    for name, value in (("mean_field_steps", 0), ("gibbs_steps", 0), ("fantasy_particles", 0), ("pretrain_epochs", -1)):
        with pytest.raises(ValueError, match=name):
            DeepBoltzmannMachines([6, 4, 3], **{name: value})
