"""Keras lowering of MultiHeadAttention: ``keras.layers.MultiHeadAttention`` itself.

IR weights are Keras's (names, shapes, order), so they copy as is. Keras holds
every sequence batch-first, so a ``TNC`` input is already ``NTC`` here.

The IR's key-padding mask ``(B, S)`` becomes Keras's ``attention_mask`` of
shape ``(B, 1, S)`` through a ``Reshape((1, -1))``: Keras documents the
attention mask as ``(B, T, S)`` with broadcasting, and its code expands a
rank-3 mask to ``(B, 1, T, S)`` (a rank-2 mask would be expanded on the wrong
axis), so ``(B, 1, S)`` broadcasts over heads and query steps. Keras casts
the float 0/1 mask to bool itself (1 = attend).
"""

from __future__ import annotations

from ...ir.layers import MultiHeadAttention
from ..lowering.code import call


def lower_mha(ctx, node, inputs):
    layer: MultiHeadAttention = node.layer
    specs = [t.spec for t in node.inputs]
    inputs = list(inputs)
    mask = inputs.pop() if "C" not in specs[-1].layout else None
    query, value = inputs[0], inputs[1]
    kwargs = {"num_heads": layer.num_heads, "key_dim": layer.key_dim}
    if layer.value_dim is not None:
        kwargs["value_dim"] = layer.value_dim
    if layer.dropout:
        kwargs["dropout"] = layer.dropout
    if not layer.use_bias:
        kwargs["use_bias"] = False
    if layer.output_shape is not None:
        kwargs["output_shape"] = layer.output_shape
    args = [query.var, value.var]
    if len(inputs) == 3:
        args.append(f"key={inputs[2].var}")
    if mask is not None:
        mask = ctx.require(mask, "NT")
        broadcast = ctx.layer(f"{node.name}_mask", "layers.Reshape((1, -1))", mask.var, mask.spec, mask.phys)
        args.append(f"attention_mask={broadcast.var}")
    if layer.use_causal_mask:
        args.append("use_causal_mask=True")
    w = ctx.weights(node)
    weights = [w[k] for k in node.layer.weights(specs)]  # the IR's order is Keras's get_weights() order
    return ctx.layer(node.name, call("layers.MultiHeadAttention", **kwargs), ", ".join(args), node.spec, "NTC", weights)


TABLE = {MultiHeadAttention: lower_mha}

#: weights back (backends/lowering/weights_back.py): Keras holds the IR's layout, every weight is a copy
BACK = {MultiHeadAttention: None}
