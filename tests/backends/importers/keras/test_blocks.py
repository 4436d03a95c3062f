"""from_keras reads repeated blocks from layer names (``block_1_conv`` is in instance ``block_1``): the rule of
``backends/importers/keras/block_names.py`` on small hand-built models. Real apps: tests/test_convert_keras_apps.py."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from keras import layers  # noqa: E402

from twinnet.backends import emit, from_keras, to_keras, to_torch  # noqa: E402
from twinnet.backends.importers.keras.block_names import instance_of  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


def residual(h, prefix, filters=4):
    y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{prefix}_conv")(h)
    y = layers.BatchNormalization(name=f"{prefix}_bn")(y)
    return layers.Add(name=f"{prefix}_add")([h, y]) if filters == h.shape[-1] else y


def build() -> keras.Model:
    """Three identical blocks, a fourth of another width, then names that must not become blocks."""
    x = keras.Input((6, 7, 3), name="image")
    stem = layers.Conv2D(4, 1, name="stem")(x)
    h = stem
    for i in (1, 2, 3):
        h = residual(h, f"block_{i}")
    h = residual(h, "block_4", filters=6)  # alone of its kind: inline
    h = residual(h, "mixed5", filters=6)  # not a block name
    h = layers.ReLU(name="block_6_relu")(h)  # one layer
    y = layers.Conv2D(4, 1, name="block_7_conv")(h)
    h = layers.Add(name="block_7_add")([y, stem])  # two entries: h and stem
    h = layers.ReLU(name="block_8")(layers.ReLU(name="block_8_relu")(h))  # a layer named as the instance
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    km = keras.Model(x, layers.Dense(3, name="head")(h), name="blocky")
    rng = np.random.default_rng(0)
    for v in km.weights:
        v.assign(
            (rng.uniform(0.5, 1.5, v.shape) if "variance" in v.path else rng.normal(0, 0.5, v.shape)).astype(np.float32)
        )
    return km


@pytest.mark.parametrize(
    "name, instance",
    [
        ("conv2_block1_1_conv", "conv2_block1"),
        ("conv4_block12_concat", "conv4_block12"),
        ("block_3_pad", "block_3"),
        ("block4a_se_excite", "block4a"),
        ("block2_sepconv1", "block2"),
        ("block14_sepconv2_act", "block14"),
        ("conv1_conv", None),
        ("block_3", None),
        ("block_3_", None),
        ("mixed0", None),
        ("my_block_1_conv", None),
        ("blockade_1", None),
        ("Block_1_conv", None),
    ],
)
def test_instance_names(name, instance):
    assert instance_of(name) == instance


def test_blocks_follow_the_names_conservatively():
    km = build()
    model = from_keras(km)
    marks = {n.name: n.block for n in model.layers}
    for i in (1, 2, 3):
        assert {marks[f"block_{i}_{s}"] for s in ("conv", "bn", "add")} == {("Block1", f"block_{i}")}
    unmarked = [n for n, b in marks.items() if b is None]
    assert unmarked == [
        "stem",
        "block_4_conv",
        "block_4_bn",
        "mixed5_conv",
        "mixed5_bn",
        "mixed5_add",
        "block_6_relu",
        "block_7_conv",
        "block_7_add",
        "block_8_relu",
        "block_8",
        "pool",
        "head",
    ]
    flat = from_keras(km, blocks=False)
    assert all(n.block is None for n in flat.layers)
    assert [n.name for n in flat.layers] == list(marks) and flat.weights.keys() == model.weights.keys()
    torch_code, keras_code = emit(model, "torch"), emit(model, "keras")
    # the kind is Block1 (its first instance); the class takes the kind's stem, named after no instance
    assert torch_code.count("class Block(nn.Module):") == 1 and torch_code.count("= Block()") == 3
    assert keras_code.count("def block(x, name):") == 1 and keras_code.count("= block(") == 3
    assert "emitted inline" not in torch_code + keras_code
    km_out, tm = to_keras(model), to_torch(model)
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 6, 7, 3)).astype(np.float32)
        want = np.asarray(km(x, training=False))
        np.testing.assert_allclose(np.asarray(km_out(x, training=False)), want, atol=ATOL, rtol=RTOL)
        with torch.no_grad():
            np.testing.assert_allclose(tm(torch.from_numpy(x)).numpy(), want, atol=ATOL, rtol=RTOL)


def test_a_lone_block_alike_another_but_for_its_width_is_marked():
    """block_3 is block_1's kind but for its filters: marked (a kind of its own), so the emitters write one
    class with the filters as a parameter; block_4 differs in its stride (not a width): alone, so inline."""
    x = keras.Input((6, 7, 3), name="image")
    h = layers.Conv2D(4, 1, name="stem")(x)
    for i, filters, strides in ((1, 4, 1), (2, 4, 1), (3, 6, 1), (4, 6, 2)):
        h = layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu", name=f"block_{i}_conv")(h)
        h = layers.BatchNormalization(name=f"block_{i}_bn")(h)
    km = keras.Model(x, layers.GlobalAveragePooling2D(name="pool")(h), name="widths")
    model = from_keras(km)
    marks = {n.name: n.block for n in model.layers}
    assert [marks[f"block_{i}_conv"] for i in (1, 2, 3, 4)] == [
        ("Block1", "block_1"),
        ("Block1", "block_2"),
        ("Block3", "block_3"),
        None,
    ]
    torch_code, keras_code = emit(model, "torch"), emit(model, "keras")
    assert torch_code.count("(nn.Module):") == 2 and "def __init__(self, conv_out_channels):" in torch_code
    assert [torch_code.count(f"= Block({w})") for w in (4, 6)] == [2, 1]
    assert "def block(x, conv_filters, name):" in keras_code and '= block(block_2_bn, 6, name="block_3")' in keras_code
    assert "emitted inline" not in torch_code + keras_code
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 6, 7, 3)).astype(np.float32)
        want = np.asarray(km(x, training=False))
        np.testing.assert_allclose(np.asarray(to_keras(model)(x, training=False)), want, atol=ATOL, rtol=RTOL)
        with torch.no_grad():
            np.testing.assert_allclose(to_torch(model)(torch.from_numpy(x)).numpy(), want, atol=ATOL, rtol=RTOL)
