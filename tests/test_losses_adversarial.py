"""Adversarial losses: values against their formulas, and the SIGNS of their gradients (the predecessor
shipped a wrong-signed discriminator loss), plus a 1-D problem whose optimal discriminator is known."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase.interfaces import ComputableLoss
from accelbrainbase.losses import (
    DiscriminatorLoss,
    EBGANDiscriminatorLoss,
    EBGANGeneratorLoss,
    FeatureMatchingLoss,
    GeneratorLoss,
    pull_away_term,
)


def _softplus(v):
    return np.log1p(np.exp(v))


def _grads(loss, *arrays):
    """Per-sample losses and the gradients of their sum w.r.t. each input."""
    nds = [mx.nd.array(a) for a in arrays]
    for a in nds:
        a.attach_grad()
    with mx.autograd.record():
        out = loss(*nds)
    out.backward()
    return out.asnumpy(), [a.grad.asnumpy() for a in nds]


@pytest.mark.parametrize("loss", [DiscriminatorLoss(), GeneratorLoss(), FeatureMatchingLoss(),
                                  EBGANDiscriminatorLoss(1.0), EBGANGeneratorLoss()])
def test_adversarial_losses_are_computable_gluon_losses(loss):
    assert isinstance(loss, ComputableLoss) and isinstance(loss, mx.gluon.loss.Loss)


def test_discriminator_loss_value_and_signs():
    true, fake = np.array([2.0, -1.0, 0.0]), np.array([-3.0, 0.5, 0.0])
    value, (g_true, g_fake) = _grads(DiscriminatorLoss(), true, fake)
    # -log D(x) - log(1 - D(G(z))) with D = sigmoid(logit)
    np.testing.assert_allclose(value, _softplus(-true) + _softplus(fake), rtol=1e-5)
    # Minimising it raises the logits of real samples and lowers those of fakes.
    assert (g_true < 0).all() and (g_fake > 0).all()
    np.testing.assert_allclose(g_true, -1 / (1 + np.exp(true)), rtol=1e-5)
    # A discriminator that is right has a small loss, one that is wrong a large loss.
    right = DiscriminatorLoss().compute(mx.nd.array([5.0]), mx.nd.array([-5.0])).asscalar()
    wrong = DiscriminatorLoss().compute(mx.nd.array([-5.0]), mx.nd.array([5.0])).asscalar()
    assert right < 0.02 < 10 < wrong
    assert DiscriminatorLoss().compute(mx.nd.zeros(5), mx.nd.zeros(5)).asscalar() == pytest.approx(2 * np.log(2))


def test_discriminator_loss_is_stable_for_large_logits():
    value = DiscriminatorLoss()(mx.nd.array([80.0, -80.0]), mx.nd.array([-80.0, 80.0])).asnumpy()
    np.testing.assert_allclose(value, [0.0, 160.0], atol=1e-4)


def test_generator_loss_is_non_saturating():
    fake = np.array([-6.0, 0.0, 3.0])
    value, (grad,) = _grads(GeneratorLoss(), fake)
    np.testing.assert_allclose(value, _softplus(-fake), rtol=1e-5)  # -log D(G(z))
    # Minimising it raises the fakes' logits ...
    assert (grad < 0).all()
    # ... with a strong gradient where the discriminator rejects the fakes (D(G(z)) ~ 0), where the
    # minimax form log(1 - D(G(z))) has almost none.
    minimax_grad = -1 / (1 + np.exp(-fake))  # d/df log(1 - sigmoid(f))
    assert abs(grad[0]) > 0.99 and abs(minimax_grad[0]) < 0.01
    assert GeneratorLoss().compute(mx.nd.zeros(2)).asscalar() == pytest.approx(np.log(2))


def test_feature_matching_matches_batch_means_and_pulls_fakes_towards_the_real_mean():
    rng = np.random.RandomState(0)
    fake, real = rng.randn(6, 3), rng.randn(9, 3) + 1.0
    value, (g_fake, g_real) = _grads(FeatureMatchingLoss(), fake, real)
    distance = np.square(fake.mean(0) - real.mean(0)).sum()
    np.testing.assert_allclose(value, np.full(6, distance), rtol=1e-5)
    # The real features are a fixed target: only the generator side gets a gradient ...
    assert np.abs(g_real).max() == 0
    # ... pointing from the fake mean away from the real one (descent moves fakes towards it).
    direction = (fake.mean(0) - real.mean(0))
    assert (np.sign(g_fake) == np.sign(direction)).all()


def test_ebgan_discriminator_margin_loss_value_and_signs():
    margin = 1.0
    true, fake = np.array([0.2, 0.1, 0.3]), np.array([0.4, 1.5, 0.9])
    value, (g_true, g_fake) = _grads(EBGANDiscriminatorLoss(margin), true, fake)
    np.testing.assert_allclose(value, true + np.maximum(0, margin - fake), rtol=1e-6)
    # Lower the real energies; raise the fake energies, but only while they are below the margin.
    np.testing.assert_allclose(g_true, [1, 1, 1])
    np.testing.assert_allclose(g_fake, [-1, 0, -1])
    with pytest.raises(ValueError, match="margin"):
        EBGANDiscriminatorLoss(0.0)


def test_ebgan_generator_loss_is_energy_plus_pull_away_term():
    rng = np.random.RandomState(1)
    energy, codes = np.array([0.3, 0.6, 0.2, 0.5]), rng.randn(4, 5)
    value, (g_energy, g_codes) = _grads(EBGANGeneratorLoss(pull_away_weight=0.1), energy, codes)
    pt = pull_away_term(mx.nd, mx.nd.array(codes)).asscalar()
    np.testing.assert_allclose(value, energy + 0.1 * pt, rtol=1e-5)
    np.testing.assert_allclose(g_energy, np.ones(4))  # lowering the fakes' energy lowers the loss
    assert np.abs(g_codes).max() > 0
    # Without the term it is the energy alone; the batch mean of the full loss is energy mean + w PT.
    np.testing.assert_allclose(EBGANGeneratorLoss(0.0)(mx.nd.array(energy), mx.nd.array(codes)).asnumpy(), energy)
    assert EBGANGeneratorLoss(0.1).compute(mx.nd.array(energy), mx.nd.array(codes)).asscalar() == \
        pytest.approx(energy.mean() + 0.1 * pt, rel=1e-5)


def test_losses_work_inside_a_hybridized_graph():
    class Both(mx.gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.d, self.g = DiscriminatorLoss(), GeneratorLoss()

        def hybrid_forward(self, F, t, f):
            return self.d(t, f) + self.g(f)

    block = Both()
    t, f = mx.nd.array([0.5, -0.5]), mx.nd.array([1.0, -2.0])
    imperative = block(t, f).asnumpy()
    block.hybridize()
    np.testing.assert_allclose(block(t, f).asnumpy(), imperative, rtol=1e-6)


def test_discriminator_loss_optimum_is_the_density_ratio():
    """Goodfellow et al. 2014, Prop. 1: for fixed p_data and p_g the discriminator minimising the loss
    is D*(x) = p_data(x) / (p_data(x) + p_g(x)). For two Gaussians its logit is quadratic in x, so a
    logistic model on (x, x^2) trained with `DiscriminatorLoss` must recover it."""
    rng = np.random.RandomState(0)
    real = rng.normal(3.0, 0.5, 20000).astype(np.float32)
    fake = rng.normal(2.0, 1.0, 20000).astype(np.float32)

    def feats(v):
        return mx.nd.array(np.stack([v - 2.5, (v - 2.5) ** 2], axis=1))

    dense = mx.gluon.nn.Dense(1, in_units=2)
    dense.initialize(mx.init.Zero())
    trainer = mx.gluon.Trainer(dense.collect_params(), "adam", {"learning_rate": 0.05})
    loss = DiscriminatorLoss()
    fr, ff = feats(real), feats(fake)
    for _ in range(600):
        with mx.autograd.record():
            value = loss(dense(fr).reshape((-1,)), dense(ff).reshape((-1,)))
        value.backward()
        trainer.step(len(real))
    grid = np.linspace(1.5, 4.5, 13).astype(np.float32)
    log_ratio = (-0.5 * ((grid - 3.0) / 0.5) ** 2 - np.log(0.5)) - (-0.5 * ((grid - 2.0) / 1.0) ** 2)
    learned = dense(feats(grid)).asnumpy().ravel()
    np.testing.assert_allclose(learned, log_ratio, atol=0.25)
