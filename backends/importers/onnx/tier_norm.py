"""ONNX's fused normalisation and attention ops as IR ops: RMSNormalization (``Normalize`` times its scale)
and Attention of 4-D q, k, v (``ScaledDotProductAttention``)."""

from __future__ import annotations

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from .ctx import Converted, Ctx
from .tier import operand


def rms_norm(ctx: Ctx) -> Converted:
    x = ctx.x()
    rank = x.spec.rank
    letters = "".join(ctx.letter(a, x) for a in range(ctx.attr("axis", -1) % rank, rank))
    y = ctx.call(O.Normalize(letters, rms=True, epsilon=float(ctx.attr("epsilon", 1e-5))), x)
    scale = operand(ctx, 1, x)
    if isinstance(scale, float):
        return ctx.call(O.Binary("mul", scalar=scale), y), {}
    return ctx.call(O.Binary("mul"), y, scale), {}


def attention(ctx: Ctx) -> Converted:
    """Attention of q, k, v given as ``(batch, heads, length, features)``, without a mask, past keys or
    soft-capping; a causal one is top-left aligned."""
    q, k, v = (ctx.value(i) for i in range(3))
    if any(t is None or t.spec.rank != 4 or t.layout[0] != "N" for t in (q, k, v)):
        raise UnsupportedError("reads q, k, v other than as computed 4-D (batch, heads, length, features) tensors")
    if any(i < len(ctx.op.inputs) and ctx.op.inputs[i] for i in range(3, 7)):
        raise UnsupportedError(
            "has a mask, past keys and values or a nonpad_kv_seqlen; the IR's attention here takes none"
        )
    if ctx.attr("softcap", 0.0) or any(i < len(ctx.op.outputs) and ctx.op.outputs[i] for i in range(1, 4)):
        raise UnsupportedError("soft-caps the scores or returns more than its result")
    other = sorted(set(ctx.op.attrs) - {"is_causal", "scale", "softcap", "softmax_precision", "qk_matmul_output_mode"})
    if other:
        raise UnsupportedError(f"attributes {other} are not supported (a local window, heads given for 3-D inputs)")
    if not q.layout == k.layout == v.layout:
        raise UnsupportedError(f"q, k, v arrive with letters {q.layout!r}, {k.layout!r}, {v.layout!r}")
    scale = ctx.attr("scale")
    layer = O.ScaledDotProductAttention(
        causal=bool(ctx.attr("is_causal", 0)), scale=None if scale is None else float(scale)
    )
    return ctx.call(layer, q, k, v), {}
