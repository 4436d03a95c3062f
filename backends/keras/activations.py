"""Activations as Keras layers, and the ``activation=`` strings of Dense/Conv.

Parameters are passed explicitly where Keras's defaults differ from the IR's
(the ``LeakyReLU`` layer defaults to slope 0.3, the IR to 0.2). The tanh form
of GELU has no standard Keras layer (``Activation("gelu")`` is the exact erf
form), so it is composed from standard layers: tanh(z) = 2*sigmoid(2z) - 1
gives 0.5*x*(1 + tanh(z)) = x * sigmoid(2z).
"""

from __future__ import annotations

import math

from ...ir.errors import UnsupportedError
from ...ir.layers import Activation, ReLU
from ...ir.layers.activation import activation_axis
from ..lowering.code import call
from ..lowering.driver import with_spec

# IR name -> Keras activation string, where they differ.
_STRINGS = {"hard_swish": "hard_silu"}


def keras_name(name: str | None) -> str | None:
    """The Keras activation string for an IR activation with default parameters (None for linear).

    The Keras strings' defaults equal the IR's: gelu exact, elu alpha 1,
    leaky_relu slope 0.2, softmax / log_softmax over the last axis (C in Keras).
    """
    if name is None or name == "linear":
        return None
    return _STRINGS.get(name, name)


def fused(name: str | None) -> dict:
    """Constructor kwargs for a layer's ``activation=`` argument."""
    string = keras_name(name)
    return {} if string is None else {"activation": string}


def gelu_tanh(ctx, node, x):
    """x * sigmoid(2*sqrt(2/pi)*(x + 0.044715*x^3)) from Multiply/Add/Rescaling/Activation layers."""
    spec, phys, base = node.spec, x.phys, node.name
    sq = ctx.layer(f"{base}_square", "layers.Multiply()", f"[{x.var}, {x.var}]", spec, phys)
    cube = ctx.layer(f"{base}_cube", "layers.Multiply()", f"[{sq.var}, {x.var}]", spec, phys)
    cubic = ctx.layer(f"{base}_cubic", call("layers.Rescaling", 0.044715), cube.var, spec, phys)
    inner = ctx.layer(f"{base}_inner", "layers.Add()", f"[{x.var}, {cubic.var}]", spec, phys)
    z = ctx.layer(f"{base}_scaled", call("layers.Rescaling", 2.0 * math.sqrt(2.0 / math.pi)), inner.var, spec, phys)
    gate = ctx.layer(f"{base}_gate", call("layers.Activation", "sigmoid"), z.var, spec, phys)
    return ctx.layer(base, "layers.Multiply()", f"[{x.var}, {gate.var}]", spec, phys)


def lower_activation(ctx, node, inputs):
    (x,) = inputs
    layer: Activation = node.layer
    name = layer.activation
    if name == "linear":
        return with_spec(x, node.spec)
    if name in ("softmax", "log_softmax"):
        letter = node.spec.layout[activation_axis(layer.axis, node.spec)]
        if name == "log_softmax" and x.phys[-1] != letter:
            # Activation("log_softmax") acts on the last axis only: hold that axis last (one Permute).
            # The batch axis cannot move in Keras, so log_softmax over N stays unsupported.
            if letter == "N":
                raise UnsupportedError(
                    "log_softmax over the batch axis N: Keras's log_softmax acts on the last "
                    "axis only and keras.layers.Permute cannot move the batch axis"
                )
            x = ctx.require(x, x.phys.replace(letter, "") + letter)
        if name == "softmax":
            return ctx.layer(node.name, call("layers.Softmax", axis=x.pos(letter)), x.var, node.spec, x.phys)
        return ctx.layer(node.name, call("layers.Activation", "log_softmax"), x.var, node.spec, x.phys)
    if name == "gelu" and layer.approximate:
        return gelu_tanh(ctx, node, x)
    if name == "elu":
        ctor = call("layers.ELU", alpha=layer.alpha)
    elif name == "leaky_relu":
        ctor = call("layers.LeakyReLU", negative_slope=layer.negative_slope)
    else:
        ctor = call("layers.Activation", keras_name(name))
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys)


def lower_relu(ctx, node, inputs):
    (x,) = inputs
    layer: ReLU = node.layer
    kwargs = {
        k: getattr(layer, k)
        for k, default in (("max_value", None), ("negative_slope", 0.0), ("threshold", 0.0))
        if getattr(layer, k) != default
    }
    return ctx.layer(node.name, call("layers.ReLU", **kwargs), x.var, node.spec, x.phys)


TABLE = {Activation: lower_activation, ReLU: lower_relu}
