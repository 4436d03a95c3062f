"""``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer`` and ``nn.TransformerEncoder`` -> IR.

* ``nn.MultiheadAttention`` is the IR's ``MultiHeadAttention`` with
  ``key_dim = embed_dim // num_heads`` (the inverse of
  ``backends/torch/attention.py``): ``in_proj_weight`` [q; k; v] (or
  ``q/k/v_proj_weight`` with kdim/vdim) rows ``(H*d, E_in)`` -> kernels
  ``(E_in, H, d)``; ``out_proj.weight (E, H*d)`` -> ``(H, d, E)``. Torch calls
  (query, key, value), the IR [query, value, key]. The call returns
  ``(output, weights)``; only ``output`` (``[0]``) is supported.
* A layer is an IR sub-graph named after it: ``<name>_self_attn``
  (MultiHeadAttention), ``<name>_add1``, ``<name>_norm1`` (LayerNorm over C),
  ``<name>_linear1``, ``<name>_act`` (relu or gelu), ``<name>_linear2``,
  ``<name>_add2``, ``<name>_norm2``, in torch's order for ``norm_first``
  False (post-norm) or True (pre-norm). Dropout is the identity (eval mode).
  ``nn.TransformerEncoder`` is its layers (``<name>_layers_0`` ...) then its
  ``norm`` if any.

Masks. ``key_padding_mask`` / ``src_key_padding_mask`` must be a *bool* model
input, True = pad (torch's convention), shaped (N, S). The importer declares
that input as the IR's mask itself: float32, layout ``NT``, 1 = attend (the
Keras polarity, ``~pad``), so that Keras's MultiHeadAttention reads a model
input, as ``from_keras`` requires. Feed ``(~mask).float()`` to the converted
model. What ``to_torch`` writes for the IR's mask, ``mask == 0`` of a float
input read only as key-padding masks, is that mask again (nonzero = attend,
exact for any values: ``capture.zero_test_of_float_input``). A bool input
read by anything but attention, and other float (additive) key-padding
masks, are refused. The causal ``attn_mask`` / ``src_mask``
(``nn.Transformer.generate_square_subsequent_mask(T)`` or a bool
``triu(ones, 1)``, as a constant, a buffer, or built in ``forward``: see
:func:`triu`) becomes ``use_causal_mask=True``; other attention masks are
refused. With a padding mask, ``nn.TransformerEncoder``'s nested-tensor fast
path (``enable_nested_tensor=True``, eval, no grad, no ``mask``, padding at
the end of every row) outputs zeros at padded positions (before its final
``norm``): the import reproduces that (``<name>_zero_pads``, a Multiply by
the attend mask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .modules import array
from .recurrent import Lazy


class Causal(Lazy):
    """A constant causal attention mask (what ``attn_mask`` becomes: ``use_causal_mask=True``)."""

    why = "a causal mask is not a tensor the IR holds; pass it as attn_mask / src_mask"


CAUSAL = Causal()


def is_causal_constant(t) -> bool:
    """Whether ``t`` is a square mask blocking exactly the keys after each query (bool or -inf form)."""
    if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.shape[0] != t.shape[1]:
        return False
    upper = torch.ones(t.shape, dtype=torch.bool).triu(1)
    if t.dtype == torch.bool:
        return bool(torch.equal(t, upper))
    return bool(torch.isneginf(t[upper]).all() and (t[~upper] == 0).all())


@dataclass(eq=False)
class Filled(Lazy):
    """A constant tensor made in ``forward`` (``torch.full``, ``torch.ones``): only a causal mask's raw material."""

    shape: tuple
    value: object
    dtype: str
    why = (
        "a constant tensor has no IR form; it is read only as a causal mask (triu of -inf, or of bool True, diagonal=1)"
    )


def filled(value_at: int | None, value_key: str, value=None) -> Callable:
    """``torch.full(size, value)`` (value by position/keyword) or ``torch.ones(*size)`` (value 1)."""

    def convert(ctx, call):
        info = call.info
        fill = call.arg(value_at, value_key) if value_at is not None else value
        return Filled(tuple(getattr(info, "shape", ())), fill, getattr(info, "dtype", ""))

    return convert


def triu(ctx, call):
    """``triu(full(-inf), 1)`` / ``triu(ones(bool), 1)`` of a square: ``generate_square_subsequent_mask``'s mask."""
    x, diagonal = call.arg(0, "input"), call.arg(1, "diagonal", 0)
    if not isinstance(x, Filled):
        raise UnsupportedError("triu of a tensor has no IR layer (only a constant causal mask is read)")
    blocks = (x.dtype == "bool" and x.value is True or x.value == 1) or x.value == float("-inf")
    if diagonal != 1 or len(x.shape) != 2 or x.shape[0] != x.shape[1] or not blocks:
        raise UnsupportedError(
            f"triu(..., diagonal={diagonal}) of a {x.shape} {x.dtype} tensor filled with "
            f"{x.value!r} is not a causal mask"
        )
    if x.dtype != "bool" and x.value != float("-inf"):
        raise UnsupportedError(f"a float mask filled with {x.value!r} is added to the scores, not a causal mask")
    return CAUSAL


@dataclass(eq=False)
class AttentionOut(Lazy):
    """``(output, weights)`` of an attention call; ``[0]`` is the IR tensor."""

    output: object
    why = "nn.MultiheadAttention returns (output, weights); take [0]"

    def pick(self, index):
        if index == 0:
            return self.output
        if index == 1:
            return _WEIGHTS  # fine while unused (``out, _ = attn(...)``); refused where a tensor is needed
        raise UnsupportedError(f"index {index!r} of (output, weights)")


class _Weights(Lazy):
    why = "the attention weights ([1]) are not an IR output; use [0] (need_weights=False)"


_WEIGHTS = _Weights()


def _node_arg(call, i: int, key: str):
    return call.node.args[i] if i < len(call.node.args) else call.node.kwargs.get(key)


def attend_mask(ctx, call, i: int, key: str):
    """The IR mask (1 = attend) for a bool key-padding mask argument, or None."""
    value, node = call.arg(i, key), _node_arg(call, i, key)
    if value is None:
        return None
    if node not in ctx.bool_inputs:
        raise UnsupportedError(
            f"{key} must be a bool model input (True = pad); a computed or float (additive) mask has no IR form"
        )
    mask = ctx.tensor(value)  # declared 1 = attend by the importer
    if sorted(mask.layout) != ["N", "T"]:
        raise UnsupportedError(f"{key} must be (N, S), got layout {mask.layout}")
    return mask


def causal_flag(call, mask_i: int, mask_key: str) -> bool:
    """Whether the attention-mask argument is a constant causal mask (None: no mask; others refused)."""
    value = call.arg(mask_i, mask_key)
    if value is None:
        return False
    info = getattr(_node_arg(call, mask_i, mask_key), "name", mask_key)
    if value is not CAUSAL:
        raise UnsupportedError(
            f"{mask_key} ({info}) is not a constant causal mask; only causal attention masks are supported"
        )
    return True


def mha_layer(ctx, call, m: nn.MultiheadAttention, inputs, causal: bool, name: str):
    """The IR MultiHeadAttention for ``m`` applied to ``inputs`` ([query, value, key?, mask?])."""
    if m.bias_k is not None or m.add_zero_attn:
        raise UnsupportedError("add_bias_kv / add_zero_attn have no IR equivalent")
    e, h = m.embed_dim, m.num_heads
    d = e // h
    if m._qkv_same_embed_dim:
        mats = np.split(array(m.in_proj_weight), 3, axis=0)
    else:
        mats = [array(m.q_proj_weight), array(m.k_proj_weight), array(m.v_proj_weight)]
    parts = ("query", "key", "value")
    w = {f"{p}/kernel": mat.T.reshape(mat.shape[1], h, d) for p, mat in zip(parts, mats)}  # (H*d, Ein) -> (Ein, H, d)
    w["attention_output/kernel"] = array(m.out_proj.weight).T.reshape(h, d, e)
    use_bias = m.in_proj_bias is not None
    if use_bias:
        w.update({f"{p}/bias": b.reshape(h, d) for p, b in zip(parts, np.split(array(m.in_proj_bias), 3))})
        w["attention_output/bias"] = array(m.out_proj.bias)
    layer = L.MultiHeadAttention(num_heads=h, key_dim=d, dropout=m.dropout, use_bias=use_bias, use_causal_mask=causal)
    return ctx.add(call, layer, inputs, w, name=name, check=False)


def _sequence(ctx, call, x, batch_first: bool):
    if x.spec.rank != 3:
        raise UnsupportedError(f"expects a batched rank-3 sequence, got rank {x.spec.rank}")
    return ctx.relabel(x, "NTC" if batch_first else "TNC", call)


def multihead_attention(ctx, call):
    m = call.module
    q = _sequence(ctx, call, ctx.tensor(call.args[0]), m.batch_first)
    k = _sequence(ctx, call, ctx.tensor(call.arg(1, "key")), m.batch_first)
    v = _sequence(ctx, call, ctx.tensor(call.arg(2, "value")), m.batch_first)
    causal = causal_flag(call, 5, "attn_mask")
    mask = attend_mask(ctx, call, 3, "key_padding_mask")
    inputs = [q, v] + ([k] if k is not v else []) + ([mask] if mask is not None else [])
    return AttentionOut(mha_layer(ctx, call, m, inputs, causal, call.name))


def _norm(ctx, call, norm: nn.LayerNorm, x, name: str):
    weights = {}
    if norm.weight is not None:
        weights["gamma"] = array(norm.weight)
    if norm.bias is not None:
        weights["beta"] = array(norm.bias)
    layer = L.LayerNorm(axis="C", epsilon=norm.eps, center=norm.bias is not None, scale=norm.weight is not None)
    return ctx.add(call, layer, [x], weights, name=ctx.claim(name), check=False)


def _activation(layer: nn.TransformerEncoderLayer) -> str:
    act = layer.activation
    if act in (F.relu, torch.relu) or isinstance(act, nn.ReLU):
        return "relu"
    if act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        return "gelu"
    raise UnsupportedError(f"activation {act!r} is not supported (relu or gelu)")


def encoder_layer_graph(ctx, call, m: nn.TransformerEncoderLayer, x, mask, causal: bool, name: str):
    """One encoder layer as IR layers named ``<name>_...``; returns the output tensor."""

    def dense(lin, y, part):
        w = {"kernel": array(lin.weight).T}
        if lin.bias is not None:
            w["bias"] = array(lin.bias)
        return ctx.add(
            call,
            L.Dense(lin.out_features, use_bias=lin.bias is not None),
            [y],
            w,
            name=ctx.claim(f"{name}_{part}"),
            check=False,
        )

    def self_attention(y):
        return mha_layer(
            ctx,
            call,
            m.self_attn,
            [y, y] + ([mask] if mask is not None else []),
            causal,
            ctx.claim(f"{name}_self_attn"),
        )

    def feed_forward(y):
        h = ctx.add(
            call,
            L.Activation(_activation(m)),
            [dense(m.linear1, y, "linear1")],
            name=ctx.claim(f"{name}_act"),
            check=False,
        )
        return dense(m.linear2, h, "linear2")

    def residual(a, b, k):
        return ctx.add(call, L.Add(), [a, b], name=ctx.claim(f"{name}_add{k}"), check=False)

    if m.norm_first:
        x = residual(x, self_attention(_norm(ctx, call, m.norm1, x, f"{name}_norm1")), 1)
        return residual(x, feed_forward(_norm(ctx, call, m.norm2, x, f"{name}_norm2")), 2)
    x = _norm(ctx, call, m.norm1, residual(x, self_attention(x), 1), f"{name}_norm1")
    return _norm(ctx, call, m.norm2, residual(x, feed_forward(x), 2), f"{name}_norm2")


def _encoder_inputs(ctx, call, batch_first: bool):
    # forward(src, mask=None / src_mask=None, src_key_padding_mask=None, is_causal=...)
    x = _sequence(ctx, call, ctx.tensor(call.args[0]), batch_first)
    causal = causal_flag(call, 1, "src_mask" if isinstance(call.module, nn.TransformerEncoderLayer) else "mask")
    return x, attend_mask(ctx, call, 2, "src_key_padding_mask"), causal


def transformer_encoder_layer(ctx, call):
    m = call.module
    x, mask, causal = _encoder_inputs(ctx, call, m.self_attn.batch_first)
    out = encoder_layer_graph(ctx, call, m, x, mask, causal, call.name)
    ctx.check_shape(out, call.node)
    return out


def transformer_encoder(ctx, call):
    m = call.module
    x, mask, causal = _encoder_inputs(ctx, call, m.layers[0].self_attn.batch_first)
    for i, layer in enumerate(m.layers):
        x = encoder_layer_graph(ctx, call, layer, x, mask, causal, f"{call.name}_layers_{i}")
    # torch takes the fast path only with a padding mask and no attention mask, in eval mode with grad off,
    # when every row's padding is at its end: the usual inference, which the import describes
    if mask is not None and not causal and getattr(m, "use_nested_tensor", False):  # only set when batch_first
        # the nested-tensor fast path returns zeros at padded positions: multiply by the attend mask (N, T, 1)
        sizes = tuple(-1 if s is None else s for a, s in zip(mask.layout, mask.shape) if a != "N")  # -1: a length
        keep = ctx.add(
            call,
            L.Reshape(sizes + (1,), layout=mask.layout + "C"),
            [mask],
            name=ctx.claim(f"{call.name}_keep"),
            check=False,
        )
        x = ctx.add(call, L.Multiply(), [x, keep], name=ctx.claim(f"{call.name}_zero_pads"), check=False)
    if m.norm is not None:
        if not isinstance(m.norm, nn.LayerNorm):
            raise UnsupportedError(f"norm {type(m.norm).__name__} is not supported (LayerNorm or None)")
        x = _norm(ctx, call, m.norm, x, f"{call.name}_norm")
    ctx.check_shape(x, call.node)
    return x


ATTENTION_MODULES: dict[type, Callable] = {
    nn.MultiheadAttention: multihead_attention,
    nn.TransformerEncoderLayer: transformer_encoder_layer,
    nn.TransformerEncoder: transformer_encoder,
}
#: the causal mask built in forward: ``nn.Transformer.generate_square_subsequent_mask(x.size(1))`` traces to
#: ``torch.triu(torch.full((T, T), -inf), diagonal=1)``; ``torch.ones(T, T, dtype=torch.bool).triu(1)`` too
ATTENTION_FUNCTIONS: dict[Callable, Callable] = {
    torch.full: filled(1, "fill_value"),
    torch.ones: filled(None, "", 1),
    torch.triu: triu,
}
ATTENTION_METHODS: dict[Callable, Callable] = {torch.Tensor.triu: triu}
