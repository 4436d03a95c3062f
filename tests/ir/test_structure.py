"""Structural equality (ir/structure.py): what a round trip must give back, and what it may rename."""

from __future__ import annotations

import numpy as np

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir.structure import structural_diff, structurally_equal


def convnet(prefix="", activation=None, layout="NHWC", swap=False, seed=0):
    x = ir.Input((8, 8, 3) if layout == "NHWC" else (3, 8, 8), layout=layout, name=f"{prefix}image")
    a = L.Conv2D(4, 3, padding="same", activation=activation, name=f"{prefix}conv_a")(x)
    b = L.Conv2D(4, 1, name=f"{prefix}conv_b")(x)
    h = L.Concatenate(name=f"{prefix}cat")([b, a] if swap else [a, b])
    y = L.Dense(2, name=f"{prefix}head")(L.Flatten(name=f"{prefix}flat")(h))
    return ir.Model(x, y, name=f"{prefix}net").initialize(seed)


def test_names_are_ignored_and_weights_compared_by_pairing():
    a, b = convnet(), convnet(prefix="other_")
    b.set_weights({f"other_{k}": v for k, v in a.weights.items()})
    assert structural_diff(a, b, weights=True) == []
    assert structurally_equal(a, b)


def test_a_different_argument_is_named():
    diffs = structural_diff(convnet(activation="relu"), convnet(activation="gelu"))
    assert any("activation='relu' against 'gelu'" in d for d in diffs), diffs


def test_a_different_layout_is_a_difference():
    diffs = structural_diff(convnet(layout="NHWC"), convnet(layout="NCHW"))
    assert any("NHWC" in d and "NCHW" in d for d in diffs), diffs


def test_the_wiring_counts_not_the_order_nodes_were_made_in():
    diffs = structural_diff(convnet(), convnet(swap=True))
    assert diffs and all("conv_" in d for d in diffs), diffs


def test_weights_are_compared_only_when_asked():
    a, b = convnet(seed=0), convnet(seed=1)
    assert structural_diff(a, b) == []
    diffs = structural_diff(a, b, weights=True)
    assert any("kernel differs" in d for d in diffs), diffs
    b.weights = {k: np.array(v) for k, v in a.weights.items()}
    b.weights["head/bias"] = b.weights["head/bias"] + 1e-7
    assert structural_diff(a, b, weights=True, atol=1e-6) == []


def test_an_extra_layer_is_a_difference():
    x = ir.Input((4,), name="x")
    plain = ir.Model(x, L.Dense(2)(x))
    y = ir.Input((4,), name="y")
    extra = ir.Model(y, L.Activation("relu")(L.Dense(2)(y)))
    assert any("kind Dense against Activation" in d for d in structural_diff(plain, extra))


def test_a_default_spelled_out_is_the_default():
    x = ir.Input((12,), name="x")
    implicit = ir.Model(x, L.Reshape((3, 4))(x))
    y = ir.Input((12,), name="y")
    explicit = ir.Model(y, L.Reshape((3, 4), layout="NTC")(y))
    assert structural_diff(implicit, explicit) == []
