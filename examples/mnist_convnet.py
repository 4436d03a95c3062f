"""The MNIST convnet from the Keras examples, as a twinnet IR model.

Two 3x3 convolutions with max pooling, then a softmax classifier. The image
is declared ``NHWC`` (the Keras convention); the torch model runs ``NCHW``
inside, and twinnet keeps ``Flatten`` in the declared (h, w, c) order so the
``Dense`` kernel means the same thing in both frameworks.

    twinnet verify examples/mnist_convnet.py:build
    twinnet summary examples/mnist_convnet.py:build_variant

>>> build().count_params()
34826
"""

import twinnet
from twinnet import layers as L


def _convnet(filters: tuple[int, int], dropout: float, name: str, seed: int) -> twinnet.Model:
    x = twinnet.Input(shape=(28, 28, 1), layout="NHWC", name="image")
    h = L.Conv2D(filters[0], 3, activation="relu")(x)
    h = L.MaxPool2D(2)(h)
    h = L.Conv2D(filters[1], 3, activation="relu")(h)
    h = L.MaxPool2D(2)(h)
    h = L.Flatten()(h)
    h = L.Dropout(dropout)(h)
    y = L.Dense(10, activation="softmax")(h)
    return twinnet.Model(inputs=x, outputs=y, name=name).initialize(seed)


def build(seed: int = 0) -> twinnet.Model:
    """The reference MNIST convnet (32 and 64 filters, dropout 0.5), initialised from ``seed``."""
    return _convnet((32, 64), 0.5, "mnist_convnet", seed)


def build_variant(seed: int = 0) -> twinnet.Model:
    """The same network with 30 and 62 filters (sizes no kernel is tuned for) and dropout 0.3."""
    return _convnet((30, 62), 0.3, "mnist_convnet_variant", seed)


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
    from twinnet import verify

    model = build()
    model.summary()
    report = verify(model)
    print(report.table())
    raise SystemExit(0 if report.ok else 1)
