"""``twinnet.MultiHeadAttention`` (made by ``onnx/patterns/attention.py``) -> the IR's MultiHeadAttention.

The pattern rule has already read everything from the file: heads, head sizes,
the Keras-layout weights (``(E, H, d)`` projection kernels, ``(H, dv, E_out)``
output kernel) and the axis order of each input. The op's inputs are, in the
IR's (Keras's) order, ``[query, value]``, then ``key`` when it is another
tensor, then the key-padding mask. This entry checks that layout inference
gave each input the letters the rule measured, then builds the layer. A
bool mask (True = pad) must be a graph input: the importer declares it as the
IR's float mask (1 = attend, see ``importer.py``); a bool computed in the graph
has no IR form.
"""

from __future__ import annotations

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .ctx import Converted, Ctx


def attention(ctx: Ctx) -> Converted:
    wanted = ctx.attr("twinnet_layouts")
    for i, (x, letters) in enumerate(zip(ctx.inputs, wanted)):
        if x.layout != letters:
            raise UnsupportedError(
                f"input {i} arrives as {x.layout!r}, but the attention block reads it as "
                f"{letters!r} (its axes are used in another order elsewhere in the graph)"
            )
    mask = ctx.op.inputs[-1]
    if ctx.attr("twinnet_bool_mask") and mask not in {vi.name for vi in ctx.graph.inputs}:
        raise UnsupportedError(
            f"its bool key-padding mask {mask!r} is computed in the graph; the IR reads a bool "
            "mask only as a model input (True = pad, declared as the float mask 1 = attend)"
        )
    query = ctx.inputs[0]
    key_dim, value_dim = ctx.attr("key_dim"), ctx.attr("value_dim")
    weights = dict(ctx.attr("twinnet_weights"))
    output = ctx.attr("output_shape")
    layer = L.MultiHeadAttention(
        num_heads=ctx.attr("num_heads"),
        key_dim=key_dim,
        value_dim=None if value_dim == key_dim else value_dim,
        use_bias="attention_output/bias" in weights,
        output_shape=None if output == query.spec.dim("C") else output,
        use_causal_mask=bool(ctx.attr("use_causal_mask")),
    )
    return layer, weights
