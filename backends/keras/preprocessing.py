"""Keras lowerings of Rescaling and Normalization: the Keras layers of the same names, constants in the config.

Keras broadcasts per-channel constants against the last axis, which is where
it holds C. Normalization's statistics are passed to the constructor (so the
layer has no weights and needs no ``adapt``), with ``axis`` the position of
the statistics' axis as Keras holds the tensor (``None``: whole tensor).
"""

from __future__ import annotations

from ...ir.layers import Normalization, Rescaling
from ..lowering.code import call


def _listed(value):
    return list(value) if isinstance(value, tuple) else value


def lower_rescaling(ctx, node, inputs):
    (x,) = inputs
    layer: Rescaling = node.layer
    if layer.per_channel and x.phys[-1] != "C":
        x = ctx.require(x, x.phys.replace("C", "") + "C")
    kwargs = {"offset": _listed(layer.offset)} if layer.offset != 0.0 else {}
    return ctx.layer(node.name, call("layers.Rescaling", _listed(layer.scale), **kwargs), x.var, node.spec, x.phys)


def lower_normalization(ctx, node, inputs):
    (x,) = inputs
    layer: Normalization = node.layer
    axis = layer.stats_axis(node.spec)
    pos = None if axis is None else x.pos(node.spec.layout[axis])
    kwargs = {} if pos == len(x.phys) - 1 else {"axis": pos}  # Keras's default axis is -1, the last
    kwargs.update(mean=_listed(layer.mean), variance=_listed(layer.variance))
    if layer.invert:
        kwargs["invert"] = True
    return ctx.layer(node.name, call("layers.Normalization", **kwargs), x.var, node.spec, x.phys)


TABLE = {Rescaling: lower_rescaling, Normalization: lower_normalization}
