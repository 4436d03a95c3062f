"""The fusing rewrites (backends/importers/common/fusions.py): each fires where it is exact, and the
rewritten model computes what the original did in torch and in Keras (random weights, batch 2 and 3);
each stays put where it would not be exact."""

from __future__ import annotations

import pytest
from rewrite_check import fires, kinds, stays

from twinnet import ir
from twinnet.ir import layers as L


def _image(shape=(9, 8, 4), layout="NHWC"):
    return ir.Input(shape, layout=layout, name="x")


# -- where each fires: (name, builder, what the rewritten model holds) ----------------------------------------
def grouped_per_channel():
    x = _image()
    return ir.Model(x, L.Conv2D(8, 3, groups=4)(x))


def conv_relu():
    x = _image()
    return ir.Model(x, L.Activation("relu")(L.Conv2D(5, 3)(x)))


def dense_softmax():
    x = ir.Input((6,), name="x")
    return ir.Model(x, L.Activation("softmax")(L.Dense(4)(x)))


def pool_keepdims_flatten():
    x = _image(layout="NCHW")
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.GlobalAvgPool2D(keepdims=True)(x))))


def pool_keepdims_view():
    x = _image(layout="NCHW")
    return ir.Model(x, L.Reshape((9,), layout="NC")(L.GlobalMaxPool2D(keepdims=True)(x)))  # C is 9


def depthwise_then_pointwise():
    """What from_torch reads from to_torch's SeparableConv2D: a per-channel conv, then a 1x1 one."""
    x = _image()
    h = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, use_bias=False)(x)
    return ir.Model(x, L.Conv2D(5, 1, activation="relu")(h))


FIRES = [
    ("depthwise", grouped_per_channel, lambda m: m.layers[0].layer.depth_multiplier == 2),
    ("fuse_activation", conv_relu, lambda m: kinds(m) == ["Conv2D"] and m.layers[0].layer.activation == "relu"),
    ("fuse_activation", dense_softmax, lambda m: kinds(m) == ["Dense"]),
    ("global_pool", pool_keepdims_flatten, lambda m: kinds(m) == ["GlobalAvgPool2D", "Dense"]),
    ("global_pool", pool_keepdims_view, lambda m: kinds(m) == ["GlobalMaxPool2D"]),
    (
        "separable",
        depthwise_then_pointwise,
        lambda m: kinds(m) == ["SeparableConv2D"] and m.layers[0].layer.depth_multiplier == 2,
    ),
]


@pytest.mark.parametrize("rule, build, holds", FIRES, ids=[f"{r}-{b.__name__}" for r, b, _ in FIRES])
def test_rewrite_fires_and_computes_the_same(rule, build, holds):
    fires(build, rule, holds)


# -- where each must not fire --------------------------------------------------------------------------------
def grouped_two_channels_per_group():
    x = _image()
    return ir.Model(x, L.Conv2D(4, 3, groups=2)(x))


def conv_leaky_custom_slope():
    x = _image()
    return ir.Model(x, L.Activation("leaky_relu", negative_slope=0.1)(L.Conv2D(5, 3)(x)))


def conv_read_twice():
    x = _image()
    h = L.Conv2D(5, 3)(x)
    return ir.Model(x, [L.Activation("relu")(h), h])


def depthwise_with_bias_then_pointwise():
    x = _image()
    return ir.Model(x, L.Conv2D(5, 1)(L.DepthwiseConv2D(3)(x)))


STAYS = [
    (grouped_two_channels_per_group, "depthwise"),
    (conv_leaky_custom_slope, "fuse_activation"),
    (conv_read_twice, "fuse_activation"),
    (depthwise_with_bias_then_pointwise, "separable"),
]


@pytest.mark.parametrize("build, rule", STAYS, ids=[b.__name__ for b, _ in STAYS])
def test_rewrite_does_not_fire_where_it_would_not_be_exact(build, rule):
    before, after = stays(build, rule)
    assert kinds(after) == kinds(before)
