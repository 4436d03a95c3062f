"""The importers' rewrites of backends/importers/common/rewrites.py (those of padding.py and fusions.py have
test files of their own), and apply_rewrites: each rule fires where it is exact, and the
rewritten model computes what the original did in torch and in Keras (random weights, batch 2 and 3);
each stays put where it would not be exact."""

from __future__ import annotations

import numpy as np
import pytest
from rewrite_check import fires, kinds, same_outputs, stays

from twinnet import ir
from twinnet.backends.importers.common.rewrites import apply_rewrites
from twinnet.ir import layers as L


def _image(shape=(9, 8, 4), layout="NHWC"):
    return ir.Input(shape, layout=layout, name="x")


# -- each rewrite where it fires: (name, builder, what the rewritten model holds) ----------------------------
def input_permute_relabel():
    """What from_torch reads from to_torch of an NHWC model: an NCHW-named input, permuted, relabelled."""
    x = ir.Input((9, 8, 4), layout="NCHW", name="x")  # the data is NHWC; the letters are torch's guess
    h = L.Permute("NWCH")(x)
    h = L.Reshape((4, 9, 8), layout="NCHW")(h)
    h = L.Conv2D(5, 3, activation="relu")(h)
    return ir.Model(x, L.Dense(3)(L.Dropout(0.5)(L.Flatten()(h))))


def input_normalized_then_permuted():
    """What from_torch reads from to_torch of an NHWC model that rescales and normalises its input as it
    arrives (Keras's EfficientNet): those layers on the NCHW-named input, then the permute and the relabel."""
    x = ir.Input((9, 8, 4), layout="NCHW", name="x")  # the data is NHWC: W holds the channels
    h = L.Normalization(mean=[0.1, -0.2, 0.3, 0.0], variance=[0.5, 1.5, 2.0, 1.0], axis="W")(L.Rescaling(0.5)(x))
    h = L.Reshape((4, 9, 8), layout="NCHW")(L.Permute("NWCH")(h))
    return ir.Model(x, L.GlobalAvgPool2D()(L.Conv2D(5, 3)(h)))


def squeeze_excitation_relabelled():
    """to_torch's squeeze-excitation of an NHWC model read back: the gate's Reshape to (C, 1, 1) in NCHW."""
    x = ir.Input((9, 8, 4), layout="NCHW", name="x")
    h = L.Conv2D(6, 3)(L.Reshape((4, 9, 8), layout="NCHW")(L.Permute("NWCH")(x)))
    gate = L.Reshape((6, 1, 1), layout="NCHW")(L.GlobalAvgPool2D()(h))
    h = L.Multiply()([h, L.Conv2D(6, 1, activation="sigmoid")(gate)])
    return ir.Model(x, L.GlobalAvgPool2D()(L.Conv2D(3, 1)(h)))


def input_spatial_axes_swapped():
    """Keras's Permute((3, 1, 2)) on an image: the convolution then runs over (C, H) with W as channels."""
    x = _image()
    h = L.Reshape((4, 9, 8))(L.Permute((3, 1, 2))(x))
    return ir.Model(x, L.Reshape((-1,))(L.Conv2D(2, 2)(h)))


def output_permute_relabel():
    """What from_keras reads from to_keras of a model returning NCHW: a Permute and a relabel at the end."""
    x = _image()
    h = L.Permute((3, 1, 2))(L.Conv2D(5, 3)(x))
    return ir.Model(x, L.Reshape((5, 7, 6))(h))


def reshape_relabel():
    """What from_torch reads from to_torch's ``mask.reshape(n, -1, 1)``: a Reshape in the default letters, renamed."""
    x = ir.Input((5,), layout="NT", name="mask")
    h = L.Reshape((-1, 1), layout="NTC")(L.Reshape((-1, 1))(x))
    y = ir.Input((5, 4), layout="NTC", name="y")
    return ir.Model([y, x], L.Multiply()([y, h]))  # inputs not in the order they were made


FIRES = [
    (
        "declared_input_layout",
        input_permute_relabel,
        lambda m: m.inputs[0].layout == "NHWC" and kinds(m) == ["Conv2D", "Flatten", "Dropout", "Dense"],
    ),
    ("declared_input_layout", input_spatial_axes_swapped, lambda m: m.inputs[0].layout == "NWCH"),
    (
        "declared_input_layout",
        input_normalized_then_permuted,
        lambda m: (
            m.inputs[0].layout == "NHWC"
            and kinds(m) == ["Rescaling", "Normalization", "Conv2D", "GlobalAvgPool2D"]
            and m.layers[1].layer.axis == "C"
        ),
    ),
    (
        "unit_reshape",
        squeeze_excitation_relabelled,
        lambda m: "Permute" not in kinds(m) and all(n.spec.layout in ("NHWC", "NC") for n in m.layers),
    ),
    ("declared_output_layout", output_permute_relabel, lambda m: m.outputs[0].layout == "NCHW"),
    # merged into one Reshape, which then only inserts C, and the product broadcasts by letter (unit_broadcast)
    ("merge_relabel", reshape_relabel, lambda m: kinds(m) == ["Binary"] and "unit_broadcast" in m.rewrites),
]


@pytest.mark.parametrize("rule, build, holds", FIRES, ids=[f"{r}-{b.__name__}" for r, b, _ in FIRES])
def test_rewrite_fires_and_computes_the_same(rule, build, holds):
    fires(build, rule, holds)


# -- where each must not fire ---------------------------------------------------------------------------------


def input_permuted_without_relabel():
    x = ir.Input((9, 8, 4), layout="NCHW", name="x")
    return ir.Model(x, L.Conv2D(5, 3)(L.Permute("NWCH")(x)))


def reshape_read_twice():
    x = _image()
    h = L.Reshape((72, 4), layout="NWC")(x)
    return ir.Model(x, [L.Reshape((72, 4), layout="NTC")(h), h])


STAYS = [
    (input_permuted_without_relabel, "declared_input_layout"),
    (reshape_read_twice, "merge_relabel"),
]


@pytest.mark.parametrize("build, rule", STAYS, ids=[b.__name__ for b, _ in STAYS])
def test_rewrite_does_not_fire_where_it_would_not_be_exact(build, rule):
    before, after = stays(build, rule)
    assert kinds(after) == kinds(before)


def test_rewrites_keep_names_weights_and_report_nothing_when_nothing_fires():
    x = _image()
    model = ir.Model(x, L.Conv2D(5, 3, padding="same", name="conv")(x), name="plain").randomize(1)
    after = apply_rewrites(model)
    assert after.rewrites == []
    assert after.layers[0].name == "conv"
    np.testing.assert_array_equal(after.weights["conv/kernel"], model.weights["conv/kernel"])


def test_a_reshape_to_two_axes_of_several_entries_keeps_its_letters():
    """The order of such a Reshape's letters moves data: ``unit_reshape`` leaves it, the input still moves."""
    x = ir.Input((9, 8, 4), layout="NCHW", name="x")
    h = L.Conv2D(6, 3)(L.Reshape((4, 9, 8), layout="NCHW")(L.Permute("NWCH")(x)))
    before = ir.Model(x, L.GlobalAvgPool2D()(L.Reshape((3, 2, 1), layout="NCHW")(L.GlobalAvgPool2D()(h))))
    before = before.randomize(seed=3)
    after = apply_rewrites(before)
    assert "declared_input_layout" in after.rewrites and "unit_reshape" not in after.rewrites
    assert [n.spec.layout for n in after.layers if n.layer.kind == "Reshape"] == ["NCHW"]
    same_outputs(before, after)


def test_a_unit_reshape_read_only_by_a_flatten_keeps_its_letters():
    """A Flatten takes the entries in order whatever the letters: the Reshape keeps those of the shape it is
    written in (``to_keras`` writes a flattened reshape to the shape the model declares: ``(C, 1, 1)``, lettered
    by position), the input still moves."""
    x = ir.Input((4, 9, 8), layout="NHWC", name="x")
    h = L.Conv2D(6, 3)(L.Reshape((9, 8, 4), layout="NHWC")(L.Permute("NWCH")(x)))
    gate = L.Reshape((6, 1, 1), layout="NHWC")(L.GlobalAvgPool2D()(h))
    before = ir.Model(x, L.Dense(3)(L.Flatten()(gate))).randomize(seed=3)
    after = apply_rewrites(before)
    assert "declared_input_layout" in after.rewrites and "unit_reshape" not in after.rewrites
    assert [(n.spec.layout, n.spec.shape) for n in after.layers if n.layer.kind == "Reshape"] == [
        ("NHWC", (None, 6, 1, 1))
    ]
    same_outputs(before, after)


def test_a_rule_that_fires_in_some_instances_of_a_block_leaves_that_kind_alone():
    """The IR refuses a walk that makes two instances of a block kind differ: the walk is done again with that
    kind left alone, and what rules did elsewhere stays (before, the whole walk was dropped)."""
    x = ir.Input((6,), layout="NC", name="x")
    h = x
    for i in range(2):
        with ir.block("Unit", f"u{i}"):
            h = L.Activation("relu", name=f"act{i}")(L.Dense(6, name=f"dense{i}")(h))
    model = ir.Model(x, L.Activation("relu", name="last")(h)).randomize(0)

    def to_tanh(where):
        def rule(rb, node):
            if isinstance(node.layer, L.Activation) and node.layer.activation == "relu" and where(node):
                return rb.copy(node, L.Activation("tanh", name=node.name))
            return None

        return rule

    rules = [("in_u0", to_tanh(lambda n: n.block == ("Unit", "u0"))), ("outside", to_tanh(lambda n: not n.block))]
    after = apply_rewrites(model, rules)
    assert after.rewrites == ["outside"]
    activations = {n.name: n.layer.activation for n in after.layers if isinstance(n.layer, L.Activation)}
    assert activations == {"act0": "relu", "act1": "relu", "last": "tanh"}
    assert [n.block for n in after.layers if n.block] == [n.block for n in model.layers if n.block]
