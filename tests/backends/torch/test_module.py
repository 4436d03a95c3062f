"""The compiled torch module is an ordinary nn.Module: state_dict, .to(), torch.compile, train/eval."""

import numpy as np
import torch
import torch.fx

from twinnet import ir
from twinnet.backends import to_torch
from twinnet.ir import layers as L


def model():
    x = ir.Input((8, 8, 2), name="x")
    h = L.BatchNorm()(L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x))
    return ir.Model(x, L.Dense(3)(L.Dropout(0.2)(L.Flatten()(h))), name="net").randomize(0)


def test_module_is_ordinary():
    tm = to_torch(model())
    assert not tm.training  # compiled in eval mode, as the comparison needs
    assert {type(m).__name__ for m in tm.children()} >= {"Conv2d", "BatchNorm2d", "Dropout", "Linear", "ZeroPad2d"}
    state = tm.state_dict()
    assert state["conv2d.weight"].shape == (4, 2, 3, 3)
    x = torch.randn(3, 8, 8, 2)
    same = to_torch(model())
    same.load_state_dict(state)
    assert torch.equal(same(x), tm(x))
    moved = tm.to(torch.float64)
    assert moved(x.double()).dtype == torch.float64


def test_torch_compile_matches_eager():
    tm = to_torch(model())
    x = torch.randn(2, 8, 8, 2)
    np.testing.assert_allclose(torch.compile(tm)(x).detach().numpy(), tm(x).detach().numpy(), atol=1e-5, rtol=1e-4)


def test_generated_names_are_identifiers():
    """Names the lowering derives (modules, variables) are valid, non-keyword Python identifiers."""
    import keyword

    from twinnet.backends.lowering.code import identifier

    for raw in ["1x1", "for", "a-b", "", "self", "x.y"]:
        name = identifier(raw, reserved=frozenset({"self"}))
        assert name.isidentifier() and not keyword.iskeyword(name) and name != "self", (raw, name)


def test_forward_takes_the_inputs_in_the_models_order():
    """``model.inputs`` decides the argument order, not the order the inputs were made in."""
    a = ir.Input((3,), name="a")
    b = ir.Input((3,), name="b")
    m = ir.Model([b, a], L.Subtract()([a, b]), name="order")
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    with torch.no_grad():
        assert torch.equal(to_torch(m)(y, x), x - y)


def test_helper_modules_trace_with_torch_fx():
    """A LayerNorm over the channels of a map held channels first is twinnet's ChannelLayerNorm (Keras's
    ConvNeXt): the module still traces with torch.fx, as a hand-written one would, and computes the same."""
    x = ir.Input((6, 6, 4), name="x")
    h = L.LayerNorm(axis="C")(L.Conv2D(8, 3, padding="same")(x))
    net = ir.Model(x, L.GlobalAvgPool2D()(L.Conv2D(5, 1)(h)), name="channel_norm").randomize(0)
    tm = to_torch(net)
    assert "ChannelLayerNorm" in {type(m).__name__ for m in tm.modules()}
    traced = torch.fx.symbolic_trace(tm)
    for batch in (2, 3):
        x = torch.randn(batch, 6, 6, 4)
        torch.testing.assert_close(traced(x), tm(x), atol=1e-5, rtol=1e-4)
