"""``ATEN_GATHER``: ``torch.gather`` (``aten.gather``) with run-time indices -> the op tier's ``Gather``.

``x.gather(dim, index)`` reads ``x[n, ..., index[n, ..., l, ...], ...]``: an
index of ``x``'s rank. The IR's ``Gather`` takes one index list per sample,
``(N, L)``, the same for every entry of the other axes; that is what an
index built as ``idx[:, None, :, None].expand_as(...)`` (or of size 1 on the
other axes, where ``x`` is too) holds. Such an index converts: the list is
read from before the ``expand`` (or the size-1 axes dropped by a ``View``). An
index that differs along another axis, or is computed without the inputs, is
refused with that reason. Indices must be in range and not negative
(``Gather``'s rule; torch raises on out-of-range ones too).
"""

from __future__ import annotations

from typing import Callable

import torch

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from .aten_values import Held, letters, put, torch_shape, view

aten = torch.ops.aten


def _list_node(ctx, node, dim: int, rank: int, batch: int):
    """The node holding the per-sample list: ``node`` itself, or what an ``expand`` grew; None if neither."""
    for candidate in (node, node.args[0] if node.target in (aten.expand.default, aten.expand_as.default) else None):
        if candidate is None:
            continue
        shape = tuple(getattr(ctx.run1.get(candidate), "shape", ()))
        if len(shape) == rank and all(i in (dim, batch) or s == 1 for i, s in enumerate(shape)):
            return candidate
    return None


def gather(ctx, call):
    value, index = call.arg(0, "self"), call.arg(2, "index")
    if isinstance(value, Held) or isinstance(index, Held):
        raise UnsupportedError("a gather from or at a tensor computed without the inputs is not supported")
    x, xn = ctx.tensor(value), call.node.args[0]
    lt = letters(ctx, xn, x)
    rank = len(lt)
    dim = call.arg(1, "dim") % rank
    if lt[dim] == "N" or "N" not in lt:
        raise UnsupportedError("a gather along the batch axis, or of a tensor without one, is not supported")
    batch = lt.index("N")
    source = _list_node(ctx, call.node.args[2], dim, rank, batch)
    if source is None or source not in ctx.values or isinstance(ctx.values[source], Held):
        raise UnsupportedError(
            "the index differs along an axis other than the gathered one (the IR's Gather takes one list per sample)"
        )
    idx = ctx.tensor(ctx.values[source])
    il = letters(ctx, source, idx)
    if il.index("N") != batch or batch != 0:
        raise UnsupportedError("a gather needs the batch axis first in both the tensor and the index")
    length = torch_shape(ctx, source)[dim]
    if length is None:
        raise UnsupportedError("an index whose length follows the sequence length is not supported")
    # (N, L), the other sizes all 1; L is the gathered axis's own letter, which the result keeps
    listed = view(ctx, call, idx, (length,), "N" + lt[dim], "list")
    return put(ctx, call, O.Gather(lt[dim]), [x, listed])


#: ATen op -> op-tier converter
ATEN_GATHER: dict[Callable, Callable] = {aten.gather.default: gather}
