"""ONNX ops that move entries as IR ops: Transpose, Reshape/Flatten/Squeeze/Unsqueeze (``View``), Concat,
Slice (``Narrow``, or ``Take`` for negative steps), Gather with stored
indices (``Take``), Expand, Tile and constant Pad.

Position 0 of every tensor is the batch axis (``tier.py``): an op that would
change it (concatenate along it, slice it, reshape it away) is refused with
that reason; one that leaves it whole converts.
"""

from __future__ import annotations

import numpy as np

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters
from .ctx import Converted, Ctx
from .match import axes_of, unsqueezed_sizes
from .tier import constant, ints, position, relabel, stored, unchanged


def transpose(ctx: Ctx) -> Converted:
    x = ctx.x()
    perm = ctx.attr("perm", list(range(x.spec.rank))[::-1])
    return ctx.call(O.Transpose("".join(x.layout[p] for p in perm)), x), {}


def view(ctx: Ctx, x, sizes: list[int], **across):
    """``x`` (batch first) reshaped to ``(batch, *sizes)``, letters from layout inference or free ones
    (``across``: ``merge=k`` / ``split=k``, samples regrouped)."""
    if x.layout[0] != "N":
        raise UnsupportedError(f"reshapes a {x.layout!r} tensor; the IR reshapes with the batch axis first")
    layout = ctx.importer.layouts.layout(ctx.op.outputs[0], len(sizes) + 1)
    if layout is None or layout[0] != "N":
        layout = "N" + free_letters("N", len(sizes))
    return ctx.call(O.View(tuple(sizes), layout, **across), x)


def _keeps_batch(ctx: Ctx, first: int) -> bool:
    static = (ctx.graph.shapes.get(ctx.op.inputs[0]) or (None,))[0]
    return first in (0, -1) or first == static


def reshape(ctx: Ctx) -> Converted:
    x = ctx.x()
    shape = ints(ctx, 1, "shape")
    if not shape:
        raise UnsupportedError("reshapes to a scalar; the IR keeps the batch axis")
    allowzero = ctx.attr("allowzero", 0)
    sizes = [x.spec.shape[i] if s == 0 and not allowzero and i < x.spec.rank else s for i, s in enumerate(shape)]
    if not _keeps_batch(ctx, shape[0]) or 0 in sizes[1:]:
        raise UnsupportedError(f"target shape {shape} moves entries across the batch axis (position 0)")
    rest = [-1 if s is None else s for s in sizes[1:]]
    if shape[0] == -1 and -1 in rest or rest.count(-1) > 1:
        raise UnsupportedError(f"target shape {shape} leaves more than one size to infer")
    if not rest:
        _refuse_rank_one(shape)
    across = _across_batch(x, shape[0], rest)
    return view(ctx, x, rest, **across), {}


def _across_batch(x, first: int, rest: list[int]) -> dict:
    """``merge=k`` / ``split=k`` when a reshape to ``(-1, *rest)`` regroups samples (a window partition and
    its reverse, as ``View`` writes them): every size known, the sample's entries ``k`` times fewer / more."""
    sample = x.spec.shape[1:]
    if first != -1 or -1 in rest or None in sample:
        return {}
    have, want = int(np.prod(sample)), int(np.prod(rest))
    if have > want and have % want == 0:
        return {"merge": have // want}
    if want > have and want % have == 0:
        return {"split": want // have}
    return {}


def _refuse_rank_one(shape):
    raise UnsupportedError(f"target shape {shape} keeps only the batch axis; the IR's reshapes keep another axis")


def flatten(ctx: Ctx) -> Converted:
    x = ctx.x()
    axis = ctx.attr("axis", 1)
    axis = axis + x.spec.rank if axis < 0 else axis
    if axis != 1:
        raise UnsupportedError(f"flattens at axis {axis}, which merges the batch axis (position 0) with others")
    return view(ctx, x, [-1]), {}


def squeeze(ctx: Ctx) -> Converted:
    x = ctx.x()
    axes = axes_of(ctx.graph, ctx.op)
    rank = x.spec.rank
    if axes is None:
        raise UnsupportedError("squeezes axes that are not given as constants")
    drop = {a % rank for a in axes} if axes else {i for i, s in enumerate(x.spec.shape) if s == 1}
    if 0 in drop or any(x.spec.shape[a] != 1 for a in drop):
        raise UnsupportedError(f"squeezes positions {sorted(drop)}: the batch axis or an axis not of size 1")
    kept = [i for i in range(1, rank) if i not in drop]
    if not kept:
        _refuse_rank_one([x.spec.shape[0]])
    sizes = [-1 if x.spec.shape[i] is None else x.spec.shape[i] for i in kept]
    if x.layout[0] == "N" and sizes.count(-1) <= 1:  # the kept letters stay
        return ctx.call(O.View(tuple(sizes), "N" + "".join(x.layout[i] for i in kept)), x), {}
    return view(ctx, x, sizes), {}


def unsqueeze(ctx: Ctx) -> Converted:
    x = ctx.x()
    return view(ctx, x, [-1 if s is None else s for s in unsqueezed_sizes(ctx, x)]), {}


def concat(ctx: Ctx) -> Converted:
    first = next((ctx.value(i) for i in range(len(ctx.op.inputs)) if ctx.value(i) is not None), None)
    if first is None:
        raise UnsupportedError("joins constants only")
    letter = position(ctx, ctx.attr("axis"), first)
    parts = []
    for i, name in enumerate(ctx.op.inputs):
        if not name:
            continue
        x = ctx.value(i)
        if x is None:
            x = constant(ctx, np.asarray(stored(ctx, i, f"operand {i}")), first)
        if x.spec.rank != first.spec.rank:
            raise UnsupportedError(f"joins tensors of ranks {x.spec.rank} and {first.spec.rank}")
        parts.append(relabel(ctx, x, first.layout) if x.layout != first.layout else x)
    return ctx.call(O.Concat(letter), *parts), {}


def _slice_args(ctx: Ctx, rank: int):
    """starts, ends, axes, steps: inputs (opset 10 on), else attributes (older files, and the Slices the
    Split rule writes)."""
    starts, ends, axes, steps = (
        ints(ctx, i, key) if i < len(ctx.op.inputs) and ctx.op.inputs[i] else ctx.attr(key)
        for i, key in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps"))
    )
    if starts is None or ends is None:
        raise UnsupportedError("slices without starts and ends")
    axes = list(range(len(starts))) if axes is None else [a % rank for a in axes]
    steps = [1] * len(axes) if steps is None else steps
    return list(starts), list(ends), axes, list(steps)


def _kept(start: int, end: int, step: int, size: int) -> range:
    """The entries ONNX's Slice keeps of an axis of ``size`` (bounds clamped as its spec says)."""
    if step == 0:
        raise UnsupportedError("a step of 0")
    start, end = start + size if start < 0 else start, end + size if end < 0 else end
    if step > 0:
        return range(min(max(start, 0), size), min(max(end, 0), size), step)
    return range(min(max(start, 0), size - 1), min(max(end, -1), size - 1), step)


def slice_op(ctx: Ctx) -> Converted:
    x = ctx.x()
    starts, ends, axes, steps = _slice_args(ctx, x.spec.rank)
    static = ctx.graph.shapes.get(ctx.op.inputs[0]) or (None,) * x.spec.rank
    out = x
    for a, start, end, step in zip(axes, starts, ends, steps):
        size = x.spec.shape[a] if x.layout[a] != "N" else static[a]
        if size is None:
            raise UnsupportedError(f"slices position {a}, whose size is not known")
        kept = _kept(start, end, step, size)
        if x.layout[a] == "N":
            if kept != range(size):
                raise UnsupportedError(f"slices position {a}, the batch axis, to {kept}")
            continue
        if not kept:
            raise UnsupportedError(f"slices position {a} from {start} to {end}: nothing is left")
        if kept == range(size):
            continue
        letter = x.layout[a]
        if step > 0:
            stop = None if kept.stop >= size else kept.stop
            out = ctx.call(O.Narrow(letter, kept.start, stop, step), out)
        else:
            out = ctx.call(O.Take(letter, tuple(kept)), out)
    return (out if out is not x else unchanged(ctx, x)), {}


def gather(ctx: Ctx) -> Converted:
    """Gather of a computed tensor at stored indices: ``Take`` (a scalar index drops the axis, indices of rank
    k > 1 become k axes)."""
    x = ctx.value(0)
    indices = ctx.graph.const(ctx.op.inputs[1])
    if x is None or not isinstance(indices, np.ndarray):
        raise UnsupportedError(
            "gathers at run-time positions; the IR takes stored indices (Take), or ids into a stored 2-D "
            "table (Embedding)"
        )
    letter = position(ctx, ctx.attr("axis", 0), x)
    size = x.spec.dim(letter)
    if size is None and (indices < 0).any():
        raise UnsupportedError(f"takes entries counted from the end of position {ctx.attr('axis', 0)}, of unknown size")
    flat = [int(i) + size if i < 0 else int(i) for i in indices.reshape(-1)]
    out = ctx.call(O.Take(letter, tuple(flat)), x)
    if indices.ndim == 1:
        return out, {}
    at = x.layout.index(letter)
    sizes = list(x.spec.shape[1:at]) + list(indices.shape) + list(x.spec.shape[at + 1 :])
    if x.layout[0] != "N" or None in sizes:
        raise UnsupportedError(f"gathers with indices of shape {indices.shape} from a {x.layout!r} tensor")
    return view(ctx, out, sizes), {}


def expand(ctx: Ctx) -> Converted:
    x = ctx.x()
    target = ints(ctx, 1, "shape")
    if len(target) > x.spec.rank:
        raise UnsupportedError(f"expands rank {x.spec.rank} to {len(target)}, moving the batch axis (position 0)")
    target = [1] * (x.spec.rank - len(target)) + target
    letters, sizes = "", []
    static = ctx.graph.shapes.get(ctx.op.inputs[0]) or (None,) * x.spec.rank
    for a, (have, want) in enumerate(zip(x.spec.shape, target)):
        if x.layout[a] == "N":
            if want not in (1, static[a]):
                raise UnsupportedError(f"expands position {a}, the batch axis, to {want}")
        elif have == 1 and want > 1:
            letters, sizes = letters + x.layout[a], [*sizes, want]
        elif want not in (1, have):
            raise UnsupportedError(f"expands position {a} of size {have} to {want}")
    if not letters:
        return unchanged(ctx, x), {}  # nothing to repeat: the input as it is
    return ctx.call(O.Expand(letters, tuple(sizes)), x), {}


def tile(ctx: Ctx) -> Converted:
    x = ctx.x()
    reps = ints(ctx, 1, "repeats")
    letters, counts = "", []
    for a, r in enumerate(reps):
        if r == 1:
            continue
        if x.layout[a] == "N":
            raise UnsupportedError(f"repeats position {a}, the batch axis, {r} times")
        letters, counts = letters + x.layout[a], [*counts, r]
    if not letters:
        return unchanged(ctx, x), {}
    return ctx.call(O.Tile(letters, tuple(counts)), x), {}


def pad(ctx: Ctx) -> Converted:
    x = ctx.x()
    rank = x.spec.rank
    mode = ctx.attr("mode", "constant")
    if mode != "constant":
        raise UnsupportedError(f"mode={mode!r}: the IR's Pad adds a constant (mode 'constant')")
    if ctx.graph.opset < 11:
        pads, value = ctx.attr("pads", ctx.attr("paddings")), ctx.attr("value", 0.0)
        axes = None
    else:
        pads = ints(ctx, 1, "pads")
        given = stored(ctx, 2, "constant_value") if len(ctx.op.inputs) > 2 else None
        value = 0.0 if given is None else float(np.asarray(given).reshape(()))
        axes = ints(ctx, 3, "axes") if len(ctx.op.inputs) > 3 else None
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    letters, pairs = "", []
    for i, a in enumerate(axes):
        before, after = pads[i], pads[len(axes) + i]
        if (before, after) == (0, 0):
            continue
        if before < 0 or after < 0 or x.layout[a] == "N":
            raise UnsupportedError(f"pads {pads}: negative pads (a crop) or pads of the batch axis (position 0)")
        letters, pairs = letters + x.layout[a], [*pairs, (before, after)]
    if not letters:
        return unchanged(ctx, x), {}
    return ctx.call(O.Pad(letters, tuple(pairs), value), x), {}


def gather_elements(ctx: Ctx) -> Converted:
    """GatherElements of a ``(batch, n)`` tensor at ``(batch, l)`` run-time positions along position 1: the IR's
    ``Gather`` (per sample, indices in range and not negative)."""
    x, index = ctx.value(0), ctx.value(1)
    if x is None or index is None or x.spec.rank != 2 or index.spec.rank != 2:
        raise UnsupportedError("gathers other than (batch, n) entries at computed (batch, l) positions")
    if x.layout[0] != "N" or index.layout[0] != "N":
        raise UnsupportedError("gathers along the batch axis")
    letter = position(ctx, ctx.attr("axis", 0), x)
    if index.layout[1] != letter and index.layout[1] in x.layout:
        index = relabel(ctx, index, "N" + free_letters(x.layout, 1))
    return ctx.call(O.Gather(letter), x, index), {}


def roll(ctx: Ctx) -> Converted:
    """``twinnet.Roll`` (patterns/movement.py): entries of one axis shifted cyclically."""
    x = ctx.x()
    return ctx.call(O.Roll(position(ctx, ctx.attr("axis"), x), ctx.attr("shift")), x), {}


def positions(ctx: Ctx) -> Converted:
    """``twinnet.Positions`` (patterns/movement.py): ``0 .. n-1`` for the size ``n`` of one axis of the input."""
    x = ctx.x()
    return ctx.call(O.Positions(position(ctx, ctx.attr("axis"), x), dtype=ctx.attr("dtype")), x), {}
