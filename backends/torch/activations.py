"""Activations as torch expressions, and the Activation layer."""

from __future__ import annotations

from ...ir.layers import Activation, ReLU
from ...ir.layers.activation import activation_axis
from ..lowering.code import Value
from ..lowering.driver import with_spec

_SIMPLE = {
    "relu": "torch.relu({x})",
    "sigmoid": "torch.sigmoid({x})",
    "tanh": "torch.tanh({x})",
    "silu": "F.silu({x})",
    "selu": "F.selu({x})",
    "softplus": "F.softplus({x})",
    "hard_sigmoid": "F.hardsigmoid({x})",
    "hard_swish": "F.hardswish({x})",
}


def expr(
    name: str | None,
    x: str,
    *,
    dim: int = -1,
    approximate: bool = False,
    alpha: float = 1.0,
    negative_slope: float = 0.2,
) -> str:
    """torch source applying activation ``name`` to the expression ``x``."""
    if name is None or name == "linear":
        return x
    if name in _SIMPLE:
        return _SIMPLE[name].format(x=x)
    if name == "softmax":
        return f"torch.softmax({x}, dim={dim})"
    if name == "log_softmax":
        return f"torch.log_softmax({x}, dim={dim})"
    if name == "gelu":
        return f"F.gelu({x}, approximate='tanh')" if approximate else f"F.gelu({x})"
    if name == "elu":
        return f"F.elu({x}, alpha={alpha!r})"
    if name == "leaky_relu":
        return f"F.leaky_relu({x}, negative_slope={negative_slope!r})"
    raise KeyError(name)


def fused(name: str | None, x: str, value_like: Value) -> str:
    """A layer's ``activation=`` argument (default parameters; softmax over C)."""
    dim = value_like.pos("C") if "C" in value_like.phys else -1
    return expr(name, x, dim=dim)


def lower_activation(ctx, node, inputs):
    (x,) = inputs
    layer: Activation = node.layer
    dim = (
        x.phys.index(node.spec.layout[activation_axis(layer.axis, node.spec)])
        if layer.activation in ("softmax", "log_softmax")
        else -1
    )
    if layer.activation == "linear":
        return with_spec(x, node.spec)
    kwargs = {k: getattr(layer, k) for k in ("approximate", "alpha", "negative_slope") if getattr(layer, k) is not None}
    # softmax along C stays valid on permuted features: it is permutation-equivariant.
    return ctx.let(node.name, expr(layer.activation, x.var, dim=dim, **kwargs), node.spec, x.phys, x.feat)


def relu_expr(layer: ReLU, x: str) -> str:
    """Keras's ReLU as a torch expression: a built-in where one computes the same, else Keras's own steps.

    Keras: ``pos = x if x > threshold else 0`` (``relu`` when the threshold is 0), clipped to
    ``[0, max_value]``, minus ``negative_slope * relu(threshold - x)``.
    """
    cap, slope, t = layer.max_value, layer.negative_slope, layer.threshold
    if t == 0 and slope == 0:
        if cap is None:
            return f"torch.relu({x})"
        return f"F.relu6({x})" if cap == 6 else f"torch.clamp({x}, 0.0, {cap!r})"
    if t == 0 and cap is None:
        return f"F.leaky_relu({x}, negative_slope={slope!r})"
    pos = f"torch.relu({x})" if t == 0 else f"torch.where({x} > {t!r}, {x}, 0.0)"
    if cap is not None:
        pos = f"torch.clamp({pos}, 0.0, {cap!r})"
    if slope == 0:
        return pos
    neg = f"torch.relu(-{x})" if t == 0 else f"torch.relu({t!r} - {x})"
    return f"{pos} - {slope!r} * {neg}"


def lower_relu(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, relu_expr(node.layer, x.var), node.spec, x.phys, x.feat)


TABLE = {Activation: lower_activation, ReLU: lower_relu}
