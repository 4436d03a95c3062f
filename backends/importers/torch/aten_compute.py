"""``ATEN_COMPUTE``: reductions, softmax, products, normalisations, attention and ``arange`` -> the op tier,
and functional calls with weights read in ``forward`` -> the IR layer they are.

* ``mean`` / ``sum`` / ``amax`` / ``amin`` / ``var`` / ``std`` over dims -> ``Reduce`` (``std``: its ``sqrt``);
* ``linalg_vector_norm`` (``F.normalize``'s norm) -> ``Reduce`` of ``|x|`` (or ``x²``, ``|x|**p``) and its root;
* ``softmax`` / ``log_softmax`` -> ``Softmax``;
* ``matmul`` / ``bmm`` of any rank -> ``MatMul`` (both operands brought to one rank, the leading axes
  named alike; a weight read in ``forward`` becomes a ``Learned`` op);
* ``linear`` / ``addmm`` whose weight and bias are read in ``forward`` -> ``Dense``; ``layer_norm``
  likewise -> ``LayerNorm``, ``batch_norm`` (eval) -> ``BatchNorm``; with other operands ``layer_norm``
  and ``rms_norm`` are ``Normalize`` then ``Binary`` ops;
* ``scaled_dot_product_attention`` -> ``ScaledDotProductAttention``;
* ``arange`` over a size that follows an input axis -> ``Positions`` (a fixed one is folded to a value).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters
from .aten_values import Held, arg_node, cast, letters, operands, put, rebatched, regrouped, torch_shape, view
from .modules import channels_last

aten = torch.ops.aten


def _input(ctx, call, i: int = 0, key: str = "self", dtype: str | None = None):
    """(IR tensor cast to ``dtype``, its torch letters) of argument ``i``."""
    value = call.arg(i, key)
    x = ctx.tensor(value)
    lt = x.layout[1:] if isinstance(value, Held) else letters(ctx, call.node.args[i], x)
    return (cast(ctx, call, x, dtype) if dtype else x), lt


def _axes(lt: str, dims) -> str:
    dims = [dims] if isinstance(dims, int) else list(range(len(lt))) if not dims else list(dims)
    out = "".join(lt[d] for d in dims)
    if "N" in out:
        raise UnsupportedError("a reduction over the batch axis is not supported (ops act on each sample alone)")
    return out


def reduction(fn: str) -> Callable:
    def convert(ctx, call):
        work = "float32" if fn in ("mean", "var") else call.info.dtype
        x, lt = _input(ctx, call, dtype=work)
        if call.kwargs.get("dtype") is not None and fn != "sum":
            raise UnsupportedError("dtype= is not supported")
        dims = call.arg(1, "dim")
        keep = bool(call.arg(2, "keepdim", False))
        if fn in ("var", "std"):
            correction = call.kwargs.get("correction")
            correction = 1 if correction is None else int(correction)
            keep = bool(call.kwargs.get("keepdim", keep if call.node.target is not aten.var.correction else False))
            axes = _axes(lt, dims)
            out = put(ctx, call, O.Reduce("var", axes, keep, correction), [x], last=fn == "var")
            return out if fn == "var" else put(ctx, call, O.Unary("sqrt"), [out])
        return put(ctx, call, O.Reduce(fn, _axes(lt, dims), keep), [x])

    convert.__name__ = f"reduce_{fn}"
    return convert


def vector_norm(ctx, call):
    """``linalg.vector_norm(x, ord, dim, keepdim)``: ord 2 is ``sqrt(sum(x²))``, 1 ``sum(|x|)``, ±inf the max /
    min of ``|x|``, any other p > 0 ``sum(|x|**p) ** (1/p)`` (0 and negative orders are refused)."""
    x, lt = _input(ctx, call, dtype="float32")
    if call.kwargs.get("dtype") is not None:
        raise UnsupportedError("dtype= is not supported")
    p = float(call.arg(1, "ord", 2))
    axes, keep = _axes(lt, call.arg(2, "dim")), bool(call.arg(3, "keepdim", False))
    if p == 2:
        squares = put(ctx, call, O.Unary("square"), [x], last=False)
        total = put(ctx, call, O.Reduce("sum", axes, keep), [squares], last=False)
        return put(ctx, call, O.Unary("sqrt"), [total])
    if not (p > 0 or p == -math.inf):
        raise UnsupportedError(f"a vector norm of order {p:g} is not supported (only orders > 0 and ±inf)")
    size = put(ctx, call, O.Unary("abs"), [x], last=False)
    if math.isinf(p):
        return put(ctx, call, O.Reduce("max" if p > 0 else "min", axes, keep), [size])
    if p == 1:
        return put(ctx, call, O.Reduce("sum", axes, keep), [size])
    powers = put(ctx, call, O.Binary("pow", scalar=p), [size], last=False)
    total = put(ctx, call, O.Reduce("sum", axes, keep), [powers], last=False)
    return put(ctx, call, O.Binary("pow", scalar=1 / p), [total])


def softmax(log: bool) -> Callable:
    def convert(ctx, call):
        x, lt = _input(ctx, call, dtype="float32")
        return put(ctx, call, O.Softmax(_axes(lt, call.arg(1, "dim")), log=log), [x])

    return convert


# -- products -----------------------------------------------------------------------------------------


def _operand(ctx, call, value, node, lead: str, rank: int, last: str):
    """``value`` as a rank-``rank`` matrix stack named ``lead`` + two letters (``last``: the columns' letter
    when it must be fresh); a weight read in forward becomes a ``Learned`` op."""
    shape = tuple(value.value.shape) if isinstance(value, Held) else torch_shape(ctx, node)
    if len(shape) < 2:
        raise UnsupportedError("a product with a vector (rank 1) is not supported")
    x = None if isinstance(value, Held) else ctx.tensor(value)
    lt = None if x is None else letters(ctx, node, x)
    if lt is not None and "N" in lt:
        if lt[0] != "N" or len(lt) != rank:
            raise UnsupportedError(f"a product operand {lt} needs the batch axis first, at the result's rank")
        rows = lt[-2] if lt[-2] not in lead else free_letters(lead + lt[-1] + last, 1)
        cols = next(a for a in (lt[-1], last, free_letters(lead + rows, 1)) if a not in lead + rows)
        want = lead + rows + cols
        if want != lt:
            x = view(ctx, call, x, shape[1:], want, "relabel")
        return x
    shape = (1,) * (rank - len(shape)) + shape
    if shape[0] != 1:
        raise UnsupportedError(f"an operand of shape {shape} computed without the inputs meets the batch axis")
    rows = free_letters(lead + last, 1)
    layout = lead + rows + last
    return value.learned(ctx, shape[1:], layout) if x is None else view(ctx, call, x, shape[1:], layout, "relabel")


def matmul(ctx, call):
    """``a @ b`` of any ranks >= 2: ``MatMul`` over operands brought to the result's rank, batch first."""
    a, b = call.arg(0, "self"), call.arg(1, "other" if "other" in call.kwargs else "mat2")
    na, nb = call.node.args[0], call.node.args[1]
    out = torch_shape(ctx, call.node)
    if ctx.n_pos(call.node) != 0:
        raise UnsupportedError("a product whose result has no batch axis first is not supported")
    rank = len(out)
    xa = None if isinstance(a, Held) else ctx.tensor(a)
    base = letters(ctx, na, xa) if xa is not None else None
    if base is None or len(base) != rank or base[0] != "N":
        raise UnsupportedError("a product needs its left operand batched, batch first, at the result's rank")
    lead = base[:-2]
    left = _operand(ctx, call, a, na, lead, rank, base[-1])
    right = _operand(ctx, call, b, nb, lead, rank, free_letters(base, 1))
    if right.layout[-2] != left.layout[-1]:
        pass  # the contracted letters may differ (MatMul pairs them by position)
    return put(ctx, call, O.MatMul(), [left, right])


def _weight(value, what: str) -> np.ndarray:
    if not isinstance(value, Held) or value.value.dtype != torch.float32:
        raise UnsupportedError(f"{what} is not a float32 weight read in forward")
    return value.value.cpu().numpy().astype(np.float32)


def linear(ctx, call):
    """``F.linear(x, w, b)`` with ``w`` (and ``b``) read in forward: a ``Dense`` layer over the last axis."""
    x = ctx.tensor(call.arg(0, "input"))
    kernel = _weight(call.arg(1, "weight"), "the weight").T
    bias = call.arg(2, "bias")
    weights = {"kernel": kernel}
    if bias is not None:
        weights["bias"] = _weight(bias, "the bias")
    x = channels_last(ctx, call, x)
    return ctx.add(call, L.Dense(kernel.shape[1], use_bias=bias is not None), [x], weights)


def addmm(ctx, call):
    """``bias + a @ w`` (a traced ``F.linear`` of a matrix): ``Dense`` when ``w`` and ``bias`` are weights."""
    x = ctx.tensor(call.arg(1, "mat1"))
    kernel = _weight(call.arg(2, "mat2"), "mat2")
    bias = _weight(call.arg(0, "self"), "the added term")
    if call.kwargs.get("beta", 1) != 1 or call.kwargs.get("alpha", 1) != 1 or bias.shape != (kernel.shape[1],):
        raise UnsupportedError("only bias + a @ w with a bias of the output's width is supported")
    x = channels_last(ctx, call, x)
    return ctx.add(call, L.Dense(kernel.shape[1]), [x], {"kernel": kernel, "bias": bias})


def linear_ops(ctx, call):
    """``x @ wᵀ + b`` in ops (``MatMul``, ``Binary``) where the weight is no weight read in forward."""
    x = call.arg(0, "input")
    w, b = call.arg(1, "weight"), call.arg(2, "bias")
    if isinstance(w, Held):
        w = Held(w.node, w.value.T)
    else:
        raise UnsupportedError("a linear with a computed weight is not supported")
    xa = ctx.tensor(x)
    base = letters(ctx, call.node.args[0], xa)
    if base[0] != "N":
        raise UnsupportedError("a linear needs the batch axis first")
    if len(base) == 2:
        raise UnsupportedError("a linear of a matrix with a computed operand is not supported")
    right = _operand(ctx, call, w, None, base[:-2], len(base), free_letters(base, 1))
    prod = put(ctx, call, O.MatMul(), [xa, right], last=b is None)
    if b is None:
        return prod
    _, bias = operands(ctx, call, [prod, b], [None, arg_node(call, 2, "bias")], "float32")
    return put(ctx, call, O.Binary("add"), [prod, bias])


# -- normalisation ------------------------------------------------------------------------------------


def layer_norm(ctx, call):
    """``F.layer_norm`` with weight and bias read in forward: the ``LayerNorm`` layer over the last axes."""
    x = ctx.tensor(call.arg(0, "input"))
    k = len(call.arg(1, "normalized_shape"))
    lt = letters(ctx, call.node.args[0], x)
    if len(lt) != x.spec.rank or "N" in lt[-k:]:
        raise UnsupportedError("normalized_shape reaches the batch axis")
    w, b = call.arg(2, "weight"), call.arg(3, "bias")
    weights = {}
    if w is not None:
        weights["gamma"] = _weight(w, "the weight")
    if b is not None:
        weights["beta"] = _weight(b, "the bias")
    layer = L.LayerNorm(axis=lt[-k:], epsilon=call.arg(4, "eps", 1e-5), center=b is not None, scale=w is not None)
    return ctx.add(call, layer, [x], weights)


def _normalize(ctx, call, k: int, rms: bool, eps, w, b):
    node = call.node.args[0]
    (x,) = operands(ctx, call, [call.arg(0, "input")], [node], "float32")
    lt = letters(ctx, node, x)
    axes = lt[-k:]
    if "N" in axes:
        raise UnsupportedError("normalized_shape reaches the batch axis")
    eps = torch.finfo(torch.float32).eps if eps is None else eps
    out = put(ctx, call, O.Normalize(axes, rms=rms, epsilon=eps), [x], last=w is None and b is None)
    for i, (v, fn) in enumerate(((w, "mul"), (b, "add"))):
        if v is None:
            continue
        _, t = operands(ctx, call, [out, v], [None, arg_node(call, 2 + i, ("weight", "bias")[i])], "float32")
        last = fn == "add" or b is None
        out = put(ctx, call, O.Binary(fn), [out, t], last=last)
    return out


def layer_norm_ops(ctx, call):
    k = len(call.arg(1, "normalized_shape"))
    return _normalize(ctx, call, k, False, call.arg(4, "eps", 1e-5), call.arg(2, "weight"), call.arg(3, "bias"))


def rms_norm(ctx, call):
    k = len(call.arg(1, "normalized_shape"))
    return _normalize(ctx, call, k, True, call.arg(3, "eps"), call.arg(2, "weight"), None)


def batch_norm(ctx, call):
    """``F.batch_norm`` in eval mode with weights read in forward: the ``BatchNorm`` layer on axis 1."""
    target = call.node.target
    if target is aten.batch_norm.default and call.arg(5, "training", False):
        raise UnsupportedError("batch_norm with training=True normalises with batch statistics")
    x = ctx.tensor(call.arg(0, "input"))
    w, b, mean, var = (call.arg(i, k) for i, k in ((1, "weight"), (2, "bias"), (3, "running_mean"), (4, "running_var")))
    eps = call.arg(7, "eps", 1e-5) if target is aten.batch_norm.default else call.arg(6, "eps", 1e-5)
    momentum = call.arg(6, "momentum", 0.1) if target is aten.batch_norm.default else call.arg(5, "momentum", 0.1)
    lt = letters(ctx, call.node.args[0], x)
    if lt[0] != "N" or len(lt) < 2:
        raise UnsupportedError(f"expects the batch axis first, got {lt}")
    weights = {"moving_mean": _weight(mean, "running_mean"), "moving_variance": _weight(var, "running_var")}
    if (w is None) != (b is None):
        raise UnsupportedError("a batch_norm with only one of weight and bias is not supported")
    if w is not None:
        weights.update(gamma=_weight(w, "the weight"), beta=_weight(b, "the bias"))
    layer = L.BatchNorm(axis=lt[1], momentum=1.0 - momentum, epsilon=eps, center=w is not None, scale=w is not None)
    out = ctx.add(call, layer, [x], weights)
    return (out, None, None) if target is not aten.batch_norm.default else out


# -- attention and positions --------------------------------------------------------------------------


def attention(ctx, call):
    """``F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)``."""
    if call.arg(4, "dropout_p", 0.0):
        raise UnsupportedError("dropout_p > 0 drops at inference too")
    if call.kwargs.get("enable_gqa"):
        pass  # grouped-query heads: the op serves each k/v head to A / G query heads
    q, k, v = (ctx.tensor(call.arg(i, key)) for i, key in enumerate(("query", "key", "value")))
    nodes = call.node.args[:3]
    lq, lk, lv = (letters(ctx, n, x) for n, x in zip(nodes, (q, k, v)))
    if any(len(lt) != 4 or lt[0] != "N" for lt in (lq, lk, lv)):
        raise UnsupportedError("expects q, k, v of rank 4, batch first (batch, heads, length, features)")
    heads, length = lq[1], lq[2]
    mask = call.arg(3, "attn_mask")
    # k and v named by q's heads and one length letter of their own: viewed so where the letters they arrive
    # with say otherwise (the keys' length is q's or the heads'; k and v lettered apart, as a same-shape reshape
    # reads them)
    keys = lk[2] if lk[2] not in ("N", heads, length) else free_letters(lq + lk + lv, 1)
    kl = "N" + heads + keys + (lk[3] if lk[3] not in ("N", heads, keys) else free_letters(lq + keys, 1))
    vl = "N" + heads + keys + (lv[3] if lv[3] not in ("N", heads, keys, lq[3]) else free_letters(lq + kl, 1))
    if mask is not None or keys != lk[2] or lk[1] != heads or lv[1:3] != heads + keys:
        k = view(ctx, call, k, torch_shape(ctx, nodes[1])[1:], kl, "keys")
        v = view(ctx, call, v, torch_shape(ctx, nodes[2])[1:], vl, "values")
    inputs = [q, k, v]
    if mask is not None:
        like = q if regrouped(ctx, nodes[0]) else None  # windows: the mask repeats over their batch
        inputs.append(_mask(ctx, call, mask, arg_node(call, 3, "attn_mask"), "N" + heads + length + keys, like))
    scale = call.kwargs.get("scale")
    op = O.ScaledDotProductAttention(causal=bool(call.arg(5, "is_causal", False)), scale=scale)
    return put(ctx, call, op, inputs)


def _mask(ctx, call, mask, node, layout: str, like=None):
    """The mask named by the scores' letters (torch broadcasts it against ``(N, heads, T, S)``); ``like``: the
    query where its batch was regrouped (windows), which a mask computed without the inputs repeats over."""
    shape = tuple(mask.value.shape) if isinstance(mask, Held) else torch_shape(ctx, node)
    shape = (1,) * (4 - len(shape)) + tuple(shape)
    if isinstance(mask, Held):
        if shape[0] != 1:
            raise UnsupportedError("a mask computed without the inputs must not have a batch size")
        return mask.learned(ctx, shape[1:], layout, like)
    x = ctx.tensor(mask)
    lt = letters(ctx, node, x)
    if like is not None and not regrouped(ctx, node):
        x = rebatched(ctx, x, like)
    if "N" in lt and (len(lt) != 4 or lt[0] != "N"):
        raise UnsupportedError("the mask's batch axis does not line up with the scores'")
    return view(ctx, call, x, shape[1:], layout, "mask")


def _fixed_axis(ctx, n) -> tuple | None:
    """(input, letter) of the sequence axis (not ``C``, in an input of rank 2 or 3) fixed at size ``n``, where it
    is the one axis of that size past the batch in every input, else None. ``torch.arange(x.shape[1])`` over such
    an axis reaches the exported graph as ``arange(n)`` (export specialises a length the module fixes elsewhere,
    as ``to_torch``'s reshapes of a fixed-length model do): the same numbers as the positions along it, and how
    the model said it."""
    found = [
        (x, a) for x in ctx.ir_inputs if x is not None for a, size in zip(x.layout, x.shape) if a != "N" and size == n
    ]
    if len(found) != 1 or found[0][1] == "C" or found[0][0].spec.rank > 3:
        return None
    return found[0]


def arange(ctx, call):
    """``torch.arange(n)`` with ``n`` an input's size: ``Positions`` along that axis (batchless)."""
    target = call.node.target
    args = list(call.node.args)
    end = args[0] if target is aten.arange.default else args[1] if len(args) > 1 else None
    start = 0 if target is aten.arange.default else call.arg(0, "start")
    step = call.arg(2, "step", 1) if target is aten.arange.start_step else 1
    if not isinstance(end, torch.fx.Node):  # fixed: the positions along the one input axis of that size, else a value
        axis = _fixed_axis(ctx, end) if start == 0 and step == 1 and isinstance(end, int) else None
        if axis is None:
            return Held(call.node, target(*call.args, **call.kwargs))
        x, letter = axis
        return put(ctx, call, O.Positions(letter, free_letters("N" + letter, 1), call.info.dtype), [x])
    if start != 0 or step != 1 or end.target is not aten.sym_size.int:
        raise UnsupportedError("only arange(n) over an input's size is supported (a fixed one is a constant)")
    source, dim = end.args[0], end.args[1]
    x = ctx.tensor(ctx.values[source])
    axis = letters(ctx, source, x)[dim]
    if axis == "N":
        raise UnsupportedError("arange over the batch size is not supported")
    dtype = call.info.dtype
    return put(ctx, call, O.Positions(axis, free_letters("N" + axis, 1), dtype), [x])


#: ATen op -> op-tier converter (reductions, products, normalisations, attention, positions)
ATEN_COMPUTE: dict[Callable, Callable] = {
    aten.mean.dim: reduction("mean"),
    aten.sum.dim_IntList: reduction("sum"),
    aten.amax.default: reduction("max"),
    aten.amin.default: reduction("min"),
    aten.var.correction: reduction("var"),
    aten.var.dim: reduction("var"),
    aten.std.correction: reduction("std"),
    aten.std.dim: reduction("std"),
    aten.linalg_vector_norm.default: vector_norm,
    aten.softmax.int: softmax(False),
    aten._softmax.default: softmax(False),
    aten.log_softmax.int: softmax(True),
    aten.matmul.default: matmul,
    aten.bmm.default: matmul,
    aten.mm.default: matmul,
    aten.linear.default: linear,
    aten.addmm.default: addmm,
    aten.layer_norm.default: layer_norm,
    aten.rms_norm.default: rms_norm,
    aten.batch_norm.default: batch_norm,
    aten._native_batch_norm_legit_no_training.default: batch_norm,
    aten.scaled_dot_product_attention.default: attention,
    aten.arange.default: arange,
    aten.arange.start: arange,
    aten.arange.start_step: arange,
}
#: second tries where the first entry refuses (weights that are computed, not read)
ATEN_COMPUTE_OPS = {aten.linear.default: linear_ops, aten.layer_norm.default: layer_norm_ops}
