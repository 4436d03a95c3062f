"""Activations as torch expressions, and the Activation layer."""
from __future__ import annotations

from ir.layers import Activation
from ir.layers.activation import activation_axis

from ..program import Value, with_spec

_SIMPLE = {"relu": "torch.relu({x})", "sigmoid": "torch.sigmoid({x})", "tanh": "torch.tanh({x})",
           "silu": "F.silu({x})", "selu": "F.selu({x})", "softplus": "F.softplus({x})",
           "hard_sigmoid": "F.hardsigmoid({x})", "hard_swish": "F.hardswish({x})"}


def expr(name: str | None, x: str, *, dim: int = -1, approximate: bool = False, alpha: float = 1.0,
         negative_slope: float = 0.2) -> str:
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
    dim = x.phys.index(node.spec.layout[activation_axis(layer.axis, node.spec)]) \
        if layer.activation in ("softmax", "log_softmax") else -1
    if layer.activation == "linear":
        return with_spec(x, node.spec)
    kwargs = {k: getattr(layer, k) for k in ("approximate", "alpha", "negative_slope") if getattr(layer, k) is not None}
    # softmax along C stays valid on permuted features: it is permutation-equivariant.
    return ctx.let(node.name, expr(layer.activation, x.var, dim=dim, **kwargs), node.spec, x.phys, x.feat)


TABLE = {Activation: lower_activation}
