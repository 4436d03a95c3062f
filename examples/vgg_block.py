"""One VGG block: two 'same'-padded 3x3 convolutions and a 2x2 max pool.

'same' padding is where frameworks quietly differ: TensorFlow's rule puts
an odd padding element *after* the data, while torch's ``padding="same"``
refuses strides and its integer ``padding=`` is symmetric. twinnet uses
TensorFlow's rule everywhere and gives torch the exact pads. A small classifier head makes the output easy to compare.

    twinnet verify examples/vgg_block.py:build

>>> build().outputs[0].shape
(None, 10)
"""

import twinnet
from twinnet import layers as L


def build(seed: int = 0) -> twinnet.Model:
    """A VGG block on a 32x32 RGB image (NHWC), then Flatten and Dense(10), initialised from ``seed``."""
    x = twinnet.Input(shape=(32, 32, 3), layout="NHWC", name="image")
    h = L.Conv2D(64, 3, activation="relu", padding="same")(x)
    h = L.Conv2D(64, 3, activation="relu", padding="same")(h)
    h = L.MaxPool2D(2, strides=2)(h)
    h = L.Flatten()(h)
    y = L.Dense(10)(h)
    return twinnet.Model(inputs=x, outputs=y, name="vgg_block").initialize(seed)


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
    from twinnet import verify

    model = build()
    model.summary()
    report = verify(model)
    print(report.table())
    raise SystemExit(0 if report.ok else 1)
