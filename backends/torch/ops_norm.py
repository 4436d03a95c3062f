"""torch lowerings of Normalize and ScaledDotProductAttention, composed of torch functions in ``forward``
(attention through ``F.scaled_dot_product_attention`` where its semantics are the op's)."""

from __future__ import annotations

import math

import numpy as np

from ...ir.ops import Normalize, ScaledDotProductAttention
from ..lowering.ops import batch_first, broadcast_to, declared, number

LOWEST = number(np.finfo(np.float32).min)


def lower_normalize(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    op, n = node.layer, node.name
    dims = tuple(sorted(x.pos(a) for a in op.axes))
    if not op.rms:
        x = ctx.let(f"{n}_centred", f"{x.var} - {x.var}.mean(dim={dims!r}, keepdim=True)", x.spec, x.phys)
    power = f"{x.var}.square().mean(dim={dims!r}, keepdim=True)"
    return ctx.let(n, f"{x.var} * torch.rsqrt({power} + {number(op.epsilon)})", node.spec, x.phys)


def lower_sdpa(ctx, node, inputs):
    """``F.scaled_dot_product_attention`` (torch's fused kernel, what torch sources call) without a mask, with
    an additive mask, or causal alone; written out (matmul, softmax, matmul) with a boolean mask, where a row
    the mask blocks entirely averages the values (the lowest float), as Keras and ONNX, not NaN."""
    op, n = node.layer, node.name
    q, k, v = (declared(ctx, x) for x in inputs[:3])
    scores = op.scores_spec([x.spec for x in inputs])
    phys = scores.layout
    heads, groups = q.phys_shape()[1], k.phys_shape()[1]
    scale = op.scale if op.scale is not None else 1 / math.sqrt(q.phys_shape()[3])
    mask = broadcast_to(ctx, inputs[3], scores, phys, f"{n}_mask") if len(inputs) == 4 else None
    out = batch_first(node.spec.layout)
    if mask is None or (mask.spec.dtype != "bool" and not op.causal):
        args = [q.var, k.var, v.var]
        args += [f"attn_mask={mask.var}"] if mask is not None else []
        args += ["is_causal=True"] if op.causal else []
        args += ["enable_gqa=True"] if heads != groups else []  # each k/v head serves heads/groups query heads
        return ctx.let(n, f"F.scaled_dot_product_attention({', '.join(args)}, scale={number(scale)})", node.spec, out)
    if heads != groups:  # grouped-query: each k/v head serves heads/groups query heads in a row
        k = ctx.let(f"{n}_k", f"{k.var}.repeat_interleave({heads // groups}, dim=1)", k.spec, k.phys)
        v = ctx.let(f"{n}_v", f"{v.var}.repeat_interleave({heads // groups}, dim=1)", v.spec, v.phys)
    s = ctx.let(f"{n}_scores", f"torch.matmul({q.var}, {k.var}.transpose(2, 3)) * {number(scale)}", scores, phys)
    if mask.spec.dtype == "bool":
        s = ctx.let(f"{n}_masked", f"torch.where({mask.var}, {s.var}, {LOWEST})", scores, phys)
    else:
        s = ctx.let(f"{n}_masked", f"{s.var} + {mask.var}", scores, phys)
    if op.causal:
        seen = f"torch.ones({s.var}.shape[2], {s.var}.shape[3], dtype=torch.bool, device={s.var}.device).tril()"
        s = ctx.let(f"{n}_causal", f"torch.where({seen}, {s.var}, {LOWEST})", scores, phys)
    w = ctx.let(f"{n}_weights", f"torch.softmax({s.var}, dim=3)", scores, phys)
    return ctx.let(n, f"torch.matmul({w.var}, {v.var})", node.spec, out)


TABLE = {Normalize: lower_normalize, ScaledDotProductAttention: lower_sdpa}
