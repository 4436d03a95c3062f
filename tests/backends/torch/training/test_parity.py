"""Keras and torch, from the same weights on the same batches, take the same 20 steps.

Every optimizer (with a schedule among them) on the seeds' MNIST convnet with
and without BatchNorm, the fastText classifier and the LSTM classifier; every
loss on the convnet. Per-step losses agree to 1e-5 relative, final weights to
1e-4 relative (atol 1e-5), and the trained models predict alike. Learning rates are
small enough that 20 steps stay smooth: at rates that memorise a few samples
in a few steps the loss swings between the clip (16.1) and 1e-3, and torch in
float32 then differs from itself in float64 by more than from Keras.
"""

import numpy as np
import pytest
from training_check import assert_same_predictions, assert_same_weights, convnet_bn, data, example, run_both

from twinnet.ir import training as T

OPTIMIZERS = {
    "sgd": T.SGD(1e-3),
    "sgd_momentum": T.SGD(5e-4, momentum=0.9),
    "nesterov_step": T.SGD(T.StepDecay(5e-4, step_size=6, gamma=0.5), momentum=0.8, nesterov=True),
    "adam": T.Adam(1e-4),
    "adamw_warmup_cosine": T.AdamW(T.WarmUp(T.CosineDecay(1e-4, decay_steps=15, alpha=0.1), warmup_steps=5)),
    "rmsprop_decay": T.RMSprop(5e-5, weight_decay=0.01),
}
MODELS = {
    "convnet": (lambda: example("mnist_convnet.py"), "class", T.SparseCategoricalCrossentropy(), 8, 4),
    "convnet_bn": (convnet_bn, "class", T.SparseCategoricalCrossentropy(), 8, 4),
    "fasttext": (lambda: example("fasttext_sentiment.py"), "binary", T.BinaryCrossentropy(), 7, 3),
    "lstm": (lambda: example("lstm_sentiment.py"), "binary", T.BinaryCrossentropy(), 8, 4),
}
_BUILT = {}


def _model(name):
    if name not in _BUILT:
        _BUILT[name] = MODELS[name][0]()
    return _BUILT[name]


def _check(model, spec, x, y):
    km, tm, keras_losses, torch_losses = run_both(model, spec, x, y)
    assert np.all(np.isfinite(keras_losses))
    np.testing.assert_allclose(torch_losses, keras_losses, rtol=1e-5)
    assert_same_weights(km, tm)
    assert_same_predictions(km, tm, x[:2])
    assert_same_predictions(km, tm, x[:3])


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_optimizers_agree(model_name, opt_name):
    _, target, loss, n, batch = MODELS[model_name]
    model = _model(model_name)
    x, y = data(model, n, target)
    _check(model, T.TrainingSpec(loss, OPTIMIZERS[opt_name], batch_size=batch, seed=3, parity=True), x, y)


LOSSES = {
    "categorical": (T.CategoricalCrossentropy(), "onehot"),
    "categorical_logits": (T.CategoricalCrossentropy(from_logits=True), "onehot"),
    "sparse_logits": (T.SparseCategoricalCrossentropy(from_logits=True), "class"),
    "binary": (T.BinaryCrossentropy(), "binary"),
    "binary_logits": (T.BinaryCrossentropy(from_logits=True), "binary"),
    "mse": (T.MeanSquaredError(), "like"),
    "mae": (T.MeanAbsoluteError(), "like"),
    "huber": (T.Huber(delta=0.05), "like"),
}


@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_losses_agree(loss_name):
    loss, target = LOSSES[loss_name]
    model = _model("convnet")
    x, y = data(model, 8, target, seed=1)
    _check(model, T.TrainingSpec(loss, T.Adam(1e-4), batch_size=4, parity=True), x, y)


def test_regularisation_and_clipping_agree():
    model = _model("convnet_bn")
    x, y = data(model, 6, "class", seed=2)
    reg = T.Regularization(l1=1e-4, l2=1e-3)
    _check(
        model,
        T.TrainingSpec(
            T.SparseCategoricalCrossentropy(), T.SGD(1e-3), regularization=reg, clip_norm=0.5, batch_size=3, parity=True
        ),
        x,
        y,
    )
    model = _model("lstm")
    x, y = data(model, 6, "binary", seed=2)
    _check(
        model, T.TrainingSpec(T.BinaryCrossentropy(), T.Adam(1e-4), clip_value=1e-3, batch_size=3, parity=True), x, y
    )
