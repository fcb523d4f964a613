"""The RBM's per-epoch fast path (`_FusedEpoch`: many CD-k/PCD-k + SGD-momentum updates per graph
call on a packed parameter matrix) makes the very updates of the per-batch path.

Both paths draw their random numbers through `RestrictedBoltzmannMachines._noise_source`; the
tests replace it with a deterministic source that gives batch ``t`` of a run the same numbers
whichever path asks and however many batches it asks for at once, then compare parameters,
momentum states and losses after several epochs.
"""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

from accelbrainbase.data import ArrayIterator
from accelbrainbase.gluon_internals import optimizer_of, structural_params, updaters_of
from accelbrainbase.models import RestrictedBoltzmannMachines
from accelbrainbase.models.rbm import noise_counts


class _SameNoise:
    """Random numbers of batch ``t`` drawn from ``RandomState(t)``: the same for both paths."""

    def __init__(self, rbm: RestrictedBoltzmannMachines) -> None:
        self.rbm, self.batch = rbm, 0
        self.calls = []

    def __call__(self, n, batch_size, device):
        rbm = self.rbm
        n_h, n_v = noise_counts(rbm.k, rbm.persistent)
        hidden, visible = [], []
        for t in range(self.batch, self.batch + n):
            rng = np.random.RandomState(t)
            hidden.append(rng.rand(n_h, batch_size, rbm.hidden_dim))
            shape = (n_v, batch_size, rbm.visible_dim)
            visible.append(rng.randn(*shape) if rbm.gaussian else rng.rand(*shape))
        self.batch += n
        self.calls.append(n)
        return (mx.nd.array(np.stack(hidden), ctx=device),
                mx.nd.array(np.stack(visible), ctx=device) if n_v else None)


def _data(gaussian: bool, n: int = 230, v: int = 12) -> np.ndarray:
    rng = np.random.RandomState(0)
    prototypes = (rng.rand(3, v) < 0.5).astype(np.float32)
    x = np.abs(prototypes[rng.randint(0, 3, n)] - (rng.rand(n, v) < 0.05)).astype(np.float32)
    if gaussian:
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-3) + 0.1 * rng.randn(n, v).astype(np.float32)
    return x.astype(np.float32)


def _train(fused_batches, epochs=3, batch_size=20, lr_step=None, clip_norm=None, **kwargs):
    kwargs.setdefault("learning_rate", 0.05)
    rbm = RestrictedBoltzmannMachines(12, 7, seed=0, **kwargs)
    rbm.fused_batches = fused_batches
    noise = rbm._noise_source = _SameNoise(rbm)
    x = _data(rbm.gaussian)
    # 230 samples in batches of 20: 11 full batches and a last one of 10 every epoch.
    it = ArrayIterator(x, batch_size=batch_size, epochs=epochs, seed=0)
    scheduler = None if lr_step is None else mx.lr_scheduler.FactorScheduler(step=lr_step, factor=0.7)
    rbm.learn(it, verbose=False, lr_scheduler=scheduler, clip_norm=clip_norm)
    params = {name: p.data().asnumpy() for name, p in structural_params(rbm).items()}
    updater = updaters_of(rbm.trainers["model"])[0]
    states = {i: s.asnumpy() for i, s in updater.states.items() if s is not None}
    return rbm, params, states, noise


CASES = [
    dict(),
    dict(k=3),
    dict(persistent=True, momentum=0.5),
    dict(persistent=True, k=2),
    dict(visible_type="gaussian", k=2, learning_rate=0.01),
    dict(visible_type="gaussian", persistent=True, learning_rate=0.01),
    dict(up_scale=2.0),
    dict(down_scale=2.0, k=2),
    dict(momentum=0.0),
    dict(weight_decay=0.0),
    dict(weight_decay=0.05),
]


@pytest.mark.parametrize("lr_step", [None, 7], ids=["constant-lr", "lr-schedule"])
@pytest.mark.parametrize("kwargs", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "cd1")
def test_fused_epochs_make_the_per_batch_updates(kwargs, lr_step):
    # A constant rate is baked into the fused graph; a schedule feeds one rate per update.
    fused, fused_params, fused_states, fused_noise = _train(4, lr_step=lr_step, **kwargs)
    plain, plain_params, plain_states, plain_noise = _train(0, lr_step=lr_step, **kwargs)
    # The fast path really ran: chunks of 4 batches (and the last batch of 10 on its own).
    assert fused_noise.calls[:4] == [4, 4, 3, 1] and set(plain_noise.calls) == {1}
    assert fused_noise.batch == plain_noise.batch == 36
    for name in plain_params:
        np.testing.assert_allclose(fused_params[name], plain_params[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert sorted(fused_states) == sorted(plain_states)
    for index in plain_states:
        np.testing.assert_allclose(fused_states[index], plain_states[index], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fused.loss_arr[:, 0], plain.loss_arr[:, 0], rtol=1e-5)
    # The optimizer's bookkeeping (update counts drive the lr schedule and go into checkpoints).
    assert optimizer_of(fused.trainers["model"]).num_update == optimizer_of(plain.trainers["model"]).num_update == 36
    if kwargs.get("persistent"):
        np.testing.assert_allclose(fused._chains[0].asnumpy(), plain._chains[0].asnumpy(), atol=1e-6)


def test_both_paths_report_the_same_epoch_figures():
    # Reconstruction errors and the pseudo-log-likelihoods of training and held-out data.
    histories = []
    for fused_batches in (4, 0):
        rbm = RestrictedBoltzmannMachines(12, 7, seed=0, learning_rate=0.05)
        rbm.fused_batches = fused_batches
        rbm._noise_source = _SameNoise(rbm)
        x = _data(False)
        rbm.learn(ArrayIterator(x[:200], test_x=x[200:], batch_size=20, epochs=3, seed=0), verbose=False)
        histories.append(rbm.history)
    fused, plain = histories
    assert fused.keys() == plain.keys() == ["pseudo_log_likelihood", "test_loss", "test_pseudo_log_likelihood",
                                            "train_loss"]
    for key in plain.keys():
        np.testing.assert_allclose(fused[key], plain[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_direct_per_batch_update_is_the_trainer_update():
    # clip_norm (huge: scale exactly 1) sends every step through the Trainer's gradient buffers.
    _, direct, direct_states, _ = _train(0)
    _, trainer, trainer_states, _ = _train(0, clip_norm=1e9)
    for name in direct:
        np.testing.assert_array_equal(direct[name], trainer[name])
    for index in direct_states:
        np.testing.assert_array_equal(direct_states[index], trainer_states[index])


@pytest.mark.parametrize("change", [
    dict(optimizer="adam"),
    dict(optimizer="nag"),
    dict(ctx=[mx.cpu(0), mx.cpu(1)]),
    dict(fit=dict(clip_norm=10.0)),
])
def test_fast_path_falls_back_when_it_does_not_apply(change):
    kwargs = {k: v for k, v in change.items() if k != "fit"}
    rbm = RestrictedBoltzmannMachines(12, 7, seed=0, **kwargs)
    rbm.fused_batches = 4
    noise = rbm._noise_source = _SameNoise(rbm)
    rbm.learn(ArrayIterator(_data(False), batch_size=20, epochs=2, seed=0), verbose=False, **change.get("fit", {}))
    assert set(noise.calls) == {1} and np.isfinite(rbm.loss_arr[:, 0]).all()


def test_large_models_take_the_per_batch_path():
    rbm = RestrictedBoltzmannMachines(12, 7, seed=0)
    rbm.fused_max_size = 10  # pretend the model is large
    noise = rbm._noise_source = _SameNoise(rbm)
    rbm.learn(ArrayIterator(_data(False), batch_size=20, epochs=1, seed=0), verbose=False)
    assert set(noise.calls) == {1}


@pytest.mark.parametrize("schedule", [False, True], ids=["constant-lr", "lr-schedule"])
@pytest.mark.parametrize("persistent", [False, True])
def test_resume_from_a_checkpoint_continues_the_fused_run(tmp_path, persistent, schedule):
    # PCD: the checkpoint keeps the persistent chains, so the resumed run is the uninterrupted one.
    x = _data(False)

    def run(epochs, resume):
        rbm = RestrictedBoltzmannMachines(12, 7, seed=0, learning_rate=0.05, persistent=persistent)
        rbm.learn(ArrayIterator(x, batch_size=20, epochs=epochs, seed=0), verbose=False,
                  checkpoint_dir=str(tmp_path / ("resumed" if resume else "straight")), resume=resume,
                  lr_scheduler=mx.lr_scheduler.FactorScheduler(step=20, factor=0.9) if schedule else None)
        return rbm

    # Ten epochs cut after five: by then the weights have grown enough for the chains to matter
    # (restarted from data instead, the resumed run ends elsewhere).
    straight = run(10, False)
    run(5, True)
    resumed = run(10, True)
    for name in ("weight", "visible_bias", "hidden_bias"):
        np.testing.assert_allclose(getattr(resumed, name).data().asnumpy(),
                                   getattr(straight, name).data().asnumpy(), rtol=1e-6, atol=1e-7)
    assert optimizer_of(resumed.trainers["model"]).num_update == optimizer_of(straight.trainers["model"]).num_update
