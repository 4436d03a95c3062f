"""Activations as ONNX nodes, and the Activation and ReLU layers."""

from __future__ import annotations

from ...ir.layers import Activation, ReLU
from ...ir.layers.activation import activation_axis
from ..lowering.code import Value
from ..lowering.driver import with_spec
from .compile import Op

# One ONNX operator each, with the parameters that make it compute what Keras and torch compute.
_SIMPLE = {
    "relu": ("Relu", {}),
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "softplus": ("Softplus", {}),
    # selu: ONNX's default alpha and gamma are the constants Keras and torch use
    "selu": ("Selu", {}),
    # hard_sigmoid / hard_swish: relu6(x + 3) / 6 (times x), as Keras 3 and torch define them
    "hard_sigmoid": ("HardSigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5}),
    "hard_swish": ("HardSwish", {}),
}


def activation(
    ctx,
    name: str | None,
    x: str,
    base: str,
    *,
    axis: int = -1,
    approximate: bool = False,
    alpha: float = 1.0,
    negative_slope: float = 0.2,
) -> Op | None:
    """The final node applying activation ``name`` to tensor ``x`` (intermediates added to ``ctx``);
    None for a linear activation."""
    if name is None or name == "linear":
        return None
    if name in _SIMPLE:
        op_type, attrs = _SIMPLE[name]
        return Op(op_type, (x,), attrs)
    if name == "softmax":
        return Op("Softmax", (x,), {"axis": axis})
    if name == "log_softmax":
        return Op("LogSoftmax", (x,), {"axis": axis})
    if name == "silu":
        return Op("Mul", (x, ctx.op("Sigmoid", x, base=f"{base}_sigmoid")))
    if name == "gelu":
        return Op("Gelu", (x,), {"approximate": "tanh" if approximate else "none"})
    if name == "elu":
        return Op("Elu", (x,), {"alpha": float(alpha)})
    if name == "leaky_relu":
        return Op("LeakyRelu", (x,), {"alpha": float(negative_slope)})
    raise KeyError(name)


def fused(ctx, name: str | None, x: str, base: str, value_like: Value) -> str:
    """Apply a layer's ``activation=`` argument (default parameters; softmax over C) to ``x``; returns the
    tensor to take next (``x`` itself for a linear activation). The caller's ``let`` names the result."""
    axis = value_like.pos("C") if "C" in value_like.phys else -1
    final = activation(ctx, name, x, base, axis=axis)
    return x if final is None else final


def finish(ctx, node, result, x: Value, phys: str | None = None, feat=None) -> Value:
    """The layer's value: ``result`` (an :class:`Op` or a tensor name already computed) named after the node."""
    phys = x.phys if phys is None else phys
    if isinstance(result, Op):
        return ctx.let(node.name, result, node.spec, phys, feat)
    return ctx.let(node.name, Op("Identity", (result,)), node.spec, phys, feat)


def lower_activation(ctx, node, inputs):
    (x,) = inputs
    layer: Activation = node.layer
    if layer.activation == "linear":
        return with_spec(x, node.spec)
    axis = (
        x.phys.index(node.spec.layout[activation_axis(layer.axis, node.spec)])
        if layer.activation in ("softmax", "log_softmax")
        else -1
    )
    kwargs = {k: getattr(layer, k) for k in ("approximate", "alpha", "negative_slope") if getattr(layer, k) is not None}
    # softmax along C stays valid on permuted features: it is permutation-equivariant.
    return ctx.let(
        node.name, activation(ctx, layer.activation, x.var, node.name, axis=axis, **kwargs), node.spec, x.phys, x.feat
    )


def relu_op(ctx, layer: ReLU, x: str, base: str) -> Op:
    """Keras's ReLU as ONNX nodes: ``pos = x if x > threshold else 0`` (Relu when the threshold is 0), clipped
    to ``[0, max_value]``, minus ``negative_slope * relu(threshold - x)``."""
    cap, slope, t = layer.max_value, layer.negative_slope, layer.threshold
    if t == 0 and slope == 0 and cap is None:
        return Op("Relu", (x,))
    if t == 0 and cap is None:
        return Op("LeakyRelu", (x,), {"alpha": float(slope)})
    zero = ctx.scalar(f"{base}_zero", 0.0)
    if t == 0 and slope == 0:  # ReLU6 and other caps: one Clip, min(max(x, 0), cap)
        return Op("Clip", (x, zero, ctx.scalar(f"{base}_max", cap)))
    if t == 0:
        pos = ctx.op("Relu", x, base=f"{base}_pos")
    else:
        above = ctx.op("Greater", x, ctx.scalar(f"{base}_threshold", t), base=f"{base}_above")
        pos = ctx.op("Where", above, x, zero, base=f"{base}_pos")
    if cap is not None:
        pos = ctx.op("Clip", pos, zero, ctx.scalar(f"{base}_max", cap), base=f"{base}_clip")
    if slope == 0:
        return Op("Identity", (pos,))
    under = ctx.op("Sub", ctx.scalar(f"{base}_t", t), x, base=f"{base}_under")
    neg = ctx.op(
        "Mul", ctx.scalar(f"{base}_slope", slope), ctx.op("Relu", under, base=f"{base}_neg"), base=f"{base}_scaled"
    )
    return Op("Sub", (pos, neg))


def lower_relu(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, relu_op(ctx, node.layer, x.var, node.name), node.spec, x.phys, x.feat)


TABLE = {Activation: lower_activation, ReLU: lower_relu}
