"""Keras lowering of LearnedConstant from standard layers only: an ``Embedding(1, size)`` looked up at index 0.

Keras has no layer that just holds a free weight, and a custom layer or a
Lambda would not reload without code. An Embedding with one row is exactly
such a weight (trainable, saved by name) once it is fed the index 0 for every
sample. The chain, named after the IR layer so the graph reads as one unit:

``reference -> Flatten (_flat) -> Reshape((-1, 1)) (_column) -> GlobalMaxPooling1D (_max)``
gives one number per sample, ``(N, 1)``, whatever the reference's shape;
``Discretization(bin_boundaries=[]) (_index)`` maps every value to bucket 0
(no boundaries, one bucket: NaN and inf included, so the lookup can never go
out of range; a ``ReLU(max_value=0)`` also gives 0 on finite numbers but
turns NaN into an out-of-range index); ``Embedding(1, size) (_table)``
looks the row up, ``(N, 1, size)``; ``Reshape(shape) (<layer>)`` gives the
value its shape, as Keras holds it (channels last). ``from_keras`` reads this
exact chain back into a LearnedConstant. tf2onnx has no converter for
TensorFlow's Bucketize: ``exporters/tf2onnx_ops.py`` adds one.
"""

from __future__ import annotations

import math

from ...ir.layers import LearnedConstant
from ..lowering.code import call

#: the suffixes of the chain's layers, in order (from_keras recognises the chain by its layer types, not names)
SUFFIXES = ("_flat", "_column", "_max", "_index", "_table")


def lower_learned_constant(ctx, node, inputs, *, op: bool = False):
    """The chain above; ``op``: the op ``Learned`` (``ops_tensors.py``), whose last link is ``keras.ops.reshape``
    (the op tier lowers to ``keras.ops``), so that ``from_keras`` reads it back as ``Learned``."""
    (x,) = inputs
    spec = node.spec
    phys, value = ctx.held_weight(node, "value")
    size = math.prod(value.shape)
    flat = ctx.layer(node.name + "_flat", "layers.Flatten()", x.var, spec, phys)
    column = ctx.layer(node.name + "_column", call("layers.Reshape", (-1, 1)), flat.var, spec, phys)
    peak = ctx.layer(node.name + "_max", "layers.GlobalMaxPooling1D()", column.var, spec, phys)
    index = ctx.layer(node.name + "_index", call("layers.Discretization", bin_boundaries=[]), peak.var, spec, phys)
    row = ctx.layer(
        node.name + "_table", call("layers.Embedding", 1, size), index.var, spec, phys, [value.reshape(1, size)]
    )
    if op:
        return ctx.let(node.name, f"keras.ops.reshape({row.var}, {(-1, *value.shape)!r})", spec, phys)
    return ctx.layer(node.name, call("layers.Reshape", tuple(value.shape)), row.var, spec, phys)


TABLE = {LearnedConstant: lower_learned_constant}

#: weights back (backends/lowering/weights_back.py): Keras holds the IR's layout, every weight is a copy
BACK = {LearnedConstant: None}
