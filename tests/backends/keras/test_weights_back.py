"""Weights back from Keras (backends/keras/weights_back.py): a model compiled by ``to_keras`` or built by
the emitted file, its weights changed (at random, or by ``fit``), comes back into the IR and compiles to
torch with the same predictions. Bit-for-bit identity per layer kind runs in check_layer."""

import keras
import numpy as np
import pytest
from weights_back_check import (
    assert_same_predictions,
    block_model,
    image_model,
    inputs,
    mnist_batchnorm,
    run_keras,
    run_torch,
    sequence_model,
)

from examples.lstm_sentiment import build as lstm_classifier
from twinnet import emit, ir, load_weights_from, to_keras, to_torch
from twinnet.backends.keras.weights_back import load_weights_from as from_keras_model

L = ir.layers


def perturb(km, seed: int = 0) -> None:
    """Move every weight at random, as training would (moving variances kept positive)."""
    rng = np.random.default_rng(seed)
    for layer in km.layers:
        arrays = layer.get_weights()
        if not arrays:
            continue
        names = [w.path for w in layer.weights]
        moved = [a + 0.2 * rng.standard_normal(a.shape).astype(a.dtype) for a in arrays]
        moved = [np.abs(a) + 0.1 if n.endswith("moving_variance") else a for a, n in zip(moved, names)]
        layer.set_weights(moved)


MODELS = {
    "nchw": lambda: image_model("NCHW"),
    "nhwc": lambda: image_model("NHWC"),
    "sequence": sequence_model,
    "blocks": block_model,
}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_perturbed_keras_weights_compile_to_torch(case):
    model = MODELS[case]()
    km = to_keras(model)
    perturb(km)
    back = load_weights_from(model, km)
    assert not any(np.array_equal(back.weights[k], v) for k, v in model.weights.items())  # all moved
    net = to_torch(back)
    assert_same_predictions(model, lambda x: run_keras(km, x), lambda x: run_torch(net, x), seeds=(0, 1))


def test_emitted_model_comes_back(tmp_path):
    model = image_model("NCHW")
    emit(model, "keras", tmp_path)
    namespace = {"__name__": "emitted", "__file__": str(tmp_path / f"{model.name}.py")}
    exec(compile((tmp_path / f"{model.name}.py").read_text(), namespace["__file__"], "exec"), namespace)
    km = namespace[f"build_{model.name}"]()
    km.load_weights(str(tmp_path / f"{model.name}.weights.h5"))
    perturb(km, seed=3)
    net = to_torch(load_weights_from(model, km))
    assert_same_predictions(model, lambda x: run_keras(km, x), lambda x: run_torch(net, x))


def fit(km, model, loss: str, labels: np.ndarray) -> None:
    """Keras ``fit``, a few steps on seeded data."""
    keras.utils.set_random_seed(0)
    km.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    km.fit(inputs(model, 64, seed=10), labels, batch_size=16, epochs=1, verbose=0, shuffle=False)


def test_mnist_batchnorm_fitted_in_keras_predicts_the_same_in_torch():
    model = mnist_batchnorm()
    km = to_keras(model)
    fit(km, model, "sparse_categorical_crossentropy", np.random.default_rng(0).integers(0, 10, 64))
    back = load_weights_from(model, km)
    assert not np.array_equal(back.weights["batch_norm/moving_mean"], model.weights["batch_norm/moving_mean"])
    net = to_torch(back)
    assert_same_predictions(model, lambda x: run_keras(km, x), lambda x: run_torch(net, x))


def test_lstm_classifier_fitted_in_keras_predicts_the_same_in_torch():
    model = lstm_classifier()
    km = to_keras(model)
    fit(km, model, "binary_crossentropy", np.random.default_rng(1).integers(0, 2, (64, 1)).astype(np.float32))
    back = load_weights_from(model, km)
    assert not np.array_equal(back.weights["lstm/bias"], model.weights["lstm/bias"])
    net = to_torch(back)
    assert_same_predictions(model, lambda x: run_keras(km, x), lambda x: run_torch(net, x))


def test_a_model_of_another_architecture_is_refused():
    narrower = ir.Sequential([L.Dense(2)], input=ir.Input((4,)), name="narrow").initialize(0)
    wider = ir.Sequential([L.Dense(3)], input=ir.Input((4,)), name="narrow").initialize(0)
    with pytest.raises(ir.WeightError, match=r"Dense 'dense'.*'dense:0' has shape \(4, 3\), expected \(4, 2\)"):
        load_weights_from(narrower, to_keras(wider))
    deeper = ir.Sequential([L.Dense(2), L.Dense(2)], input=ir.Input((4,)), name="deep").initialize(0)
    with pytest.raises(ir.WeightError, match=r"dense_1: the Keras model has no layer of this name"):
        load_weights_from(deeper, to_keras(narrower))
    no_bias = ir.Sequential([L.Dense(2, use_bias=False)], input=ir.Input((4,)), name="narrow").initialize(0)
    with pytest.raises(
        ir.WeightError,
        match=r"Dense 'dense'.*Keras model has parameters that compiling 'narrow' does not make: dense:1",
    ):
        load_weights_from(no_bias, to_keras(narrower))


def test_wrong_framework_object_is_refused():
    model = image_model("NHWC")
    with pytest.raises(
        ir.WeightError, match=r"takes the torch\.nn\.Module, keras\.Model or onnx\.ModelProto .* got numpy\.ndarray"
    ):
        load_weights_from(model, np.zeros(3))
    with pytest.raises(ir.WeightError, match=r"from Keras take a keras\.Model, got ImageNhwc"):
        from_keras_model(model, to_torch(model))
