"""ONNX lowering of MultiHeadAttention, composed from MatMul, Softmax and friends (Keras's computation).

Per input (held ``NTC`` or ``TNC``, each as it comes, C last): project with one
MatMul over C (Keras kernels ``(E_in, H, d)`` read as ``(E_in, H*d)``; the
projections of one tensor packed into one MatMul and a Split), split
the heads with a Reshape ``(0, 0, H, d)`` (0 copies an axis, so lengths and
batch stay symbolic), and one Transpose to ``(N, H, T, d)`` (keys straight to
``(N, H, d, S)``). Scores are ``q / sqrt(key_dim) @ k`` as Keras scales the
query; masked scores are replaced by a large negative number before Softmax,
as Keras's masked softmax adds one (a row with every key masked then
averages the values rather than giving NaN; the IR does not promise that
case). The heads go back to the query's layout with one Transpose and
a Reshape, then the output projection (``(H, dv, E_out)`` read as
``(H*dv, E_out)``). Dropout is inactive at inference.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import MultiHeadAttention
from .compile import Op

#: what masked scores become (Keras's large negative number for float32): exp of it is 0 next to any real score
_BLOCKED = -1e9
_BOOL = 9  # onnx.TensorProto.BOOL


def _projections(ctx, sources: dict, w: dict, use_bias: bool, base: str) -> dict[str, str]:
    """{part: ``x @ kernel (+ bias)`` over C, the heads side by side (..., H*d)} for ``sources`` {part: value}.

    Parts that read one tensor (self-attention's query, key and value) share one MatMul, their kernels side by
    side (torch's packed in_proj), and a Split; each distinct tensor gets its own.
    """
    groups: dict[str, list[str]] = {}
    for part, x in sources.items():
        groups.setdefault(x.var, []).append(part)
    out = {}
    for var, parts in groups.items():
        name = f"{base}_{'_'.join(parts)}"
        kernels = [w[f"{p}/kernel"].reshape(w[f"{p}/kernel"].shape[0], -1) for p in parts]
        y = ctx.op("MatMul", var, ctx.const(f"{name}_kernel", np.concatenate(kernels, 1)), base=f"{name}_matmul")
        if use_bias:
            bias = np.concatenate([w[f"{p}/bias"].reshape(-1) for p in parts])
            y = ctx.op("Add", y, ctx.const(f"{name}_bias", bias), base=f"{name}_biased")
        if len(parts) == 1:
            out[parts[0]] = y
            continue
        sizes = ctx.ints(f"{name}_sizes", [k.shape[1] for k in kernels])
        out.update(zip(parts, ctx.op("Split", y, sizes, base=f"{name}_part", outputs=len(parts), axis=-1)))
    return out


def _heads(ctx, x, projected: str, heads: int, size: int, last: str, base: str) -> str:
    """The projection split into heads, transposed to (N, H, T, d) (``last="d"``) or (N, H, d, T) (``"T"``)."""
    split = ctx.op("Reshape", projected, ctx.ints(f"{base}_split", [0, 0, heads, size]), base=f"{base}_split")
    held = x.phys.replace("C", "H") + "d"  # axes of the split tensor as held: N, T (either order), H, d
    order = "NHTd" if last == "d" else "NHdT"
    return ctx.op("Transpose", split, base=f"{base}_heads", perm=[held.index(a) for a in order])


def _seq(ctx, value):
    """``value`` with features in logical order and C last (NTC or TNC as it comes; else NTC)."""
    value = ctx.plain(value)
    return value if value.phys in ("NTC", "TNC") else ctx.require(value, "NTC")


def _length(ctx, x, base: str) -> str:
    """The length T of ``x`` as a 1-element shape, read at run time (it may be symbolic)."""
    t = x.pos("T")
    return ctx.op("Shape", x.var, base=base, start=t, end=t + 1)


def _causal(ctx, query, key, base: str) -> str:
    """(T, S) bool, True where query step t may see key s (s <= t): the lower triangle (Trilu, upper=0,
    keeps the diagonal) of a run-time (T, S) block of ones, as lengths may be symbolic."""
    from onnx import helper  # imported when used, as compile.py does: onnx is needed only to export

    shape = ctx.op(
        "Concat", _length(ctx, query, f"{base}_t"), _length(ctx, key, f"{base}_s"), base=f"{base}_shape", axis=0
    )
    ones = ctx.op(
        "ConstantOfShape", shape, base=f"{base}_ones", value=helper.make_tensor(f"{base}_true", _BOOL, [1], [True])
    )
    return ctx.op("Trilu", ones, base=f"{base}_keep", upper=0)


def _padding(ctx, mask, base: str) -> str:
    """(N, 1, 1, S) bool, True where the key is attended: a nonzero mask entry (Keras casts it to bool)."""
    mask = ctx.require(ctx.plain(mask), "NT")
    keep = ctx.op("Cast", mask.var, base=f"{base}_bool", to=_BOOL)  # nonzero -> True
    return ctx.op("Unsqueeze", keep, ctx.ints(f"{base}_axes", [1, 2]), base=f"{base}_keep")


def lower_mha(ctx, node, inputs):
    layer: MultiHeadAttention = node.layer
    _, _, _, mask_spec = layer.split([t.spec for t in node.inputs])
    inputs = list(inputs)
    mask = inputs.pop() if mask_spec is not None else None
    query, value = _seq(ctx, inputs[0]), _seq(ctx, inputs[1])
    key = _seq(ctx, inputs[2]) if len(inputs) == 3 else value
    w, base, h = ctx.weights(node), node.name, layer.num_heads
    d, dv = layer.key_dim, layer.head_value_dim

    projected = _projections(ctx, {"query": query, "key": key, "value": value}, w, layer.use_bias, base)
    # Keras scales the projected query (bias included) before the scores.
    q = ctx.op("Mul", projected["query"], ctx.scalar(f"{base}_scale", 1.0 / np.sqrt(d)), base=f"{base}_query_scaled")
    q = _heads(ctx, query, q, h, d, "d", f"{base}_query")
    k = _heads(ctx, key, projected["key"], h, d, "T", f"{base}_key")
    v = _heads(ctx, value, projected["value"], h, dv, "d", f"{base}_value")
    scores = ctx.op("MatMul", q, k, base=f"{base}_scores")  # (N, H, T, S)

    keep = _padding(ctx, mask, f"{base}_mask") if mask is not None else None
    if layer.use_causal_mask:
        causal = _causal(ctx, query, key, f"{base}_causal")
        keep = causal if keep is None else ctx.op("And", keep, causal, base=f"{base}_keep")
    if keep is not None:
        scores = ctx.op("Where", keep, scores, ctx.scalar(f"{base}_blocked", _BLOCKED), base=f"{base}_masked")
    weights = ctx.op("Softmax", scores, base=f"{base}_weights", axis=-1)
    heads = ctx.op("MatMul", weights, v, base=f"{base}_attended")  # (N, H, T, dv)

    held = query.phys.replace("C", "H") + "d"
    back = ctx.op("Transpose", heads, base=f"{base}_merge", perm=["NHTd".index(a) for a in held])
    merged = ctx.op("Reshape", back, ctx.ints(f"{base}_merged", [0, 0, h * dv]), base=f"{base}_merged")
    out = w["attention_output/kernel"]
    project = Op("MatMul", (merged, ctx.const(f"{base}_output_kernel", out.reshape(h * dv, -1))))
    if layer.use_bias:
        y = ctx.op(project.op_type, *project.inputs, base=f"{base}_output")
        project = Op("Add", (y, ctx.const(f"{base}_output_bias", w["attention_output/bias"])))
    return ctx.let(base, project, node.spec, query.phys)


TABLE = {MultiHeadAttention: lower_mha}

#: weights back (backends/lowering/weights_back.py): every initializer element is a copy of an IR weight
BACK = {MultiHeadAttention: None}
