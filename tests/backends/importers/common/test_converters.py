"""Users' converters (backends/importers/common/converters.py, docs/extending.md): one extension point per
importer, the built-in entries' contract, and a built-in entry replaced only on purpose."""

from __future__ import annotations

import keras
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from examples import custom_layers
from twinnet import ir
from twinnet.backends import from_keras, from_onnx, from_torch, to_keras, to_torch
from twinnet.backends.importers import override
from twinnet.ir import layers as L

ATOL = 1e-5


def test_custom_keras_layer_converts_to_torch():
    assert custom_layers.keras_to_torch() < ATOL


def test_custom_torch_module_converts_to_keras():
    assert custom_layers.torch_to_keras() < ATOL
    model = from_torch(custom_layers.torch_module(), (torch.zeros(2, 5),), converters=_residual())
    assert [n.layer.kind for n in model.layers] == ["Dense", "Dense", "Dense", "Add", "Dense"]


def _residual():
    return {custom_layers.ResidualMLP: custom_layers.residual_mlp}


def test_without_a_converter_the_custom_layer_is_refused_by_name():
    with pytest.raises(ir.UnsupportedError, match="silu_dense.*custom layer"):
        from_keras(custom_layers.keras_model())


def test_a_builtin_keras_entry_is_replaced_only_with_override():
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc")])

    def relu_dense(layer, inputs):
        w = layer.get_weights()
        return L.Dense(3, activation="relu"), {"kernel": w[0], "bias": w[1]}

    with pytest.raises(ir.ConfigError, match="already has a built-in converter.*override"):
        from_keras(km, converters={keras.layers.Dense: relu_dense})
    model = from_keras(km, converters={keras.layers.Dense: override(relu_dense)})
    assert model.node("fc").layer.activation == "relu"


def test_a_builtin_torch_entry_is_replaced_only_with_override():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())

    def gelu_instead(importer, call):
        return importer.add(call, L.Activation("gelu"), [importer.tensor(call.args[0])])

    with pytest.raises(ir.ConfigError, match="ReLU already has a built-in converter"):
        from_torch(net, (torch.zeros(2, 4),), converters={nn.ReLU: gelu_instead})
    model = from_torch(net, (torch.zeros(2, 4),), converters={nn.ReLU: override(gelu_instead)})
    assert [n.layer.activation for n in model.layers] == ["gelu"]  # fused into the Dense by the rewrites


def test_a_converter_must_be_a_function():
    with pytest.raises(ir.ConfigError, match="must be a function"):
        from_torch(nn.Linear(4, 3), (torch.zeros(2, 4),), converters={nn.Linear: override(print)} | {nn.ReLU: 3})


def _custom_onnx() -> onnx.ModelProto:
    """x (N, 4) -> example.custom.Swish -> MatMul + Add (a Dense): a custom-domain op in a standard graph."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, (4, 3), rng.standard_normal((4, 3)).astype(np.float32).ravel())
    b = helper.make_tensor("b", TensorProto.FLOAT, (3,), rng.standard_normal(3).astype(np.float32))
    nodes = [
        helper.make_node("Swish", ["x"], ["s"], name="swish", domain="example.custom"),
        helper.make_node("MatMul", ["s", "w"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "b"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        initializer=[w, b],
        value_info=[helper.make_tensor_value_info("s", TensorProto.FLOAT, ["n", 4])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def test_custom_domain_onnx_op():
    proto = _custom_onnx()
    with pytest.raises(ir.UnsupportedError, match="custom-domain op"):
        from_onnx(proto)

    def swish(ctx):  # what ONNX_TABLE's entries take: the op's Ctx; they return (layer, weights)
        return L.Activation("silu"), {}

    model = from_onnx(proto, converters={("example.custom", "Swish"): swish})
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    w = onnx.numpy_helper.to_array(proto.graph.initializer[0])
    b = onnx.numpy_helper.to_array(proto.graph.initializer[1])
    want = (x / (1 + np.exp(-x))) @ w + b
    with torch.no_grad():
        got_torch = to_torch(model)(torch.from_numpy(x)).numpy()
    got_keras = np.asarray(to_keras(model)(x))
    np.testing.assert_allclose(got_torch, want, atol=ATOL, rtol=1e-4)
    np.testing.assert_allclose(got_keras, want, atol=ATOL, rtol=1e-4)
