"""Keras importer entries for reductions, softmax, matrix products and attention: ``Reduce``, ``Softmax``,
``MatMul``, ``ScaledDotProductAttention``, ``Normalize`` (see ``ops_helpers.py``)."""

from __future__ import annotations

import keras
from keras.src.ops import nn as knn
from keras.src.ops import numpy as knp

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from .ops_helpers import Composite, aligned, axes_of, number, option


def reduce(fn: str):
    def convert(node, inputs):
        if option(node, "initial") is not None:
            raise UnsupportedError("initial= is not supported")
        axes = axes_of(option(node, "axis"), inputs[0])
        return O.Reduce(fn, axes, keepdims=bool(option(node, "keepdims", False))), {}

    return convert


def softmax(log: bool):
    def convert(node, inputs):
        axis = axes_of(option(node, "axis", -1), inputs[0])
        if len(axis) != 1:
            raise UnsupportedError(f"softmax over several axes {axis!r} is not supported (one axis)")
        return O.Softmax(axis, log=log), {}

    return convert


def matmul(node, inputs):
    a, b = inputs
    if a.spec.rank != b.spec.rank or a.spec.rank < 3:
        raise UnsupportedError(
            f"operands of ranks {a.spec.rank} and {b.spec.rank}: the IR's MatMul takes two of one rank, at least 3"
        )
    if a.layout[:-2] == b.layout[:-2]:
        return O.MatMul(), {}

    def build(tensors, name, fresh):
        return O.MatMul(name=name)(*aligned(list(tensors), fresh, keep=2)), {}

    return Composite(build)


def normalize(rms: bool):
    """``keras.ops.layer_normalization`` / ``rms_normalization`` without scale or offset."""

    def convert(node, inputs):
        if len(inputs) != 1:
            raise UnsupportedError("with gamma/beta/scale tensors is not supported (multiply them in separately)")
        if any(v is not None for v in node.arguments.args[1:]) or option(node, "scale") is not None:
            raise UnsupportedError("gamma, beta and scale are not supported (multiply or add them separately)")
        if option(node, "rms_scaling", False):
            raise UnsupportedError("rms_scaling=True is not supported (use keras.ops.rms_normalization)")
        epsilon = option(node, "epsilon")
        epsilon = keras.config.epsilon() if epsilon is None else float(epsilon)
        return O.Normalize(axes_of(option(node, "axis", -1), inputs[0]), rms=rms, epsilon=epsilon), {}

    return convert


def attention(node, inputs):
    """``keras.ops.dot_product_attention``: q, k, v ``(batch, length, heads, features)``, heads moved
    before the length for the IR's op and back after."""
    args = node.arguments
    extra = [k for k in ("bias", "mask") if args.kwargs.get(k) is not None] + (
        ["bias/mask"] if len(args.args) > 3 else []
    )
    if extra or len(inputs) != 3:
        raise UnsupportedError(f"{', '.join(extra) or 'a mask'} is not supported (q, k and v only)")
    if args.kwargs.get("attn_logits_soft_cap") is not None:
        raise UnsupportedError("attn_logits_soft_cap is not supported")
    scale = number(args.kwargs.get("scale"), "scale") if args.kwargs.get("scale") is not None else None
    causal = bool(option(node, "is_causal", False))
    if any(x.spec.rank != 4 for x in inputs):
        raise UnsupportedError("q, k and v must each have 4 axes (batch, length, heads, features)")

    def build(tensors, name, fresh):
        q, k, v = tensors
        k, v = (
            O.Transpose(t.layout[0] + t.layout[2] + t.layout[1] + t.layout[3], name=fresh(f"_{w}"))(t)
            for w, t in (("k", k), ("v", v))
        )
        q = O.Transpose(q.layout[0] + q.layout[2] + q.layout[1] + q.layout[3], name=fresh("_q"))(q)
        k, v = aligned([q, k, v], fresh, keep=2)[1:]
        out = O.ScaledDotProductAttention(causal=causal, scale=scale, name=fresh("_heads"))(q, k, v)
        lay = out.layout
        return O.Transpose(lay[0] + lay[2] + lay[1] + lay[3], name=name)(out), {}

    return Composite(build)


TABLE = {
    knp.Mean: reduce("mean"),
    knp.Sum: reduce("sum"),
    knp.Max: reduce("max"),
    knp.Amax: reduce("max"),
    knp.Min: reduce("min"),
    knp.Amin: reduce("min"),
    knp.Var: reduce("var"),
    knn.Softmax: softmax(False),
    knn.LogSoftmax: softmax(True),
    knp.Matmul: matmul,
    knn.LayerNorm: normalize(False),
    knn.RMSNorm: normalize(True),
    knn.DotProductAttention: attention,
}
