"""Keras lowerings of pooling.

The IR's pooling semantics are TensorFlow's ('same' max pads with -inf,
'same' average divides by the count of real elements), so the Keras layers
map one to one; only the layout needs care (channels last).
"""
from __future__ import annotations

from ir.layers import (AvgPool1D, AvgPool2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
                       MaxPool1D, MaxPool2D)

from ..program import call
from .conv import channels_last

_KIND = {MaxPool1D: "MaxPooling1D", MaxPool2D: "MaxPooling2D", AvgPool1D: "AveragePooling1D",
         AvgPool2D: "AveragePooling2D", GlobalAvgPool1D: "GlobalAveragePooling1D",
         GlobalAvgPool2D: "GlobalAveragePooling2D", GlobalMaxPool1D: "GlobalMaxPooling1D",
         GlobalMaxPool2D: "GlobalMaxPooling2D"}


def lower_pool(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    x = channels_last(ctx, x)
    kwargs = {"strides": layer.strides} if layer.strides != layer.pool_size else {}
    if layer.padding != "valid":
        kwargs["padding"] = layer.padding
    ctor = call(f"layers.{_KIND[type(layer)]}", layer.pool_size, **kwargs)
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys)


def lower_global_pool(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    x = channels_last(ctx, x)
    kwargs = {"keepdims": True} if layer.keepdims else {}
    phys = x.phys if layer.keepdims else "NC"
    return ctx.layer(node.name, call(f"layers.{_KIND[type(layer)]}", **kwargs), x.var, node.spec, phys)


TABLE = {MaxPool1D: lower_pool, MaxPool2D: lower_pool, AvgPool1D: lower_pool, AvgPool2D: lower_pool,
         GlobalAvgPool1D: lower_global_pool, GlobalAvgPool2D: lower_global_pool,
         GlobalMaxPool1D: lower_global_pool, GlobalMaxPool2D: lower_global_pool}
