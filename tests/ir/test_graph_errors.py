"""Errors from tensors, layouts, graphs and weights: type and whole message.

Covers ir/tensor.py, ir/layout.py and ir/graph.py (Input, TensorSpec, Model,
Sequential, lint, node lookup, set_weights). Cases already in
test_ir_errors.py are not repeated here.
"""

import re

import numpy as np
import pytest

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir.layout import check_layout, permutation, resolve_axis


def case(make, error, message, id):
    return pytest.param(make, error, message, id=id)


def raises(error, message):
    """pytest.raises for ``error`` whose message starts with ``message`` (taken literally)."""
    return pytest.raises(error, match="^" + re.escape(message))


# -- tensors and layouts -------------------------------------------------------------------------------

TENSORS = [
    case(
        lambda: ir.Input((3,), name=5), ir.ConfigError, "Input: input name must be an identifier, got 5", "input-name"
    ),
    case(
        lambda: ir.Input("abc", name="x"),
        ir.ShapeError,
        "Input 'x': shape must be a tuple of ints (non-batch dims), got 'abc'",
        "input-shape-str",
    ),
    case(
        lambda: ir.Input((3, 1.5), name="x"),
        ir.ShapeError,
        "Input 'x': shape entries must be positive ints or None (sizes at most 2147483648), got (3, 1.5)",
        "input-float",
    ),
    case(
        lambda: ir.Input((3, 10**5000), name="x"),
        ir.ShapeError,
        "Input 'x': shape entries must be positive ints or None (sizes at most 2147483648), "
        "got (3, <int of 16610 bits>)",
        "input-unprintable",
    ),
    case(
        lambda: ir.Input((3,), dtype="float64", name="x"),
        ir.ConfigError,
        "Input 'x': dtype must be one of ('float32', 'int32', 'int64', 'bool'), got 'float64'",
        "input-dtype",
    ),
    case(
        lambda: ir.Input((1, 1, 1, 1, 1), name="x"),
        ir.LayoutError,
        "Input 'x': no default layout for a rank-6 float tensor; pass layout=",
        "input-no-default",
    ),
    case(
        lambda: ir.Input((3, 4, 5), dtype="int32", name="x"),
        ir.LayoutError,
        "Input 'x': no default layout for a rank-4 integer tensor; pass layout=",
        "input-no-default-int",
    ),
    case(
        lambda: ir.Input((3,), layout="", name="x"),
        ir.LayoutError,
        "Input 'x': layout must be a non-empty string of capital axis letters, got ''",
        "layout-empty",
    ),
    case(
        lambda: ir.Input((3,), layout=5, name="x"),
        ir.LayoutError,
        "Input 'x': layout must be a non-empty string of capital axis letters, got 5",
        "layout-int",
    ),
    case(
        lambda: ir.Input((3, 4), layout="TC", name="x"),
        ir.LayoutError,
        "Input 'x': layout 'TC' must contain the batch axis 'N' exactly once",
        "layout-no-batch",
    ),
    case(
        lambda: ir.TensorSpec((None, 3), "NC", "f16"),
        ir.ConfigError,
        "dtype must be one of ('float32', 'int32', 'int64', 'bool'), got 'f16'",
        "spec-dtype",
    ),
    case(
        lambda: ir.TensorSpec((1, 3), "NC"), ir.ShapeError, "the batch dimension must be symbolic (None)", "spec-batch"
    ),
    case(
        lambda: ir.TensorSpec((None, 3), "NCT"),
        ir.LayoutError,
        "layout 'NCT' has 3 axes but the tensor has rank 2",
        "spec-rank",
    ),
    case(
        lambda: ir.Input((None, 4), name="x").spec.concrete(2),
        ir.ShapeError,
        "axis 'T' of shape (?, ?, 4) is symbolic; give a length",
        "spec-concrete",
    ),
    case(lambda: check_layout("NCN"), ir.LayoutError, "layout 'NCN' repeats an axis letter", "check-layout"),
    case(
        lambda: resolve_axis(1.5, "NHWC", layer="Thing"),
        ir.LayoutError,
        "Thing: axis must be a layout letter or an int, got 1.5",
        "resolve-axis-type",
    ),
    case(
        lambda: permutation("NC", "NT"),
        ir.LayoutError,
        "cannot permute layout 'NC' into 'NT': different axes",
        "permutation",
    ),
]


@pytest.mark.parametrize("make,error,message", TENSORS)
def test_tensor_and_layout_errors(make, error, message):
    with raises(error, message):
        make()


# -- graphs --------------------------------------------------------------------------------------------


def x():
    return ir.Input((4,), name="x")


GRAPHS = [
    case(
        lambda: ir.Model(x(), x(), name="a b"),
        ir.ConfigError,
        "model name must be an identifier, got 'a b'",
        "model-name",
    ),
    case(
        lambda: (lambda t: ir.Model(L.Dense(2, name="d")(t), t))(x()),
        ir.GraphError,
        "model inputs must come from twinnet.Input, got the output of Dense 'd'",
        "input-not-an-input",
    ),
    case(
        lambda: (lambda t: ir.Model([t, t], L.Add()([t, t])))(x()),
        ir.GraphError,
        "input 'x' is listed twice among the model's inputs",
        "input-twice",
    ),
    case(
        lambda: (lambda t: ir.Model(t, L.Dense(2, name="x")(t)))(x()),
        ir.GraphError,
        "two layers are named 'x' (Input and Dense)",
        "layer-named-like-input",
    ),
    case(lambda: ir.Model([], x()), ir.GraphError, "a model needs at least one of inputs", "no-inputs"),
    case(lambda: ir.Model(x(), []), ir.GraphError, "a model needs at least one of outputs", "no-outputs"),
    case(lambda: ir.Model(None, x()), ir.GraphError, "model inputs must be ir tensors, got NoneType", "inputs-none"),
    case(lambda: ir.Model(x(), {"y": 1}), ir.GraphError, "model outputs must be ir tensors, got dict", "outputs-dict"),
    case(
        lambda: ir.Sequential([L.Dense(2)], input=(4,)),
        ir.GraphError,
        "Sequential needs input=twinnet.Input(...)",
        "sequential-input",
    ),
    case(
        lambda: ir.Sequential([L.Dense(2), "relu"], input=x()),
        ir.GraphError,
        "Sequential takes ir layers, got str",
        "sequential-layer",
    ),
    case(
        lambda: ir.Sequential([L.Dense(2)], input=x(), name="m").node("dense_9"),
        ir.GraphError,
        "model 'm' has no layer or input named 'dense_9'; it has x, dense",
        "node-lookup",
    ),
]


@pytest.mark.parametrize("make,error,message", GRAPHS)
def test_graph_errors(make, error, message):
    with raises(error, message):
        make()


def small():
    t = x()
    return ir.Model(t, L.Dense(2, name="d")(t), name="m")


def test_lint_finds_what_construction_cannot_make():
    """Graphs edited after construction (as a pass might): lint names the problem and the layer."""
    model = small()
    model.nodes.reverse()
    with raises(ir.GraphError, "Dense 'd': takes 'x', which is not computed before it (cycle or dangling reference)"):
        model.lint()
    model = small()
    model.nodes[1].name = "x"
    with raises(ir.GraphError, "two layers are named 'x'"):
        model.lint()
    model = small()
    model.outputs = [L.Dense(2, name="stray")(x())]
    with raises(ir.GraphError, "output 'stray' is not computed by the model"):
        model.lint()


# -- weights -------------------------------------------------------------------------------------------


def dense_weights(**changes):
    w = {"d/kernel": np.zeros((4, 2), np.float32), "d/bias": np.zeros(2, np.float32)}
    return {**w, **changes}


WEIGHTS = [
    case(
        lambda m: m.set_weights([np.zeros(2)]),
        ir.WeightError,
        "weights must be a dict of arrays, got list",
        "not-a-dict",
    ),
    case(
        lambda m: m.set_weights(dense_weights(**{"e/kernel": np.zeros(1)})),
        ir.WeightError,
        "e: unexpected weight(s): e/kernel",
        "unexpected",
    ),
    case(
        lambda m: m.set_weights(dense_weights(**{"d/kernel": [[0.0] * 2] * 4})),
        ir.WeightError,
        "d: weight 'd/kernel' must be a numpy array, got list",
        "not-an-array",
    ),
    case(
        lambda m: m.set_weights(dense_weights(**{"d/bias": np.zeros(2)})),
        ir.WeightError,
        "d: weight 'd/bias' has dtype float64, expected float32",
        "dtype",
    ),
    case(lambda m: m.initialize("0"), ir.ConfigError, "seed must be an int, got '0'", "seed"),
    case(lambda m: m.randomize(None), ir.ConfigError, "seed must be an int, got None", "seed-none"),
    case(
        lambda m: m.layer_weights(m.layers[0]),
        ir.WeightError,
        "Dense 'd': has no weights yet; call model.initialize(seed) or load them",
        "uninitialised",
    ),
]


@pytest.mark.parametrize("act,error,message", WEIGHTS)
def test_weight_errors(act, error, message):
    with raises(error, message):
        act(small())
