"""``ATEN_TABLE`` (joined into ``tables.py``'s ``FUNCTION_TABLE``): ATen op -> the converter of its torch function.

``torch.export`` records what runs between module calls as ATen ops
(``aten.add.Tensor``, ``aten.view.default``, ``aten.select.int``). Most take
their arguments in the order of the torch function they come from, so they
reuse that function's converter (``ops.py``, ``arith.py``, ``slicing.py`` ...);
the few whose form differs get a small adapter here (``select``/``slice`` read
as an index, sizes read from the example run). Keys are the op overloads
themselves (``torch.ops.aten.add.Tensor``), never names; an op without an entry
is refused by the importer with its name (``aten.cumsum.default``).

The op tier's converters (``aten_elementwise.py``, ``aten_shape.py``,
``aten_compute.py``) take what no layer expresses: where an op has both, the
layer converter runs first and the op converter only where it refuses the
node (``aten_values.prefer``), so ``nn``-style code still imports as layers
(``x * 0.5`` a ``Rescaling``, a global mean a ``GlobalAvgPool2D``) and the
rest (broadcasting with weights read in forward, integer arithmetic,
reductions over any axes, products of any rank) as ops.
"""

from __future__ import annotations

import math
import operator
from dataclasses import replace
from typing import Callable

import torch

from ....ir.errors import UnsupportedError
from ...tables import join_tables
from .arith import divide, matmul, negate
from .aten_compute import ATEN_COMPUTE, ATEN_COMPUTE_OPS
from .aten_elementwise import ATEN_ELEMENTWISE
from .aten_gather import ATEN_GATHER
from .aten_shape import ATEN_SHAPE
from .aten_values import prefer
from .attention import filled, triu
from .constants import expand
from .norm_act import clamp, f_hardtanh
from .ops import (
    CORE_FUNCTIONS,
    dims_of,
    dropout,
    flatten,
    getitem,
    passthrough,
    permute,
    reduce,
    reshape,
    size,
    transpose,
)
from .slicing import chunk, narrow, split
from .spatial import aten_upsample, f_pad

aten = torch.ops.aten
_F = CORE_FUNCTIONS
_NO_END = 2**62  # export writes an open slice end as sys.maxsize


def _indexed(ctx, call, value, index):
    """``value[index]`` as fx records it (``getitem``), so a recurrent layer's output stays lazy (``ops.py``)."""
    return getitem(ctx, replace(call, args=(value, index), kwargs={}))


def _select(ctx, call):
    value, dim, index = call.arg(0, "self"), call.arg(1, "dim"), call.arg(2, "index")
    rank = len(ctx.run1[call.node.args[0]].shape)
    return _indexed(ctx, call, value, (slice(None),) * (dim % rank) + (index,))


def _slice(ctx, call):
    value = call.arg(0, "self")
    rank = len(ctx.run1[call.node.args[0]].shape)
    dim = call.arg(1, "dim", 0) % rank
    start, end, step = call.arg(2, "start"), call.arg(3, "end"), call.arg(4, "step", 1)
    end = None if end is not None and end >= _NO_END else end
    if start in (None, 0) and end is None and step == 1:
        return value  # the whole axis: export's no-op ``x[:, ...]``
    return _indexed(ctx, call, value, (slice(None),) * dim + (slice(start, end, step),))


def _sym_value(ctx, call):
    return ctx.consts[call.node]  # size arithmetic (``s0 // 2``): the number from the example run


def _permute(ctx, call):
    if dims_of(call) and isinstance(dims_of(call)[0], int):
        return permute(ctx, call)
    raise TypeError(f"unexpected permute arguments {call.args[1:]}")


#: ATen op -> layer converter (the converter of the torch function the op comes from, where the arguments agree)
ATEN_LAYERS: dict[Callable, Callable] = {
    aten.add.Tensor: _F[torch.add],
    aten.sub.Tensor: _F[torch.sub],
    aten.mul.Tensor: _F[torch.mul],
    aten.div.Tensor: divide,
    aten.neg.default: negate,
    aten.matmul.default: matmul,
    aten.bmm.default: matmul,
    aten.maximum.default: _F[torch.maximum],
    aten.relu.default: _F[torch.relu],
    aten.sigmoid.default: _F[torch.sigmoid],
    aten.tanh.default: _F[torch.tanh],
    aten.gelu.default: _F[torch.nn.functional.gelu],
    aten.silu.default: _F[torch.nn.functional.silu],
    aten.elu.default: _F[torch.nn.functional.elu],
    aten.selu.default: _F[torch.nn.functional.selu],
    aten.leaky_relu.default: _F[torch.nn.functional.leaky_relu],
    aten.softplus.default: _F[torch.nn.functional.softplus],
    aten.hardsigmoid.default: _F[torch.nn.functional.hardsigmoid],
    aten.hardswish.default: _F[torch.nn.functional.hardswish],
    aten.hardtanh.default: f_hardtanh,
    aten.clamp.default: clamp,
    aten.softmax.int: _F[torch.softmax],
    aten.log_softmax.int: _F[torch.log_softmax],
    aten.dropout.default: dropout,
    aten.cat.default: _F[torch.cat],
    aten.flatten.using_ints: flatten,
    aten.view.default: reshape,
    aten.reshape.default: reshape,
    aten._unsafe_view.default: reshape,
    aten.squeeze.dim: reshape,
    aten.squeeze.dims: reshape,
    aten.squeeze.default: reshape,
    aten.unsqueeze.default: reshape,
    aten.permute.default: _permute,
    aten.transpose.int: transpose,
    aten.swapaxes.default: transpose,  # (self, axis0, axis1): transpose's arguments by position
    aten.contiguous.default: passthrough,
    aten.clone.default: passthrough,
    aten.alias.default: passthrough,
    aten.detach.default: passthrough,
    aten.mean.dim: reduce(True),
    aten.amax.default: reduce(False),
    aten.max_pool1d.default: _F[torch.nn.functional.max_pool1d],
    aten.max_pool2d.default: _F[torch.nn.functional.max_pool2d],
    aten.avg_pool1d.default: _F[torch.nn.functional.avg_pool1d],
    aten.avg_pool2d.default: _F[torch.nn.functional.avg_pool2d],
    aten.adaptive_avg_pool1d.default: _F[torch.nn.functional.adaptive_avg_pool1d],
    aten.adaptive_avg_pool2d.default: _F[torch.nn.functional.adaptive_avg_pool2d],
    aten.select.int: _select,
    aten.slice.Tensor: _slice,
    aten.split.Tensor: split,
    aten.split_with_sizes.default: split,
    aten.chunk.default: chunk,
    aten.narrow.default: narrow,
    aten.expand.default: expand,
    aten.full.default: filled(1, "fill_value"),
    aten.ones.default: filled(None, "", 1),
    aten.triu.default: triu,
    aten.pad.default: f_pad,
    aten.upsample_bilinear2d.vec: aten_upsample("bilinear"),
    aten.upsample_nearest1d.vec: aten_upsample("nearest"),
    aten.upsample_nearest2d.vec: aten_upsample("nearest"),
    aten._upsample_nearest_exact1d.vec: aten_upsample("nearest-exact"),
    aten._upsample_nearest_exact2d.vec: aten_upsample("nearest-exact"),
    aten.sym_size.int: size,
    operator.floordiv: _sym_value,
    math.ceil: _sym_value,
    math.floor: _sym_value,
    operator.mod: _sym_value,
    torch.sym_float: _sym_value,
    torch.sym_int: _sym_value,
}

#: ATen op -> op-tier converter (the family files joined; each key once)
ATEN_OPS: dict[Callable, Callable] = join_tables(
    ATEN_ELEMENTWISE, ATEN_SHAPE, ATEN_COMPUTE, ATEN_GATHER, what="torch ATen ops"
)


#: activations: element-wise functions of one tensor (an ``Activation`` over windows too, as ``nn.SiLU`` reads)
_ACTIVATIONS = frozenset(
    (aten.relu.default, aten.sigmoid.default, aten.tanh.default, aten.gelu.default, aten.silu.default)
    + (aten.elu.default, aten.selu.default, aten.leaky_relu.default, aten.softplus.default)
    + (aten.hardsigmoid.default, aten.hardswish.default, aten.hardtanh.default)
)


def _joined() -> dict[Callable, Callable]:
    table = {}
    for op, layer in ATEN_LAYERS.items():
        table[op] = prefer(layer, ATEN_OPS[op], meets=op not in _ACTIVATIONS) if op in ATEN_OPS else layer
    for op, convert in ATEN_OPS.items():
        if op not in table:
            table[op] = prefer(convert, ATEN_COMPUTE_OPS[op], held_to_op=False) if op in ATEN_COMPUTE_OPS else convert
    return table


def _in_place(convert: Callable) -> Callable:
    """The converter of ``aten.add_`` from ``aten.add``'s: the same value, when nothing reads the input after it
    (the graph is not functionalised: a later read would see the changed tensor, which the IR does not hold)."""

    def in_place(ctx, call):
        target = call.node.args[0]
        order = {n: i for i, n in enumerate(call.node.graph.nodes)}
        if any(order[u] > order[call.node] for u in target.users if u is not call.node):
            raise UnsupportedError(f"changes {target.name} in place, which is read again afterwards")
        return convert(ctx, call)

    return in_place


def _with_in_place(table: dict[Callable, Callable]) -> dict[Callable, Callable]:
    """``table`` and, for each op with an in-place twin (``aten.mul.Tensor`` -> ``aten.mul_.Tensor``), that twin."""
    out = dict(table)
    for op, convert in table.items():
        packet = getattr(aten, f"{getattr(op, '_schema', None) and op._schema.name.split('::')[1]}_", None)
        twin = getattr(packet, getattr(op, "_overloadname", ""), None) if packet is not None else None
        if twin is not None and twin not in out:
            out[twin] = _in_place(convert)
    return out


#: ATen op -> converter: the layer converter, falling back to the op tier's where both exist (``prefer``)
ATEN_TABLE: dict[Callable, Callable] = _with_in_place(_joined())
