"""What the op-tier entries (``tier_math.py``, ``tier_shape.py``, ``tier_reduce.py``) share.

ONNX reads axes by position; the IR's ops read them by letter. An imported
tensor is declared in ONNX's own axis order, so position ``i`` of an ONNX
tensor is letter ``x.layout[i]``, and position 0 is the batch axis ``N``
(the IR keeps it symbolic: no op acts across it). What is left to do here:

  * operands that are stored constants become numbers (``Binary(scalar=)``)
    or ``Learned`` tensors read through the other operand (the same for every
    sample: a stored tensor whose size along position 0 is not 1 has no IR form);
  * tensors that ONNX broadcasts by position but whose letters differ (two
    inputs declared with other default letters) are relabelled by a ``View`` to
    the same shape, which moves no data;
  * ``layer_or_op`` tries an entry that makes an idiomatic IR layer first and
    falls back to ops when that layer cannot say the op.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ....ir import ops as O
from ....ir.errors import IRError, UnsupportedError
from ....ir.layers import Identity, Layer
from .ctx import Converted, Ctx
from .graph import ZEROS

_NUMPY = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "bool": np.bool_}


def layer_or_op(layer_entry: Callable, op_entry: Callable) -> Callable:
    """An entry trying ``layer_entry`` (a layer keeps emitted code idiomatic), then ``op_entry``."""

    def convert(ctx: Ctx) -> Converted:
        mark = ctx.mark()
        try:
            layer, weights = layer_entry(ctx)
            out = ctx.call(layer, *ctx.inputs, weights=weights) if isinstance(layer, Layer) else layer
            for t, value in zip(out if isinstance(out, tuple) else (out,), ctx.op.outputs):
                ctx.importer.check_shape(t, value)
            return out, {}
        except (IRError, ValueError, TypeError, KeyError, IndexError):
            ctx.rollback(mark)  # no layer says this one: the ops do (or say why not)
            return op_entry(ctx)

    convert.__name__ = f"{layer_entry.__name__}_or_{op_entry.__name__}"
    return convert


def stored(ctx: Ctx, index: int, what: str) -> np.ndarray | None:
    """Input ``index`` as a stored array (None when absent); refused when computed or run-time zeros."""
    value = ctx.const(index, what)
    if isinstance(value, str) or value is ZEROS:
        raise UnsupportedError(f"input {index} ({what}) is zeros of a run-time shape; it must be a stored tensor")
    return value


def ints(ctx: Ctx, index: int, what: str) -> list[int] | None:
    value = stored(ctx, index, what)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def operand(ctx: Ctx, index: int, like):
    """Input ``index`` as an IR tensor lined up with ``like``, or a Python number for a one-entry constant."""
    x = ctx.value(index)
    if x is not None:
        return x
    value = stored(ctx, index, f"operand {index}")
    if value.size == 1 and value.ndim <= like.spec.rank:
        return value.reshape(()).item()
    return constant(ctx, value, like)


def constant(ctx: Ctx, value: np.ndarray, like):
    """A stored array broadcast against ``like`` by position, as a ``Learned`` tensor (cast to its dtype)."""
    rank = like.spec.rank
    if value.ndim > rank:
        raise UnsupportedError(
            f"a stored operand of rank {value.ndim} would broadcast a rank-{rank} tensor up, over its batch axis"
        )
    value = value.reshape((1,) * (rank - value.ndim) + value.shape)
    batch = like.layout.index("N")
    if value.shape[batch] != 1:
        raise UnsupportedError(
            f"a stored operand {value.shape} varies along position {batch}, which the IR makes the batch axis"
        )
    rest = [i for i in range(rank) if i != batch]
    layout = "N" + "".join(like.layout[i] for i in rest)
    shape = tuple(value.shape[i] for i in rest)
    if not shape:
        return value.reshape(()).item()
    learned = ctx.call(O.Learned(shape, layout), like, weights={"value": value.reshape(shape).astype(np.float32)})
    if like.dtype != "float32" or value.dtype.kind != "f":
        learned = ctx.call(O.Cast(like.dtype if value.dtype.kind != "b" else "bool"), learned)
    return learned


def relabel(ctx: Ctx, x, layout: str):
    """``x`` with its axes renamed ``layout`` position by position (a ``View`` to the same shape; no data moves)."""
    if x.layout == layout:
        return x
    if x.layout[0] != "N" or layout[0] != "N":
        raise UnsupportedError(
            f"lines up {x.layout!r} with {layout!r} by position; the IR renames axes only with the batch axis first"
        )
    sizes = list(x.spec.shape[1:])
    if sizes.count(None) > 1:
        raise UnsupportedError(f"renames the axes of {x.layout!r}, which has more than one unknown size")
    return ctx.call(O.View(tuple(-1 if s is None else s for s in sizes), layout), x)


def broadcast_operands(ctx: Ctx, operands: list) -> list:
    """Tensors (and numbers) of an element-wise op, the tensors lined up by position as ONNX broadcasts them."""
    tensors = [t for t in operands if not isinstance(t, (int, float, bool))]
    if not tensors:
        raise UnsupportedError("every operand is a constant")
    widest = max(tensors, key=lambda t: t.spec.rank)
    out = []
    for t in operands:
        if isinstance(t, (int, float, bool)) or t is widest:
            out.append(t)
            continue
        if t.spec.rank < widest.spec.rank:
            raise UnsupportedError(
                f"broadcasts a rank-{t.spec.rank} input against a rank-{widest.spec.rank} one: the first axis of "
                "each computed tensor is its batch axis, so the lower rank cannot line up by position"
            )
        out.append(relabel(ctx, t, widest.layout))
    return out


def unchanged(ctx: Ctx, x):
    """``x`` as it is, as a node of its own: an Identity layer for floats, a Cast to its own dtype otherwise."""
    return ctx.call(Identity() if x.dtype == "float32" else O.Cast(x.dtype), x)


def as_dtype(ctx: Ctx, x, dtype: str):
    return x if x.dtype == dtype else ctx.call(O.Cast(dtype), x)


def position(ctx: Ctx, axis: int, x) -> str:
    """The letter at ONNX position ``axis`` of ``x`` (negative counts from the end); never the batch axis."""
    return ctx.letter(int(axis), x)


def numpy_dtype(dtype: str):
    return _NUMPY[dtype]
