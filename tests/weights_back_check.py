"""Models and helpers the weights-back tests of both backends share (tests/backends/torch and keras).

The models cover what the transfer rearranges: a channels-first image (Keras folds the Flatten order
into Dense) and a channels-last one (torch does), BatchNorm statistics, LSTM / bidirectional GRU gate
orders and biases, attention projections, repeated blocks; and the seeds' MNIST convnet with BatchNorm and the LSTM
classifier of examples/ for the training round trips.
"""

from __future__ import annotations

import numpy as np

from twinnet import ir

L = ir.layers
BATCHES = (2, 5)


def image_model(layout: str) -> ir.Model:
    shape = (9, 10, 3) if layout == "NHWC" else (3, 9, 10)
    x = ir.Input(shape, layout=layout, name="x")
    h = L.BatchNorm()(L.Conv2D(4, 3, activation="relu")(x))
    h = L.SeparableConv2D(5, 3, padding="same")(h)
    y = L.Dense(3)(L.Flatten()(h))
    return ir.Model(x, y, name=f"image_{layout.lower()}").randomize(1)


def sequence_model() -> ir.Model:
    x = ir.Input((7,), layout="NT", dtype="int32", name="tokens")
    h = L.Embedding(30, 6)(x)
    h = L.LSTM(5, return_sequences=True)(h)
    h = L.LayerNorm()(h)
    h = L.MultiHeadAttention(2, 3)([h, h])
    h = L.Bidirectional(L.GRU(4))(h)
    return ir.Model(x, L.Dense(2)(h), name="sequence").randomize(2)


def block_model() -> ir.Model:
    """Repeated residual blocks: torch writes each block kind once, its parameters keyed per instance."""
    x = ir.Input((8, 8, 3), name="x")
    h = L.Conv2D(4, 3, padding="same")(x)
    for i in range(3):
        with ir.block("Res", f"res{i}"):
            h = L.Add()([h, L.BatchNorm()(L.Conv2D(4, 3, padding="same", activation="relu")(h))])
    return ir.Model(x, L.Dense(2)(L.Flatten()(h)), name="blocks").randomize(3)


def mnist_batchnorm(seed: int = 0) -> ir.Model:
    """The seeds' MNIST convnet (examples/mnist_convnet.py) with BatchNorm after each convolution."""
    x = ir.Input((28, 28, 1), layout="NHWC", name="image")
    h = L.MaxPool2D(2)(L.BatchNorm()(L.Conv2D(32, 3, activation="relu")(x)))
    h = L.MaxPool2D(2)(L.BatchNorm()(L.Conv2D(64, 3, activation="relu")(h)))
    y = L.Dense(10, activation="softmax")(L.Dropout(0.5)(L.Flatten()(h)))
    return ir.Model(x, y, name="mnist_convnet_bn").initialize(seed)


def inputs(model: ir.Model, batch: int, seed: int = 0) -> np.ndarray:
    """Seeded inputs for a one-input model, in its declared layout (tokens below 30)."""
    spec = model.inputs[0].spec
    rng = np.random.default_rng(seed + batch)
    shape = (batch, *[d for a, d in zip(spec.layout, spec.shape) if a != "N"])
    if spec.dtype.startswith("int"):
        return rng.integers(0, 30, shape).astype(spec.dtype)
    return rng.standard_normal(shape).astype(np.float32)


def run_torch(net, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def run_keras(km, x: np.ndarray) -> np.ndarray:
    return np.asarray(km(x, training=False))


def assert_same_predictions(model: ir.Model, run_a, run_b, seeds=(0,)) -> None:
    """Two runners agree at two batch sizes (float32: atol=1e-5, rtol=1e-4)."""
    for batch in BATCHES:
        for seed in seeds:
            x = inputs(model, batch, seed)
            np.testing.assert_allclose(run_a(x), run_b(x), atol=1e-5, rtol=1e-4)
