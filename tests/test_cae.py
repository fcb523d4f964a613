"""Convolutional auto-encoders: they reconstruct digits (vs PCA), tie kernels for real, compute the
exact encoder Jacobian, contract, repel, denoise, and refuse bad input."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from accelbrainbase.data import ArrayIterator
from accelbrainbase.interfaces import NoiseableData
from accelbrainbase.losses import pull_away_term
from accelbrainbase.models import ContractiveCAE, ConvolutionalAutoEncoder, RepellingCAE

CODE_CHANNELS = 16  # digits 8x8 -> a 1x1 code map of 16 values (<= 32)


def _images(x):
    return x.reshape(-1, 1, 8, 8)


def _pca_mse(x_train, x_test, k):
    from sklearn.decomposition import PCA

    pca = PCA(k).fit(x_train)
    return float(((pca.inverse_transform(pca.transform(x_test)) - x_test) ** 2).mean())


@pytest.fixture(scope="module")
def plain_cae(digits):
    x_train, x_test, _, _ = digits
    cae = ConvolutionalAutoEncoder(in_channels=1, channels=[24, 48, CODE_CHANNELS], seed=0)
    cae.hybridize()
    cae.learn(ArrayIterator(_images(x_train), test_x=_images(x_test), batch_size=32, epochs=25, seed=0),
              verbose=False)
    return cae


@pytest.mark.slow

def _brute_jacobian_norm(encode, x):
    """Squared Frobenius norm of d encode(x) / dx per sample, one autograd row per code unit."""
    n = x.shape[0]
    norms = np.zeros(n)
    for k in range(encode(x)[0].size):
        xx = x.copy()
        xx.attach_grad()
        with autograd.record():
            unit = encode(xx).reshape((n, -1))[:, k].sum()
        unit.backward()
        norms += (xx.grad.asnumpy() ** 2).reshape(n, -1).sum(axis=1)
    return norms

def test_cae_reconstructs_digits_better_than_pca(plain_cae, digits):
    x_train, x_test, _, _ = digits
    codes = plain_cae.extract_feature_points(_images(x_test))
    code_size = int(np.prod(codes.shape[1:]))
    assert code_size <= 32
    recon = plain_cae.inference(_images(x_test))
    mse = float(((recon - _images(x_test)) ** 2).mean())
    pca = _pca_mse(x_train, x_test, code_size)
    print(f"CAE code {code_size}: test MSE {mse:.4f}; PCA {code_size}: {pca:.4f}; "
          f"PCA 32: {_pca_mse(x_train, x_test, 32):.4f}")
    assert mse <= 0.01, mse
    assert mse < pca, (mse, pca)
    assert plain_cae.loss_arr[-1, 1] == pytest.approx(mse, rel=1e-3)


@pytest.fixture(scope="module")
def short_runs(digits):
    """Plain, contractive and repelling CAEs trained alike (short schedule), with their test codes."""
    x_train, x_test, _, _ = digits
    models = {}
    for name, cls, extra in [("plain", ConvolutionalAutoEncoder, {}),
                             ("contractive", ContractiveCAE, dict(contractive_weight=1e-4)),
                             ("repelling", RepellingCAE, dict(repelling_weight=0.1))]:
        model = cls(in_channels=1, channels=[24, 48, CODE_CHANNELS], learning_rate=5e-3, seed=0, **extra)
        model.hybridize()
        model.learn(ArrayIterator(_images(x_train), test_x=_images(x_test), batch_size=64, epochs=6, seed=0),
                    verbose=False)
        models[name] = model
    return models


@pytest.mark.slow
def test_contractive_penalty_shrinks_the_encoder_jacobian(short_runs, digits):
    x_test = _images(digits[1])
    norms = {k: float(np.mean(np.sqrt(m.encoder_jacobian_norm(x_test)))) for k, m in short_runs.items()}
    print("mean Frobenius norm of d code / d x on test digits:", norms)
    assert norms["contractive"] < 0.5 * norms["plain"], norms
    # and it still reconstructs
    mse = float(((short_runs["contractive"].inference(x_test) - x_test) ** 2).mean())
    assert mse < 0.05, mse  # per-pixel mean predictor: 0.074


@pytest.mark.slow
def test_repelling_cae_trains_and_spreads_codes(short_runs, digits):
    x_test = _images(digits[1])
    rep = short_runs["repelling"]
    assert np.isfinite(rep.loss_arr).all() and rep.loss_arr[-1, 0] < rep.loss_arr[0, 0]
    pt = {k: float(pull_away_term(mx.nd, mx.nd.array(m.extract_feature_points(x_test))).asscalar())
          for k, m in short_runs.items()}
    print("pull-away term of the test codes:", pt)
    assert pt["repelling"] < pt["plain"], pt


def test_encoder_jacobian_is_exact():
    rng = np.random.RandomState(0)
    for activation, code_activation, channels in [("relu", "identity", [3, 4, 5]), ("sigmoid", "tanh", [2, 3]),
                                                  ("softrelu", "sigmoid", [3])]:
        cae = ConvolutionalAutoEncoder(in_channels=2, channels=channels, activation=activation,
                                       code_activation=code_activation, initializer=mx.init.Normal(0.5), seed=0)
        x = mx.nd.array(rng.rand(3, 2, 8, 8))
        ours = cae.encoder_jacobian_norm(x).asnumpy()
        np.testing.assert_allclose(ours, _brute_jacobian_norm(cae.encoder, x), rtol=1e-4)


def test_tied_kernels_are_shared_not_copied():
    cae = ConvolutionalAutoEncoder(in_channels=1, channels=[4, 8], tied_weights=True, seed=0)
    untied = ConvolutionalAutoEncoder(in_channels=1, channels=[4, 8], seed=0)
    assert len([k for k in cae.collect_params() if k.endswith("weight")]) == 2
    assert len([k for k in untied.collect_params() if k.endswith("weight")]) == 4
    assert cae.decoder.tied0_weight is cae.encoder.l0_weight and cae.decoder.tied1_weight is cae.encoder.l1_weight
    x = np.random.RandomState(0).rand(32, 1, 8, 8).astype(np.float32)
    cae.learn(ArrayIterator(x, batch_size=8, epochs=2, seed=0), verbose=False)
    # The decoder computes with the encoder's kernels as they are after training.
    code = mx.nd.array(cae.extract_feature_points(x))
    args = dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1))
    h = mx.nd.relu(mx.nd.Deconvolution(code, cae.encoder.l1_weight.data().copy(), cae.decoder.l1_bias.data(),
                                       num_filter=4, no_bias=False, **args))
    out = mx.nd.sigmoid(mx.nd.Deconvolution(h, cae.encoder.l0_weight.data().copy(), cae.decoder.l0_bias.data(),
                                            num_filter=1, no_bias=False, **args))
    np.testing.assert_allclose(cae.inference(x), out.asnumpy(), rtol=1e-4, atol=1e-5)


class _Zeroing(NoiseableData):
    def noise(self, arr, F=None):
        return arr * 0.0


def test_denoising_through_the_iterator_and_the_model():
    x = np.random.RandomState(0).rand(16, 1, 8, 8).astype(np.float32)
    it = ArrayIterator(x, batch_size=16, epochs=1, shuffle=False, noiseable_data=_Zeroing())
    noisy, clean = next(it.train_batches(0))
    assert float(noisy.abs().sum().asscalar()) == 0.0 and np.allclose(clean.asnumpy(), x)
    cae = ConvolutionalAutoEncoder(in_channels=1, channels=[4, 8], seed=0)
    # Iterator-side: the loss of a (noisy, clean) batch is the error of reconstructing clean from noisy.
    expected = ((cae.inference(np.zeros_like(x)) - x) ** 2).reshape(16, -1).mean(axis=1)
    np.testing.assert_allclose(cae.compute_loss(noisy, clean).asnumpy(), expected, rtol=1e-5)
    # Model-side: corrupted only while training.
    model_side = ConvolutionalAutoEncoder(in_channels=1, channels=[4, 8], noiseable_data=_Zeroing(), seed=0)
    with autograd.record():
        trained = model_side.compute_loss(mx.nd.array(x), None)
    np.testing.assert_allclose(trained.asnumpy(), expected, rtol=1e-5)
    predicted = model_side.compute_loss(mx.nd.array(x), None)
    np.testing.assert_allclose(predicted.asnumpy(), ((cae.inference(x) - x) ** 2).reshape(16, -1).mean(axis=1),
                               rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=3), "even"),
    (dict(channels=[0]), "positive"),
    (dict(activation="bogus"), "unknown activation"),
])
def test_bad_hyper_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvolutionalAutoEncoder(in_channels=1, **kwargs)
    with pytest.raises(ValueError, match="contractive_weight"):
        ContractiveCAE(contractive_weight=-1)
    with pytest.raises(ValueError, match="repelling_weight"):
        RepellingCAE(repelling_weight=float("nan"))


@pytest.mark.parametrize("channels", [[16, 8], [24, 8], [8], [32, 48, 16]])
def test_channel_counts_that_break_onednn_deconvolution_train(channels):
    """oneDNN's Deconvolution (MXNet 1.9.1) failed at the first backward when decoding a multiple
    of 16 channels (AVX-512) or of 8 channels (AVX2) to one; the decoder does not use it, so every
    width trains - imperatively as well as hybridized, where one kernel feeding the encoder's
    convolution and the tied decoder also failed - and both give the same numbers."""
    x = np.random.RandomState(0).rand(32, 1, 8, 8).astype(np.float32)
    for cls, extra in [(ConvolutionalAutoEncoder, dict(tied_weights=True)), (ContractiveCAE, {})]:
        losses = []
        for hybridize in (False, True):
            cae = cls(in_channels=1, channels=channels, seed=0, **extra)
            cae.hybridize(hybridize)
            cae.learn(ArrayIterator(x, batch_size=16, epochs=2, seed=0), verbose=False)
            losses.append(cae.loss_arr[:, 0])
        assert np.isfinite(losses[0]).all()
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_bad_shapes_and_bottleneck_settings_are_refused():
    cae = ConvolutionalAutoEncoder(in_channels=1, channels=[4, 8, 8], seed=0)
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        cae.inference(np.zeros((2, 3, 8, 8), dtype=np.float32))
    # The bottleneck's layers depend on the code map's size: the image size must be given ...
    with pytest.raises(ValueError, match=r"code_dim needs image_size.*16 x 4 x 4"):
        ConvolutionalAutoEncoder(in_channels=1, channels=[4, 8, 16], code_dim=10)
    for bad, message in [(dict(code_dim=0, image_size=8), "code_dim must be"), (dict(code_dim=2.5, image_size=8),
                         "code_dim must be"), (dict(image_size=(8, 0)), "image_size must be"),
                         (dict(image_size=(8, 8, 8)), "image_size must be"), (dict(pad_mode="reflect"), "pad_mode")]:
        with pytest.raises(ValueError, match=message):
            ConvolutionalAutoEncoder(in_channels=1, **bad)
    # ... and other sizes are refused, naming the expected one.
    fixed = ConvolutionalAutoEncoder(in_channels=1, channels=[4, 8], code_dim=3, image_size=(12, 10), seed=0)
    assert fixed.input_shape == (1, 12, 10)
    with pytest.raises(ValueError, match=r"\(1, 12, 12\) but the model expects \(1, 12, 10\)"):
        fixed.inference(np.zeros((2, 1, 12, 12), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(1, 8, 8\) but the model expects \(1, 12, 10\)"):
        fixed.learn(ArrayIterator(np.zeros((4, 1, 8, 8)), batch_size=2, epochs=1), verbose=False)


def test_channel_errors_say_which_counts_work():
    """No channel count is refused for the old oneDNN failure (every width trains, see above); the
    one remaining channel check says what works."""
    with pytest.raises(ValueError, match=r"positive integers \(any positive counts work\), got in_channels=1, "
                                         r"channels=\[8, 0\]") as err:
        ConvolutionalAutoEncoder(in_channels=1, channels=[8, 0])
    assert "oneDNN" not in str(err.value)
    for channels in ([1], [3, 5, 7], [16, 32, 48], [24, 8, 1]):
        ConvolutionalAutoEncoder(in_channels=3, channels=channels)


def _upsampled_digits(x, side=28):
    """Digits 8x8 -> ``side x side`` (bilinear), still in [0, 1]."""
    from scipy.ndimage import zoom

    return np.clip(zoom(x.reshape(-1, 8, 8), (1, side / 8, side / 8), order=1), 0, 1).astype(np.float32)[:, None]


def test_28x28_images_train_and_reconstruct_with_the_default_depth(digits):
    """The default three layers halve 28 three times: the model pads to 32x32 inside and crops back."""
    x = _upsampled_digits(digits[0][:96])
    cae = ConvolutionalAutoEncoder(in_channels=1, seed=0)
    assert cae.encoder.channels == [1, 24, 48, 32] and cae.code_shape(28, 28) == (32, 4, 4)
    cae.hybridize()
    cae.learn(ArrayIterator(x, batch_size=32, epochs=3, seed=0), verbose=False)
    assert np.isfinite(cae.loss_arr[:, 0]).all() and cae.loss_arr[-1, 0] < cae.loss_arr[0, 0]
    recon = cae.inference(x)
    assert recon.shape == x.shape and ((recon > 0) & (recon < 1)).all()
    assert cae.extract_feature_points(x[:5]).shape == (5, 32, 4, 4)
    # The loss is the error on the original 28x28 pixels (the padding is not part of it).
    per_sample = ((recon - x) ** 2).reshape(len(x), -1).mean(axis=1)
    np.testing.assert_allclose(cae.compute_loss(mx.nd.array(x), None).asnumpy(), per_sample, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("pad_mode", ["zero", "edge"])
def test_padding_is_the_decoder_of_the_padded_image_cropped(pad_mode):
    """inference(x) = crop(decoder(encoder(pad(x)))): bottom/right padding to multiples of 2**L, with
    zeros or edge pixels; sizes that already are multiples are not padded. One hybridized model
    serves every size, and gives the imperative numbers."""
    rng = np.random.RandomState(0)
    cae = ConvolutionalAutoEncoder(in_channels=2, channels=[4, 6], pad_mode=pad_mode, seed=0)
    np_mode = {"zero": "constant", "edge": "edge"}[pad_mode]
    images = {size: rng.rand(3, 2, *size).astype(np.float32) for size in [(8, 8), (13, 6), (3, 17), (1, 1), (28, 28)]}
    expected = {}
    for (h, w), x in images.items():
        padded = np.pad(x, ((0, 0), (0, 0), (0, -h % 4), (0, -w % 4)), mode=np_mode)
        full = cae.decoder(cae.encoder(mx.nd.array(padded))).asnumpy()
        expected[h, w] = full[:, :, :h, :w]
        np.testing.assert_allclose(cae.inference(x), expected[h, w], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cae.extract_feature_points(x), cae.encoder(mx.nd.array(padded)).asnumpy(),
                                   rtol=1e-5, atol=1e-6)
    assert np.array_equal(cae.inference(images[8, 8]), cae.decoder(cae.encoder(mx.nd.array(images[8, 8]))).asnumpy())
    cae.hybridize()
    for size in [(13, 6), (8, 8), (28, 28), (1, 1), (3, 17)]:  # shapes vary between calls of the cached graph
        out = cae(mx.nd.array(images[size])).asnumpy()
        assert out.shape == images[size].shape
        np.testing.assert_allclose(out, expected[size], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, code_dim, pad_mode", [((7, 10), None, "zero"), ((7, 10), None, "edge"),
                                                      ((8, 8), 5, "zero"), ((6, 5), 4, "edge")])
def test_encoder_jacobian_is_exact_with_padding_and_bottleneck(size, code_dim, pad_mode):
    """The exact Jacobian of what the model encodes: the padded image, and the dense code if any."""
    rng = np.random.RandomState(0)
    for activation, code_activation, channels in [("relu", "identity", [3, 4]), ("sigmoid", "tanh", [2])]:
        cae = ContractiveCAE(in_channels=2, channels=channels, activation=activation, code_activation=code_activation,
                             code_dim=code_dim, image_size=size if code_dim else None, pad_mode=pad_mode,
                             initializer=mx.init.Normal(0.5), seed=0)
        x = mx.nd.array(rng.rand(3, 2, *size))
        for hybridize in (False, True):
            cae.hybridize(hybridize)
            ours = cae.encoder_jacobian_norm(x).asnumpy()
            np.testing.assert_allclose(ours, _brute_jacobian_norm(cae.extract_feature_points, x), rtol=1e-4)


def test_a_bottleneck_gives_codes_of_code_dim_values(tmp_path):
    x = np.random.RandomState(0).rand(12, 1, 28, 28).astype(np.float32)
    for cls, extra in [(ConvolutionalAutoEncoder, dict(tied_weights=True)), (ContractiveCAE, {}), (RepellingCAE, {})]:
        cae = cls(in_channels=1, channels=[4, 8, 8], code_dim=6, image_size=28, seed=0, **extra)
        assert cae.code_shape() == (6,)
        cae.learn(ArrayIterator(x, batch_size=4, epochs=1, seed=0), verbose=False)
        assert cae.extract_feature_points(x).shape == (12, 6) and cae.inference(x).shape == x.shape
    # The image size is part of the configuration: save and load rebuild the same bottleneck.
    cae.save(str(tmp_path / "cae.params"))
    loaded = RepellingCAE.load(str(tmp_path / "cae.params"))
    assert loaded.image_size == (28, 28) and loaded.code_dim == 6
    np.testing.assert_array_equal(loaded.extract_feature_points(x), cae.extract_feature_points(x))


@pytest.mark.slow
def test_the_bottleneck_learns_28x28_digits(digits):
    """A 16-value code of digits upsampled to 28x28 (a size that is not a multiple of 8): far below
    the per-pixel mean predictor after a short run (512 digits, 10 epochs; 30 epochs on all the
    digits reach 0.0024, PCA with 16 components 0.0051: README)."""
    x_train, x_test = _upsampled_digits(digits[0][:512]), _upsampled_digits(digits[1])
    mean_predictor = float(((x_test - x_train.mean(axis=0)) ** 2).mean())
    cae = ConvolutionalAutoEncoder(in_channels=1, channels=[8, 16, 16], code_dim=16, image_size=28, seed=0)
    cae.hybridize()
    cae.learn(ArrayIterator(x_train, test_x=x_test, batch_size=32, epochs=10, seed=0), verbose=False)
    mse = float(((cae.inference(x_test) - x_test) ** 2).mean())
    print(f"bottleneck 16 on 28x28 digits: test MSE {mse:.4f}; per-pixel mean predictor {mean_predictor:.4f}")
    assert cae.extract_feature_points(x_test).shape == (len(x_test), 16)
    assert mse < 0.5 * mean_predictor, (mse, mean_predictor)


def test_padding_and_bottleneck_train_on_several_contexts():
    """Batches split over two devices: the same losses as on one (the padding is per slice)."""
    x = np.random.RandomState(0).rand(16, 1, 12, 10).astype(np.float32)
    losses = []
    for ctx in (mx.cpu(0), [mx.cpu(0), mx.cpu(1)]):
        cae = ContractiveCAE(in_channels=1, channels=[4, 6], code_dim=5, image_size=(12, 10), ctx=ctx, seed=0)
        cae.hybridize()
        cae.learn(ArrayIterator(x, batch_size=8, epochs=3, seed=0), verbose=False)
        losses.append(cae.loss_arr[:, 0])
        assert cae.inference(x).shape == x.shape
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
