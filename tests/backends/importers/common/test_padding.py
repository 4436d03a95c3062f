"""The padding rewrites (backends/importers/common/padding.py): each fires where it is exact, and the
rewritten model computes what the original did in torch and in Keras (random weights, batch 2 and 3);
each stays put where it would not be exact."""

from __future__ import annotations

import pytest
from rewrite_check import fires, kinds, stays

from twinnet import ir
from twinnet.ir import layers as L


def _image(shape=(9, 8, 4), layout="NHWC"):
    return ir.Input(shape, layout=layout, name="x")


def _edge_padded(x, pads):
    """``x`` (NHWC) padded by copies of its edge slices, as to_keras writes explicit max-pool pads."""
    for i, (letter, (before, after)) in enumerate(zip("HW", pads)):
        if not before and not after:
            continue
        n = x.spec.dim(letter)
        first = L.Cropping2D(tuple((0, n - 1) if k == i else (0, 0) for k in range(2)))(x)
        last = L.Cropping2D(tuple((n - 1, 0) if k == i else (0, 0) for k in range(2)))(x)
        x = L.Concatenate(axis=letter)([first] * before + [x] + [last] * after)
    return x


# -- where each fires: (name, builder, what the rewritten model holds) ----------------------------------------
def conv_pad1():
    x = _image()
    return ir.Model(x, L.Conv2D(5, 3, padding=((1, 1), (1, 1)))(x))


def conv_pad_dilated():
    x = _image()
    return ir.Model(x, L.Conv2D(5, 3, padding=((2, 2), (2, 2)), dilation_rate=2)(x))


def maxpool_pad1():
    x = _image()
    return ir.Model(x, L.MaxPool2D(3, strides=1, padding=1)(x))


def conv_stride2_known_size():
    x = _image()  # 9 x 8: 'same' pads (1, 1) on H, (0, 1) on W (TensorFlow's extra pad after)
    return ir.Model(x, L.Conv2D(5, 3, strides=2, padding=((1, 1), (0, 1)))(x))


def pointwise_same():
    x = _image()
    return ir.Model(x, L.Conv2D(5, 1, strides=2, padding="same")(x))


def zero_pad_conv():
    x = _image()
    return ir.Model(x, L.Conv2D(5, 3, strides=2)(L.ZeroPadding2D(((1, 2), (0, 1)))(x)))


def zero_pad_avgpool():
    x = _image()
    return ir.Model(x, L.AvgPool2D(3, strides=2)(L.ZeroPadding2D(((1, 1), (0, 2)))(x)))


def avgpool_same_excluding_pads():
    x = _image()  # 9 x 8 at stride 1: 'same' pads (1, 1) on both axes and divides by the real count
    return ir.Model(x, L.AvgPool2D(3, strides=1, padding=((1, 1), (1, 1)), count_include_pad=False)(x))


def edge_padded_max_pool():
    x = _image()
    return ir.Model(x, L.MaxPool2D(3, strides=2)(_edge_padded(x, ((1, 1), (1, 1)))))


FIRES = [
    ("same_padding", conv_pad1, lambda m: m.layers[0].layer.padding == "same"),
    ("same_padding", conv_pad_dilated, lambda m: m.layers[0].layer.padding == "same"),
    ("same_padding", maxpool_pad1, lambda m: m.layers[0].layer.padding == "same"),
    ("same_padding", conv_stride2_known_size, lambda m: m.layers[0].layer.padding == "same"),
    ("same_padding", pointwise_same, lambda m: m.layers[0].layer.padding == "valid"),
    ("fold_zero_padding", zero_pad_conv, lambda m: kinds(m) == ["Conv2D"]),
    (
        "fold_zero_padding",
        zero_pad_avgpool,
        lambda m: kinds(m) == ["AvgPool2D"] and m.layers[0].layer.count_include_pad,
    ),
    ("same_padding", avgpool_same_excluding_pads, lambda m: m.layers[0].layer.padding == "same"),
    (
        "edge_padded_max_pool",
        edge_padded_max_pool,
        lambda m: kinds(m) == ["MaxPool2D"] and m.layers[0].layer.padding == ((1, 1), (1, 1)),
    ),
]


@pytest.mark.parametrize("rule, build, holds", FIRES, ids=[f"{r}-{b.__name__}" for r, b, _ in FIRES])
def test_rewrite_fires_and_computes_the_same(rule, build, holds):
    fires(build, rule, holds)


# -- where each must not fire --------------------------------------------------------------------------------
def conv_pad1_stride2():
    x = _image()  # W is 8: 'same' at stride 2 pads (0, 1) there, torch's padding=1 pads (1, 1)
    return ir.Model(x, L.Conv2D(5, 3, strides=2, padding=((1, 1), (1, 1)))(x))


def conv_stride2_unknown_size():
    x = ir.Input((None, None, 4), layout="NHWC", name="x")
    return ir.Model(x, L.Conv2D(5, 3, strides=2, padding=((1, 1), (1, 1)))(x))


def conv_even_kernel_symmetric():
    x = _image()
    return ir.Model(x, L.Conv2D(5, 2, padding=((1, 1), (1, 1)))(x))


def zero_pad_maxpool():
    x = _image()
    return ir.Model(x, L.MaxPool2D(2)(L.ZeroPadding2D(1)(x)))


def zero_pad_avgpool_excluding_pads():
    x = _image()
    return ir.Model(x, L.AvgPool2D(3, padding=((1, 1), (1, 1)), count_include_pad=False)(L.ZeroPadding2D(1)(x)))


def zero_pad_read_twice():
    x = _image()
    p = L.ZeroPadding2D(1)(x)
    return ir.Model(x, [L.Conv2D(4, 3)(p), p])


def edge_padded_as_wide_as_the_window():
    x = _image()  # 2 copies of the first row under a 2-row window: a window of copies only
    return ir.Model(x, L.MaxPool2D(2)(_edge_padded(x, ((2, 0), (0, 0)))))


def edge_padded_avg_pool():
    x = _image()
    return ir.Model(x, L.AvgPool2D(3, strides=2)(_edge_padded(x, ((1, 1), (1, 1)))))


def avgpool_same_pads_counted():
    x = _image()  # the pads 'same' gives, but counted: not what 'same' divides by
    return ir.Model(x, L.AvgPool2D(3, strides=1, padding=((1, 1), (1, 1)))(x))


STAYS = [
    (conv_pad1_stride2, "same_padding"),
    (conv_stride2_unknown_size, "same_padding"),
    (conv_even_kernel_symmetric, "same_padding"),
    (zero_pad_maxpool, "fold_zero_padding"),
    (zero_pad_avgpool_excluding_pads, "fold_zero_padding"),
    (zero_pad_read_twice, "fold_zero_padding"),
    (edge_padded_as_wide_as_the_window, "edge_padded_max_pool"),
    (edge_padded_avg_pool, "edge_padded_max_pool"),
    (avgpool_same_pads_counted, "same_padding"),
]


@pytest.mark.parametrize("build, rule", STAYS, ids=[b.__name__ for b, _ in STAYS])
def test_rewrite_does_not_fire_where_it_would_not_be_exact(build, rule):
    before, after = stays(build, rule)
    assert kinds(after) == kinds(before)
