"""Training the same IR model in Keras and torch on the same batches, and comparing the two runs.

``run_both`` trains one model for ``steps`` updates in each framework (Keras's
``train_on_batch`` on the model ``to_keras(model, training=spec)`` compiles,
twinnet's torch ``Trainer`` on ``to_torch(model)``) and returns both per-step
losses; ``assert_same_weights`` compares every layer's weights by value
(sorted, so no layout knowledge is needed: transposes, gate orders and folded
permutations keep the values) and ``assert_same_predictions`` the two trained
models on fresh inputs in inference mode, which checks BatchNorm's running
statistics too.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np

import twinnet
from twinnet import layers as L
from twinnet.backends.torch.training import Trainer
from twinnet.ir.training.data import Batches

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(file: str, fn: str = "build", seed: int = 0) -> twinnet.Model:
    spec = importlib.util.spec_from_file_location("train_" + file.removesuffix(".py"), EXAMPLES / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, fn)(seed)


def convnet_bn(seed: int = 0) -> twinnet.Model:
    """The MNIST convnet of examples/mnist_convnet.py with a BatchNorm after each convolution,
    its normalisation statistics, scales and biases randomised.

    The convolutions have no bias, as usual before a BatchNorm: such a bias has a gradient of
    exactly zero (the normalisation subtracts it again), so its computed gradient is rounding
    noise, which Adam and RMSprop divide by its own size and turn into full-size steps that
    differ between any two implementations.
    """
    x = twinnet.Input(shape=(28, 28, 1), layout="NHWC", name="image")
    h = L.Conv2D(32, 3, use_bias=False)(x)
    h = L.Activation("relu")(L.BatchNorm()(h))
    h = L.MaxPool2D(2)(h)
    h = L.Conv2D(64, 3, use_bias=False)(h)
    h = L.Activation("relu")(L.BatchNorm()(h))
    h = L.MaxPool2D(2)(h)
    h = L.Dropout(0.5)(L.Flatten()(h))
    y = L.Dense(10, activation="softmax")(h)
    model = twinnet.Model(inputs=x, outputs=y, name="mnist_convnet_bn").initialize(seed)
    rng = np.random.default_rng(seed)
    weights = dict(model.weights)
    for key, value in weights.items():
        if key.endswith(("moving_mean", "beta")):
            weights[key] = rng.normal(0, 0.2, value.shape).astype(np.float32)
        elif key.endswith(("moving_variance", "gamma")):
            weights[key] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
    return model.set_weights(weights)


def data(model: twinnet.Model, n: int, target: str, seed: int = 0):
    """``n`` seeded samples for ``model``'s one input, and targets: ``"class"`` (ints 0-9), ``"binary"``
    ((n, 1) zeros and ones), or ``"like"`` (floats shaped like the output)."""
    rng = np.random.default_rng(seed)
    spec = model.inputs[0]
    shape = (n, *[s for a, s in zip(spec.layout, spec.shape) if a != "N"])
    if spec.dtype == "int32":
        # No token in two samples: a shared token's gradient is a difference of two, whose rounding
        # Adam and RMSprop (dividing by the gradient's own size) blow up to a visible step. Each sample
        # repeats its first token, so an embedding gradient with a repeated row is still exercised.
        x = rng.permutation(20000)[: int(np.prod(shape))].reshape(shape).astype(np.int32)
        x[:, 1] = x[:, 0]
    else:
        x = rng.random(shape, np.float32)
    out = model.outputs[0].shape[-1]
    if target == "class":
        y = rng.integers(0, out, n)
    elif target == "binary":
        y = rng.integers(0, 2, (n, out)).astype(np.float32)
    elif target == "onehot":
        y = np.eye(out, dtype=np.float32)[rng.integers(0, out, n)]
    else:
        y = rng.random((n, out), np.float32)
    return x, y


def run_both(model, spec, x, y, steps: int = 20):
    """Train ``model`` for ``steps`` updates in Keras and in torch on the same seeded batches."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "parity mode: dropout turned off")
        km = twinnet.to_keras(model, training=spec)
        trainer = Trainer(twinnet.to_torch(model), spec, "cpu")
    batches = Batches(x, y, batch_size=spec.batch_size, seed=spec.seed)
    keras_losses, torch_losses = [], []
    for step in range(steps):
        xb, yb = batches.batch(step // len(batches), step % len(batches))
        keras_losses.append(float(km.train_on_batch(xb, yb)))
        torch_losses.append(trainer.train_step(xb, yb))
    return km, trainer.module, np.array(keras_losses), np.array(torch_losses)


def _torch_layer_weights(module, name):
    sub = dict(module.named_modules()).get(name)
    if sub is None:
        return []
    state = sub.state_dict()
    return [v.detach().numpy() for k, v in state.items() if "num_batches_tracked" not in k and "bias_hh" not in k]


def assert_same_weights(km, tm, rtol=1e-4, atol=1e-5):
    """Every Keras layer's weights against the torch module of the same name, value by value (sorted)."""
    compared = 0
    for layer in km.layers:
        kw = [np.asarray(w) for w in layer.get_weights()]
        if not kw:
            continue
        tw = _torch_layer_weights(tm, layer.name)
        assert len(tw) == len(kw), f"{layer.name}: {len(kw)} Keras weights, {len(tw)} torch tensors"
        for i, (k, t) in enumerate(zip(sorted(kw, key=np.size), sorted(tw, key=np.size))):
            assert k.size == t.size, f"{layer.name} weight {i}: {k.shape} vs {t.shape}"
            np.testing.assert_allclose(np.sort(t.ravel()), np.sort(k.ravel()), rtol=rtol, atol=atol, err_msg=layer.name)
            compared += 1
    assert compared, "no weights compared"


def assert_same_predictions(km, tm, x):
    import torch

    tm.eval()
    with torch.no_grad():
        got = tm(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, np.asarray(km(x, training=False)), rtol=1e-4, atol=1e-5)
