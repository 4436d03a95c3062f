"""randomized(): kernels kept, every other weight random, BatchNorm statistics calibrated; the model is untouched."""

import numpy as np

from twinnet import ir
from twinnet.backends import to_keras
from twinnet.exporters.inputs import model_inputs
from twinnet.exporters.randomize import randomized
from twinnet.ir import layers as L


def deep():
    """Twelve Dense+BatchNorm layers (no bias, as convolutions before a BatchNorm usually are) with small kernels:
    BatchNorm's initial statistics (0, 1) let the kernels shrink the signal 10x per layer."""
    x = ir.Input((8,), name="x")
    h = x
    for i in range(12):
        h = L.BatchNorm(name=f"bn{i}")(L.Dense(8, use_bias=False, name=f"d{i}")(h))
    model = ir.Model(x, h, name="deep").initialize(0)
    for i in range(12):
        model.weights[f"d{i}/kernel"] = (model.weights[f"d{i}/kernel"] * 0.1).astype(np.float32)
    return model


def test_kernels_are_kept_and_the_rest_is_random_and_seeded():
    model = deep()
    before = {k: v.copy() for k, v in model.weights.items()}
    copy = randomized(model, seed=3)
    assert all(np.array_equal(model.weights[k], v) for k, v in before.items())  # the model is not changed
    assert all(copy.weights[f"d{i}/kernel"] is model.weights[f"d{i}/kernel"] for i in range(12))
    for key in ("bn0/gamma", "bn0/beta", "bn0/moving_mean", "bn0/moving_variance"):
        assert not np.array_equal(copy.weights[key], model.weights[key]), key
    again = randomized(model, seed=3)
    assert all(np.array_equal(again.weights[k], v) for k, v in copy.weights.items())
    assert copy.layers is model.layers or [n.name for n in copy.layers] == [n.name for n in model.layers]


def test_calibrated_statistics_keep_the_signal_alive():
    model = deep()
    xs = model_inputs(model, 16, 5, seed=1)
    real = np.asarray(to_keras(model)(xs[0]))
    sensitive = np.asarray(to_keras(randomized(model, seed=0))(xs[0]))
    assert real.std(axis=0).max() < 1e-6  # the real weights: the output hardly depends on the input
    assert sensitive.std(axis=0).min() > 0.05  # calibrated: every feature still moves with the input


def test_a_constant_that_dominates_is_not_amplified():
    """A BatchNorm whose input is a large constant plus a tiny variation divides by at least that constant
    (variance floored at mean^2): amplifying it would amplify float32 rounding along with it."""
    x = ir.Input((4,), name="x")
    model = ir.Model(x, L.BatchNorm(name="bn")(L.Dense(4, name="d")(x)), name="offset").initialize(0)
    model.weights["d/kernel"] = np.full((4, 4), 1e-4, np.float32)
    copy = randomized(model, seed=0)
    mean, var = copy.weights["bn/moving_mean"], copy.weights["bn/moving_variance"]
    assert np.all(var >= mean.astype(np.float64) ** 2 * (1 - 1e-6)) and np.all(np.abs(mean) > 0.01)


def test_keras_calibration_draws_what_a_leading_rescaling_expects():
    """randomize_keras(calibrate=True) calibrates on the inputs verify feeds: behind Rescaling(1/255), pixels in
    [-255, 255], not [-1, 1] (a BatchNorm calibrated on 255x smaller inputs would amplify them 255x)."""
    import keras

    import twinnet
    from twinnet.exporters.randomize import keras_input_range, randomize_keras

    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(keras.layers.Rescaling(1 / 255, name="scale")(x))
    km = keras.Model(x, keras.layers.BatchNormalization(name="bn")(h))
    low, high = keras_input_range(km, km.inputs[0])
    assert np.allclose([low, high], [-255.0, 255.0])
    randomize_keras(km, 0, calibrate=True)
    xs = model_inputs(twinnet.from_keras(km), 64, 5, seed=3)  # what verify draws for this model
    assert xs[0].min() < -200 and xs[0].max() > 200
    bn = km.get_layer("bn")
    normalised = (np.asarray(km(xs[0], training=False)) - np.asarray(bn.beta)) / np.asarray(bn.gamma)
    std = normalised.reshape(-1, 4).std(axis=0)
    assert np.all((std > 0.5) & (std < 2.0)), std  # O(1), as calibrated: not 255x
