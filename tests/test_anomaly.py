"""EncDec-AD on real series: the benchmark's data sets and protocols, the default recipe
(`learn_anomaly_detector`: standardized inputs, the best epoch on held-out normal windows, a
Ledoit-Wolf Gaussian), the PCA baseline, and one benchmark data set per protocol with one seed."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from accelbrainbase.data import anomaly_sets
from accelbrainbase.data.anomaly_sets import SENSOR_ANOMALY_KINDS, anomaly_task, anomaly_tasks, inject_sensor_anomalies
from accelbrainbase.models import EncoderDecoder, TransformerEncoderDecoder
from accelbrainbase.models.anomaly import (
    GaussianErrorModel,
    InputStandardizer,
    code_size,
    ledoit_wolf_shrinkage,
    pca_anomaly_scores,
)


def test_ledoit_wolf_shrinkage_matches_scikit_learn():
    from sklearn.covariance import LedoitWolf
    from sklearn.covariance import ledoit_wolf_shrinkage as reference

    rng = np.random.RandomState(0)
    for m, d in ((5, 40), (60, 24), (2000, 6)):
        x = rng.randn(m, d) @ rng.randn(d, d)
        assert ledoit_wolf_shrinkage(x) == pytest.approx(reference(x), rel=1e-9)
        g, lw = GaussianErrorModel().fit(x), LedoitWolf().fit(x)
        probe = rng.randn(4, d)
        diff = probe - lw.location_
        np.testing.assert_allclose(g.distance(probe), np.sqrt(np.einsum("ij,jk,ik->i", diff, lw.precision_, diff)),
                                   rtol=1e-6)
    many = GaussianErrorModel().fit(x).shrinkage_
    few = GaussianErrorModel().fit(x[:5, :40 if d >= 40 else d]).shrinkage_
    assert many is not None and few is not None and many < 0.05 < few
    with pytest.raises(ValueError, match="'auto'"):
        GaussianErrorModel("ledoit")


def test_injected_sensor_anomalies_are_of_the_asked_kind_and_size():
    clean = np.zeros((40, 32, 2), np.float32)
    x, kinds = inject_sensor_anomalies(clean, scale=np.array([1.0, 2.0]), seed=0)
    assert x.shape == clean.shape and set(kinds) <= {1, 2, 3, 4} and len(set(kinds)) == 4
    changed = (x != 0).any(axis=2).sum(axis=1)
    assert (changed[kinds == 1] == 1).all()                  # a spike moves one step
    assert (changed[kinds == 2] >= 8).all()                  # a level shift lasts to the end
    rng = np.random.RandomState(1)
    ramp = np.cumsum(rng.randn(10, 32, 1), axis=1).astype(np.float32)
    stuck, kinds = inject_sensor_anomalies(ramp, ("stuck",), seed=0)
    # A stuck sensor repeats one value for a quarter to a half of the window.
    runs = [(np.diff(w[:, 0]) == 0).sum() for w in stuck]
    assert kinds.tolist() == [SENSOR_ANOMALY_KINDS.index("stuck") + 1] * 10 and min(runs) >= 7
    with pytest.raises(ValueError, match="unknown anomaly kinds"):
        inject_sensor_anomalies(clean, ("drift",))


def test_benchmark_tasks_keep_test_data_out_of_fitting():
    for name, protocol in (("ItalyPowerDemand", "one-class"), ("co2-monthly", "injected")):
        task = anomaly_task(name)
        assert task.protocol == protocol
        assert task.train.ndim == task.normal.ndim == task.test.ndim == 3
        assert task.labels.shape == (len(task.test),) and 0 < task.labels.mean() < 1
        assert task.validation_labels.mean() == 0.5 and len(task.validation) == 2 * len(task.normal)
    # One-class: the normal class's training series, split in two; the archive's test series scored.
    tasks = anomaly_tasks("ItalyPowerDemand")
    assert [t.name for t in tasks] == ["ItalyPowerDemand/1", "ItalyPowerDemand/2"]
    x_train, y_train = anomaly_sets.load_ucr("ItalyPowerDemand", "train")
    assert len(tasks[0].train) + len(tasks[0].normal) == (y_train == "1").sum()
    # Injected: half the test windows are corrupted copies of the other half.
    task = anomaly_task("co2-monthly")
    n = len(task.test) // 2
    assert (task.labels[:n] == 0).all() and (task.labels[n:] == 1).all()
    assert (task.test[:n] != task.test[n:]).any(axis=(1, 2)).all()
    with pytest.raises(ValueError, match="unknown data set"):
        anomaly_task("Nile")


def test_tuning_sets_load_and_are_apart_from_the_reported_sets():
    from benchmarks.bench_anomaly import DATASETS

    assert set(anomaly_sets.TUNING_SETS) <= set(anomaly_sets.ANOMALY_TASKS)
    assert not set(anomaly_sets.TUNING_SETS) & set(DATASETS)
    assert set(anomaly_sets.TUNING_SETS) | set(DATASETS) == set(anomaly_sets.ANOMALY_TASKS)
    features = {}
    for name in anomaly_sets.TUNING_SETS:
        task = anomaly_tasks(name)[0]
        assert task.protocol == anomaly_sets.ANOMALY_TASKS[name][0]
        assert len(task.train) >= 8 and len(task.normal) >= 4, name      # enough to train and fit a Gaussian
        assert task.train.shape[1:] == task.normal.shape[1:] == task.test.shape[1:]
        assert np.isfinite(task.test).all() and 0 < task.labels.mean() < 1
        features[name] = task.train.shape[2]
    assert features["macrodata"] == features["uschange"] == 5 and features["daphnet"] == 9
    assert anomaly_task("OSULeaf").train.shape[1] == 107                 # every 4th of 427 steps


def test_the_wheel_is_checked_before_it_is_read(tmp_path, monkeypatch):
    good = anomaly_sets.aeon_wheel()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    bad = wheels / os.path.basename(good)
    shutil.copy(good, bad)
    with open(bad, "ab") as f:
        f.write(b"tampered")
    monkeypatch.setenv(anomaly_sets.DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="SHA-256"):
        anomaly_sets.aeon_wheel(download=False)
    bad.unlink()
    with pytest.raises(FileNotFoundError, match="not cached"):
        anomaly_sets.aeon_wheel(download=False)


def test_standardized_models_take_raw_units_and_keep_their_scaling():
    rng = np.random.RandomState(0)
    x = (1000 + 50 * rng.randn(64, 12, 2)).astype(np.float32) * np.array([1.0, 0.01], np.float32)
    for model in (EncoderDecoder(2, 8, seed=0), TransformerEncoderDecoder(2, d_model=8, num_heads=2, code_dim=4,
                                                                          seed=0)):
        model.learn(x, epochs=2, batch_size=32, verbose=0)
        assert model.standardizer is not None
        mean, scale = model.standardizer.statistics()
        np.testing.assert_allclose(mean, x.reshape(-1, 2).mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(scale, x.reshape(-1, 2).std(axis=0), rtol=1e-4)
        assert np.isfinite(model.loss_arr[:, 0]).all() and model.loss_arr[-1, 0] < 10   # standardized units
        out = model.inference(x[:3])
        assert np.abs(out.mean(axis=(0, 1)) - mean).max() < 3 * scale.max()     # back in raw units
        model.learn(x * 2, epochs=1, batch_size=32, verbose=0)    # a second call keeps the scaling
        np.testing.assert_array_equal(model.standardizer.statistics()[0], mean)
        twin = type(model)(**model.get_config())
        twin.load_state_dict(model.state_dict())                  # the scaling is part of the weights
        np.testing.assert_allclose(twin.inference(x[:3]), model.inference(x[:3]), rtol=1e-4)
    plain = EncoderDecoder(2, 8, standardize=False, seed=0)
    assert plain.standardizer is None
    s = InputStandardizer(1)
    s.initialize()
    s.fit(np.full((3, 4, 1), 7.0))                                 # a constant feature keeps scale 1
    assert s.statistics()[1].tolist() == [1.0]


def test_learn_anomaly_detector_restores_the_best_epoch_and_fits_the_detector():
    rng = np.random.RandomState(0)
    t = np.arange(16)[None, :, None]
    x = (3 * np.sin(0.6 * t + rng.rand(80, 1, 1) * 6.28) + 0.1 * rng.randn(80, 16, 1)).astype(np.float32)
    model = EncoderDecoder(1, code_size(16), seed=0)
    model.learn_anomaly_detector(x, updates=60, false_alarm_rate=0.05)
    history = model.history["test_loss"]
    assert len(history) == 6      # 60 windows repeated 5 times (>= 8 batches of 32 an epoch): 60 updates, 6 epochs
    held_out = x[-20:]
    assert model.standardizer is not None
    recon = ((model.inference(held_out) - held_out) ** 2).mean() / model.standardizer.statistics()[1][0] ** 2
    assert recon == pytest.approx(history.min(), rel=1e-3)          # the best epoch, not the last
    assert model.detector.shrinkage_ > 0 and model.threshold is not None and model.detector_window == (16, 1)
    with pytest.raises(ValueError, match="too few"):
        model.learn_anomaly_detector(x[:6])
    with pytest.raises(ValueError, match="at least 4"):
        model.learn_anomaly_detector(x, x[:2])


def test_pca_baseline_defaults_to_90_percent_of_the_variance():
    rng = np.random.RandomState(0)
    basis = rng.randn(3, 20)
    train = rng.randn(200, 3) @ basis + 0.05 * rng.randn(200, 20)
    normal = rng.randn(50, 3) @ basis + 0.05 * rng.randn(50, 20)
    off = rng.randn(50, 3) @ basis + 0.05 * rng.randn(50, 20) + 0.5 * np.eye(20)[rng.randint(0, 20, 50)]
    scores = pca_anomaly_scores(train, normal, np.r_[normal, off])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(np.r_[np.zeros(50), np.ones(50)], scores) > 0.95


def test_an_ensemble_trains_its_members_apart_and_reconstructs_with_their_mean(tmp_path, monkeypatch):
    rng = np.random.RandomState(0)
    t = np.arange(16)[None, :, None]
    x = (np.sin(0.6 * t + rng.rand(96, 1, 1) * 6.28) + 0.05 * rng.randn(96, 16, 1)).astype(np.float32)
    model = EncoderDecoder.for_anomaly_detection(16, seed=0)
    assert (model.hidden_dim, model.members) == (code_size(16), 3)
    model.learn_anomaly_detector(x[:64], x[64:], updates=40)
    # Member by member (in standardized units): the members differ, the model's output is their mean.
    import mxnet as mx

    z = model._standardized(mx.nd.array(x[64:]))
    outs = [o.asnumpy() for o in model._member_outputs(mx.nd, z)]
    assert len(outs) == 3 and np.abs(outs[0] - outs[1]).mean() > 1e-3
    assert model.standardizer is not None
    mean, scale = model.standardizer.statistics()
    np.testing.assert_allclose(model.inference(x[64:]), np.mean(outs, axis=0) * scale + mean, rtol=1e-4, atol=1e-5)
    # The default budget is that of one model (DEFAULT_UPDATES member-updates): a third per member here.
    from accelbrainbase.models import anomaly

    monkeypatch.setattr(anomaly, "DEFAULT_UPDATES", 48)
    default = EncoderDecoder.for_anomaly_detection(16, seed=0)
    default.learn_anomaly_detector(x[:64], x[64:])
    assert len(default.history["train_loss"]) == 2          # 16 updates: 64 windows repeated to 8 batches of 32
    model.save(str(tmp_path / "ensemble"))
    loaded = EncoderDecoder.load(str(tmp_path / "ensemble"))
    np.testing.assert_allclose(loaded.anomaly_score(x[64:]), model.anomaly_score(x[64:]), rtol=1e-5)
    with pytest.raises(ValueError, match="unconditioned decoder"):
        EncoderDecoder(1, 8, members=2, decoder_feedback=True)


@pytest.mark.parametrize("name, at_least", [("ItalyPowerDemand", 0.93), ("co2-monthly", 0.92)])
def test_default_recipe_on_one_benchmark_data_set_per_protocol(name, at_least):
    """One-class (ItalyPowerDemand, class 1 normal) and injected (co2-monthly), seed 0, as in
    ``python -m benchmarks anomaly``: the LSTM recipe within 0.03 of PCA + Mahalanobis and of the
    detector on the raw windows, and far above reconstructing every window by the training mean."""
    from sklearn.metrics import roc_auc_score

    from benchmarks.bench_anomaly import lstm_scores, pca_scores, raw_scores

    task = anomaly_task(name)
    pca = roc_auc_score(task.labels, pca_scores(task))
    raw = roc_auc_score(task.labels, raw_scores(task))
    mean = task.train.reshape(-1, task.train.shape[-1]).mean(axis=0)
    by_mean = roc_auc_score(task.labels, ((task.test - mean) ** 2).sum(axis=(1, 2)))
    lstm = roc_auc_score(task.labels, lstm_scores(task, seed=0))
    assert lstm >= at_least and lstm >= max(pca, raw) - 0.03, (lstm, pca, raw)
    assert lstm >= by_mean + 0.2, (lstm, by_mean)
