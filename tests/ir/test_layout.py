"""Layout is resolved at compile time: no transposes inside the compiled torch graph."""

import pytest
import torch
import torch.fx

from twinnet import ir
from twinnet.backends import to_torch
from twinnet.ir import layers as L

TRANSPOSES = {"permute", "transpose", "movedim", "swapaxes", "swapdims"}


def transposes(module) -> list[tuple[torch.fx.Node, bool, bool]]:
    """(node, reads a model input, feeds a model output) for every transpose in the traced graph."""
    graph = torch.fx.symbolic_trace(module).graph
    out = []
    for node in graph.nodes:
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
        if name in TRANSPOSES:
            reads_input = node.args[0].op == "placeholder"
            feeds_output = any(u.op == "output" for u in node.users)
            out.append((node, reads_input, feeds_output))
    return out


def convnet(layout="NHWC"):
    shape = (28, 28, 1) if layout == "NHWC" else (1, 28, 28)
    x = ir.Input(shape, layout=layout, name="image")
    h = L.Conv2D(8, 3, activation="relu", padding="same")(x)
    h = L.BatchNorm()(h)
    r = L.Conv2D(8, 3, padding="same")(h)
    h = L.Add()([h, r])
    h = L.MaxPool2D(2)(h)
    h = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Dense(8)(h)  # a Dense over channels of an image
    h = L.Flatten()(h)
    h = L.Dropout(0.5)(h)
    return ir.Model(x, L.Dense(10, activation="softmax")(h), name="convnet").randomize(0)


def lstm(layout):
    x = ir.Input((9,), dtype="int32", layout=layout, name="tokens")
    h = L.Embedding(50, 8)(x)
    h = L.LSTM(6, return_sequences=True)(h)
    h = L.GRU(5)(h)
    return ir.Model(x, L.Dense(1, activation="sigmoid")(h), name="lstm").randomize(0)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_torch_convnet_transposes_only_at_the_boundary(layout):
    found = transposes(to_torch(convnet(layout)))
    assert all(reads or feeds for _, reads, feeds in found), found
    assert len(found) == (1 if layout == "NHWC" else 0)
    assert transposes(to_torch(convnet(layout), native_io=True)) == []


def test_flatten_order_is_folded_into_dense_weights():
    model = convnet("NHWC")
    module = to_torch(model)
    assert "index" not in str(torch.fx.symbolic_trace(module).code)  # no run-time gather either


@pytest.mark.parametrize("layout", ["NT", "TN"])
def test_torch_recurrent_has_no_transposes(layout):
    assert transposes(to_torch(lstm(layout))) == []


def test_reshape_to_size_one_axes_needs_no_permute():
    """EfficientNet's squeeze-and-excitation: pool, Reshape to (1, 1, C), 1x1 convs, Multiply. Reshaping
    straight into torch's NCHW moves no data, so only the input boundary transposes."""
    from twinnet.exporters import verify

    x = ir.Input((6, 5, 8), name="image")
    h = L.Conv2D(8, 3, padding="same")(x)
    gate = L.Reshape((1, 1, 8))(L.GlobalAvgPool2D()(h))
    gate = L.Conv2D(8, 1, activation="sigmoid")(L.Conv2D(2, 1, activation="relu")(gate))
    model = ir.Model(x, L.Multiply()([h, gate]), name="squeeze_excite").randomize(0)
    found = transposes(to_torch(model))
    assert len(found) == 2 and all(reads or feeds for _, reads, feeds in found), found  # in and out
    report = verify(model, paths="all")
    assert report.ok, report.table()
