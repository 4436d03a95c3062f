"""torch lowering of MultiHeadAttention (docs/equivalence.md, section 10).

``nn.MultiheadAttention`` computes Keras's attention exactly when each head's
query/key size times the heads is the query's feature size, values use the
same head size, and the output keeps the query's features. Then:
  * Keras kernels ``(E_in, H, d)`` become torch weights ``(H*d, E_in)``
    (``reshape(E_in, -1).T``); packed into ``in_proj_weight`` [q; k; v] when
    key and value have the query's features, else ``q/k/v_proj_weight``
    (``kdim``/``vdim``); biases concatenate into ``in_proj_bias``.
  * ``attention_output/kernel (H, d, E)`` becomes ``out_proj.weight = K.reshape(H*d, E).T``.
  * Keras's call order is (query, value, key), torch's (query, key, value).
Otherwise the inlined ``KerasAttention`` (nn.Linear projections and
``F.scaled_dot_product_attention``) does it, called the same way.

Masks: Keras's 1 = attend; torch's bool masks are True = *blocked*, so the
key-padding mask is passed as ``mask == 0``, and the causal mask as the
strict upper triangle. ``need_weights=False``: the fused path, no head-averaged
weights. A ``TNC`` query runs sequence-first (``batch_first=False``) with no transpose.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import MultiHeadAttention
from ..lowering.code import Value, call

# KerasAttention's nn.Linear submodules and the IR weights they hold
_CUSTOM = (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value"), ("out_proj", "attention_output"))


def _matrix(kernel: np.ndarray) -> np.ndarray:
    """Keras projection kernel (E_in, H, d) -> torch Linear weight (H*d, E_in)."""
    return kernel.reshape(kernel.shape[0], -1).T


def _out_matrix(kernel: np.ndarray) -> np.ndarray:
    """Keras output kernel (H, dv, E_out) -> torch Linear weight (E_out, H*dv)."""
    return kernel.reshape(-1, kernel.shape[-1]).T


def _native(layer: MultiHeadAttention, e: int, e_out: int) -> bool:
    """Whether nn.MultiheadAttention computes this layer: its heads split the query's features, values
    use the same head size, and out_proj maps back to the query's features."""
    return layer.num_heads * layer.key_dim == e and layer.head_value_dim == layer.key_dim and e_out == e


def _native_module(layer, w: dict, e: int, ek: int, ev: int, batch_first: bool) -> tuple[str, dict]:
    """(nn.MultiheadAttention constructor, its parameters from the Keras-layout weights)."""
    kwargs = {"dropout": layer.dropout} if layer.dropout else {}
    if not layer.use_bias:
        kwargs["bias"] = False
    if (ek, ev) != (e, e):
        kwargs.update(kdim=ek, vdim=ev)
    if batch_first:
        kwargs["batch_first"] = True
    projections = [_matrix(w[f"{part}/kernel"]) for part in ("query", "key", "value")]
    if (ek, ev) == (e, e):  # torch packs the three projections into one matrix [q; k; v]
        params = {"in_proj_weight": np.concatenate(projections, 0)}
    else:
        params = dict(zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), projections))
    params["out_proj.weight"] = _out_matrix(w["attention_output/kernel"])
    if layer.use_bias:
        params["in_proj_bias"] = np.concatenate([w[f"{p}/bias"].reshape(-1) for p in ("query", "key", "value")])
        params["out_proj.bias"] = w["attention_output/bias"]
    return call("nn.MultiheadAttention", e, layer.num_heads, **kwargs), params


def _custom_module(layer, w: dict, e: int, ek: int, ev: int, e_out: int, batch_first: bool) -> tuple[str, dict]:
    """(KerasAttention constructor, its parameters) for what nn.MultiheadAttention cannot express."""
    ctor = call(
        "KerasAttention",
        e,
        ek,
        ev,
        layer.num_heads,
        layer.key_dim,
        layer.head_value_dim,
        e_out,
        bias=layer.use_bias,
        batch_first=batch_first,
        dropout=layer.dropout,
    )
    params = {f"{short}.weight": _matrix(w[f"{part}/kernel"]) for short, part in _CUSTOM[:3]}
    params["out_proj.weight"] = _out_matrix(w["attention_output/kernel"])
    if layer.use_bias:
        params.update({f"{short}.bias": w[f"{part}/bias"].reshape(-1) for short, part in _CUSTOM})
    return ctor, params


def lower_mha(ctx, node, inputs):
    layer: MultiHeadAttention = node.layer
    query_spec, value_spec, key_spec, mask_spec = layer.split([t.spec for t in node.inputs])
    inputs = [ctx.plain(v) for v in inputs]
    mask = inputs.pop() if mask_spec is not None else None
    query = ctx.require(inputs[0], inputs[0].phys if inputs[0].phys in ("NTC", "TNC") else "NTC")
    value = ctx.require(inputs[1], query.phys)  # one batch_first flag for all three
    key = ctx.require(inputs[2], query.phys) if len(inputs) == 3 else value
    batch_first = query.phys == "NTC"
    e, ek, ev, e_out = query_spec.dim("C"), key_spec.dim("C"), value_spec.dim("C"), node.spec.dim("C")
    w = ctx.weights(node)
    if _native(layer, e, e_out):
        ctor, params = _native_module(layer, w, e, ek, ev, batch_first)
    else:
        ctx.program.helpers.add("KerasAttention")
        ctor, params = _custom_module(layer, w, e, ek, ev, e_out, batch_first)
    mod = ctx.module(node.name, ctor, params)
    args = [query.var, key.var, value.var]
    if mask is not None:
        mask = ctx.require(mask, "NT")
        args.append(f"key_padding_mask=({mask.var} == 0)")  # Keras: 1 = attend; torch: True = blocked
    if layer.use_causal_mask:  # blocked: keys after the query step (built at run time: lengths may be symbolic)
        t = query.pos("T")
        causal = ctx.let(
            f"{node.name}_causal",
            f"torch.ones({query.var}.shape[{t}], {key.var}.shape[{t}], "
            f"dtype=torch.bool, device={query.var}.device).triu(1)",
            node.spec,
            query.phys,
        )
        args.append(f"attn_mask={causal.var}")
    var = ctx.fresh(node.name)
    ctx.program.body.append(f"{var}, _ = {mod}({', '.join(args)}, need_weights=False)")
    return Value(var, node.spec, query.phys)


TABLE = {MultiHeadAttention: lower_mha}

#: weights back (backends/lowering/weights_back.py): every parameter is a copy of an IR weight
BACK = {MultiHeadAttention: None}
