"""``ATEN_SHAPE``: ATen ops that move entries -> IR ``View``, ``Transpose``, ``Expand``, ``Concat``, ``Narrow``,
``Take``, ``Pad``, ``Roll``, ``Tile``.

A torch ``dim`` is the letter at that position of the value's letters
(``aten_values.letters``). Reshapes read their target from the recorded
shape (a size that follows a symbolic length is the ``View``'s -1) and need
the batch axis first: a reshape that merges the batch with the axes after it
(a window partition written as ``x.view(-1, w * w, c)``) is a ``View`` with
``merge``, its reverse one with ``split``. ``aten.py`` tries the layer converters first (``Reshape``,
``Permute``, ``Concatenate``, ``Cropping``) and uses these for the rest.
"""

from __future__ import annotations

from typing import Callable

import torch

from .... import ir
from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters, past_convention
from .aten_values import Held, check, letters, operands, put, torch_shape, view
from .capture import guess_layout

aten = torch.ops.aten
_NO_END = 2**62  # export writes an open slice end as sys.maxsize


def _input(ctx, call, i: int = 0, key: str = "self"):
    """(IR tensor, its torch letters, its torch shape) of argument ``i``."""
    node = call.node.args[i]
    x = ctx.tensor(call.arg(i, key))
    return x, letters(ctx, node, x), torch_shape(ctx, node)


def _dim(lt: str, d: int, what: str = "dim") -> str:
    if not isinstance(d, int) or not -len(lt) <= d < len(lt):
        raise UnsupportedError(f"{what}={d!r} does not name an axis of a rank-{len(lt)} tensor")
    if lt[d] == "N":
        raise UnsupportedError(f"{what}={d} is the batch axis (ops act on each sample alone)")
    return lt[d]


def _fresh_letters(ctx, call, lt: str, rank: int, integer: bool) -> str:
    """Letters for a reshape's ``rank`` axes after ``N``: the consumers' layout where they decide one,
    else the input's own letters in order, then free ones."""
    try:
        guess = guess_layout(ctx.gm, call.node, rank + 1, integer)
    except UnsupportedError:  # no conventional layout at that rank
        guess = ""
    if guess[:1] == "N" and len(guess) == rank + 1:
        return guess[1:]
    return past_convention(lt, rank + 1)[1:]


def reshape(ctx, call):
    """view / reshape / squeeze / unsqueeze / flatten / unflatten: a ``View`` to the recorded shape."""
    x, lt, _ = _input(ctx, call)
    out = torch_shape(ctx, call.node)
    n = ctx.n_pos(call.node)
    across = {}
    if "N" in lt:
        batch, result = ctx.run1[call.node.args[0]].shape[lt.index("N")], ctx.run1[call.node].shape[0]
        if lt[0] != "N" or n != 0 or (result % batch and batch % result):
            raise UnsupportedError(f"a reshape that moves the batch axis (input {lt}, output {out}) has no IR form")
        if result != batch:  # a window partition (N * k samples) or its reverse: View(merge=k) / View(split=k)
            across = {"merge": result // batch} if result > batch else {"split": batch // result}
        out = out[1:]
    elif n is not None:
        raise UnsupportedError("a reshape that makes a batch axis of a value computed without the inputs")
    if not out:
        raise UnsupportedError("a reshape to a batch of scalars is not supported")
    layout = "N" + _fresh_letters(ctx, call, lt, len(out), x.dtype != "float32")
    return _view_checked(ctx, call, x, out, layout, **across)


def _view_checked(ctx, call, x, shape, layout, **across):
    sizes = tuple(-1 if s is None else s for s in shape)
    if sizes.count(-1) > 1:
        raise UnsupportedError(f"a reshape to {shape} has more than one size that follows the sequence length")
    if x.layout == layout and tuple(x.shape[1:]) == tuple(shape) and not across:
        return x
    return put(ctx, call, O.View(sizes, layout, **across), [x])


def permute(ctx, call):
    x, lt, _ = _input(ctx, call)
    dims = call.arg(1, "dims")
    if sorted(d % len(lt) for d in dims) != list(range(len(lt))):
        raise UnsupportedError(f"dims {dims} are not a permutation of the {len(lt)} axes")
    target = "".join(lt[d] for d in dims)
    return _transpose(ctx, call, x, lt, target)


def transpose(ctx, call):
    x, lt, _ = _input(ctx, call)
    a, b = (d % len(lt) for d in (call.arg(1, "dim0"), call.arg(2, "dim1")))
    order = list(lt)
    order[a], order[b] = order[b], order[a]
    return _transpose(ctx, call, x, lt, "".join(order))


def t(ctx, call):
    x, lt, _ = _input(ctx, call)
    return _transpose(ctx, call, x, lt, lt[::-1] if len(lt) == 2 else lt)


def _transpose(ctx, call, x, lt, target):
    if target == lt:
        return x
    layout = target if len(lt) == x.spec.rank else "N" + target
    return put(ctx, call, O.Transpose(layout), [x])


def expand(ctx, call):
    """Size-1 axes grown (``Expand``); a value computed without the inputs may grow a batch axis."""
    value, node = call.arg(0, "self"), call.node.args[0]
    out, n = torch_shape(ctx, call.node), ctx.n_pos(call.node)
    x = None if isinstance(value, Held) else ctx.tensor(value)
    lt = None if x is None else letters(ctx, node, x)
    if lt is not None and "N" in lt:
        if len(lt) != len(out):
            raise UnsupportedError("an expand that adds axes in front of the batch axis")
        inner = [(a, s, o) for a, s, o in zip(lt, torch_shape(ctx, node), out) if a != "N"]
    else:
        shape = tuple(value.value.shape) if x is None else torch_shape(ctx, node)
        shape = (1,) * (len(out) - len(shape)) + shape
        if n is not None:
            if n != 0 or shape[0] != 1:
                raise UnsupportedError("an expand over the batch axis needs it first and of size 1")
            shape, out = shape[1:], out[1:]
        names = free_letters("N", len(shape))
        x = value.learned(ctx, shape, "N" + names) if x is None else view(ctx, call, x, shape, "N" + names)
        inner = list(zip(names, shape, out))
    grow = [(a, o) for a, s, o in inner if s != o]
    if any(o is None for _, o in grow):
        raise UnsupportedError("an expand to a size that follows the sequence length is not supported")
    if not grow:
        return x
    return put(ctx, call, O.Expand("".join(a for a, _ in grow), tuple(o for _, o in grow)), [x])


def cat(ctx, call):
    values, nodes = list(call.arg(0, "tensors")), list(call.node.args[0])
    dim = call.arg(1, "dim", 0)
    xs = operands(ctx, call, values, nodes, call.info.dtype)
    lt = letters(ctx, call.node, xs[0]) if xs[0].spec.rank == len(call.info.shape) else xs[0].layout[1:]
    return put(ctx, call, O.Concat(_dim(lt, dim)), xs)


def _narrow(ctx, call, x, axis: str, start: int, stop: int, step: int = 1, last: bool = True):
    return put(ctx, call, O.Narrow(axis, start, stop, step), [x], last=last)


def split(ctx, call):
    """split / split_with_sizes / chunk: one ``Narrow`` per piece (a tuple the graph's getitem picks from)."""
    x, lt, shape = _input(ctx, call)
    dim = call.arg(2, "dim", 0)
    axis = _dim(lt, dim)
    size = shape[dim]
    if size is None:
        raise UnsupportedError("splitting an axis that follows the sequence length is not supported")
    pieces, start = [], 0
    for info in call.info:
        step = info.shape[dim]
        pieces.append(_narrow(ctx, call, x, axis, start, start + step, last=False))
        start += step
    return tuple(pieces)


def unbind(ctx, call):
    x, lt, shape = _input(ctx, call)
    dim = call.arg(1, "dim", 0)
    axis = _dim(lt, dim)
    out = [
        _drop(ctx, call, _narrow(ctx, call, x, axis, i, i + 1, last=False), lt, shape, dim, i)
        for i in range(shape[dim])
    ]
    return tuple(out)


def _drop(ctx, call, x, lt, shape, dim, i):
    keep = [(a, s) for j, (a, s) in enumerate(zip(lt, shape)) if j != dim % len(lt)]
    if x.layout[0] != "N":  # a sum over the one entry left drops the axis where a View would move data
        if x.dtype == "bool":
            raise UnsupportedError(f"dropping an axis of the bool tensor {x.layout} needs the batch axis first")
        return put(ctx, call, O.Reduce("sum", lt[dim % len(lt)]), [x], last=False)
    sizes = tuple(s for a, s in keep if a != "N")
    layout = "N" + "".join(a for a, _ in keep if a != "N")
    return view(ctx, call, x, sizes, layout, f"drop{i}")


def select(ctx, call):
    x, lt, shape = _input(ctx, call)
    dim, index = call.arg(1, "dim"), call.arg(2, "index")
    axis, size = _dim(lt, dim), shape[dim]
    if size is None and index < 0:
        raise UnsupportedError("selecting from the end of an axis that follows the sequence length")
    index = index + size if index < 0 else index
    picked = _narrow(ctx, call, x, axis, index, index + 1, last=False)
    out = _drop(ctx, call, picked, lt, shape, dim, 0)
    check(ctx, call.node, out)
    return out


def slice_(ctx, call):
    x, lt, shape = _input(ctx, call)
    dim = call.arg(1, "dim", 0)
    axis, size = _dim(lt, dim), shape[dim]
    start, end, step = call.arg(2, "start"), call.arg(3, "end"), call.arg(4, "step", 1)
    start = 0 if start is None else start
    end = None if end is None or end >= _NO_END else end
    if size is None:
        if start < 0 or (end is not None and end < 0):
            raise UnsupportedError("slicing from the end of an axis that follows the sequence length")
        if end is not None:
            raise UnsupportedError("a slice with an end on an axis that follows the sequence length")
    else:
        start = min(max(start + size if start < 0 else start, 0), size)
        end = size if end is None else min(max(end + size if end < 0 else end, 0), size)
        if start == 0 and end == size and step == 1:
            return x
        if end <= start:
            raise UnsupportedError(f"the slice {start}:{end} of axis {axis!r} is empty")
    return _narrow(ctx, call, x, axis, start, end, step)


def _indices(value, what: str) -> torch.Tensor:
    if not isinstance(value, Held) or value.value.dtype not in (torch.int32, torch.int64):
        raise UnsupportedError(f"{what} must be integers computed without the inputs (a buffer, an arange)")
    return value.value


def index_select(ctx, call):
    x, lt, shape = _input(ctx, call)
    axis = _dim(lt, call.arg(1, "dim"))
    index = _indices(call.arg(2, "index"), "the index")
    return _take(ctx, call, x, axis, index, shape[call.arg(1, "dim")])


def _take(ctx, call, x, axis, index, size, last=True):
    if size is None:
        raise UnsupportedError("indexing an axis that follows the sequence length is not supported")
    flat = [int(i) + size if int(i) < 0 else int(i) for i in index.reshape(-1).tolist()]
    return put(ctx, call, O.Take(axis, tuple(flat)), [x], last=last)


def index(ctx, call):
    """``x[..., idx]`` with one index tensor computed without the inputs (``aten.index.Tensor``): ``Take``."""
    x, lt, shape = _input(ctx, call)
    parts = list(call.arg(1, "indices"))
    given = [i for i, p in enumerate(parts) if p is not None]
    if len(given) != 1:
        raise UnsupportedError("indexing with more than one index tensor is not supported")
    dim = given[0]
    idx = _indices(parts[dim], "an index tensor")
    axis = _dim(lt, dim)
    if idx.dim() == 1:
        return _take(ctx, call, x, axis, idx, shape[dim])
    taken = _take(ctx, call, x, axis, idx, shape[dim], last=False)
    out = torch_shape(ctx, call.node)
    if "N" in lt:
        if lt[0] != "N":
            raise UnsupportedError("an index tensor of rank > 1 needs the batch axis first")
        out = out[1:]
    return _view_checked(ctx, call, taken, out, "N" + _fresh_letters(ctx, call, lt, len(out), x.dtype != "float32"))


def pad(ctx, call):
    x, lt, _ = _input(ctx, call)
    pads = list(call.arg(1, "pad"))
    mode = call.arg(2, "mode", "constant") if call.node.target is aten.pad.default else "constant"
    value = call.arg(3 if call.node.target is aten.pad.default else 2, "value", 0.0)
    if mode != "constant":
        raise UnsupportedError(f"mode={mode!r} padding is not supported as an op (only 'constant')")
    if any(p < 0 for p in pads):
        raise UnsupportedError("negative padding (cropping) is not supported as an op")
    axes, pairs = "", []
    for i in range(len(pads) // 2):
        before, after = pads[2 * i], pads[2 * i + 1]
        if before or after:
            axes += _dim(lt, -1 - i)
            pairs.append((before, after))
    if not axes:
        return x
    return put(ctx, call, O.Pad(axes, tuple(pairs), 0.0 if value is None else float(value)), [x])


def roll(ctx, call):
    x, lt, _ = _input(ctx, call)
    shifts, dims = call.arg(1, "shifts"), call.arg(2, "dims", ())
    shifts = [shifts] if isinstance(shifts, int) else list(shifts)
    dims = [dims] if isinstance(dims, int) else list(dims)
    if len(dims) != len(shifts) or not dims:
        raise UnsupportedError("roll without dims (over the flattened tensor) is not supported")
    for i, (s, d) in enumerate(zip(shifts, dims)):
        x = put(ctx, call, O.Roll(_dim(lt, d), s), [x], last=i == len(dims) - 1)
    return x


def repeat(ctx, call):
    x, lt, _ = _input(ctx, call)
    reps = list(call.arg(1, "repeats"))
    if len(reps) != len(lt):
        raise UnsupportedError("a repeat that adds axes is not supported")
    grown = [(a, r) for a, r in zip(lt, reps) if r != 1]
    if any(a == "N" for a, _ in grown):
        raise UnsupportedError("repeating the batch axis is not supported")
    if not grown:
        return x
    return put(ctx, call, O.Tile("".join(a for a, _ in grown), tuple(r for _, r in grown)), [x])


def getitem(ctx, call):
    """``x[index]`` of ints, slices (any step), ``None`` and ``...``: ``Narrow`` per axis, then a ``View``
    that drops the selected axes and adds the new ones (``operator.getitem``, where the slicing layers refuse)."""
    value, index = call.args[0], call.args[1]
    if not isinstance(value, (ir.Tensor, Held)):
        raise UnsupportedError(f"indexing a {type(value).__name__} is not supported")
    x, lt, shape = _input(ctx, call)
    items = list(index) if isinstance(index, tuple) else [index]
    if Ellipsis in items:
        at = items.index(Ellipsis)
        rest = len(lt) - sum(1 for i in items if i is not None and i is not Ellipsis)
        items[at : at + 1] = [slice(None)] * rest
    pos, changed, dropped = 0, False, ""
    for item in items:
        if item is None:
            changed = True
            continue
        if item == slice(None):
            pos += 1
            continue
        axis, size = _dim(lt, pos), shape[pos]
        if isinstance(item, bool) or not isinstance(item, (int, slice)):
            raise UnsupportedError(f"an index of type {type(item).__name__} is not supported")
        if size is None:
            raise UnsupportedError("indexing an axis that follows the sequence length is not supported")
        if isinstance(item, int):
            i = item + size if item < 0 else item
            x, changed, dropped = _narrow(ctx, call, x, axis, i, i + 1, last=False), True, dropped + axis
        else:
            start, stop, step = item.indices(size)
            if step < 1 or stop <= start:
                raise UnsupportedError(f"the slice {item} of axis {axis!r} is empty or reversed")
            if (start, stop, step) != (0, size, 1):
                x = _narrow(ctx, call, x, axis, start, stop, step, last=False)
        pos += 1
    out = torch_shape(ctx, call.node)
    if changed and "N" in lt and lt[0] != "N" and None not in items and x.dtype != "bool":
        for axis in dropped:  # a sum over the one entry left drops an axis before the batch (q, k, v = qkv[0], ...)
            x = put(ctx, call, O.Reduce("sum", axis), [x], last=False)
    elif changed:
        if "N" in lt:
            if lt[0] != "N" or ctx.n_pos(call.node) != 0:
                raise UnsupportedError("indexing that drops or adds axes needs the batch axis first")
            out = out[1:]
        kept = "".join(a for a in x.layout if a != "N")
        layout = "N" + (
            kept if len(kept) == len(out) else _fresh_letters(ctx, call, lt, len(out), x.dtype != "float32")
        )
        x = view(ctx, call, x, out, layout, "index")
    check(ctx, call.node, x)
    return x


#: ATen op -> op-tier converter (moving entries)
ATEN_SHAPE: dict[Callable, Callable] = {
    aten.view.default: reshape,
    aten.reshape.default: reshape,
    aten._unsafe_view.default: reshape,
    aten.squeeze.dim: reshape,
    aten.squeeze.dims: reshape,
    aten.squeeze.default: reshape,
    aten.unsqueeze.default: reshape,
    aten.flatten.using_ints: reshape,
    aten.unflatten.int: reshape,
    aten.permute.default: permute,
    aten.transpose.int: transpose,
    aten.swapaxes.default: transpose,  # (self, axis0, axis1): transpose's arguments by position
    aten.t.default: t,
    aten.expand.default: expand,
    aten.expand_as.default: expand,  # the sizes are read from the result, so ``expand``'s converter serves
    aten.cat.default: cat,
    aten.split.Tensor: split,
    aten.split_with_sizes.default: split,
    aten.chunk.default: split,
    aten.unbind.int: unbind,
    aten.select.int: select,
    aten.slice.Tensor: slice_,
    aten.index_select.default: index_select,
    aten.index.Tensor: index,
    aten.constant_pad_nd.default: pad,
    aten.pad.default: pad,
    aten.roll.default: roll,
    aten.repeat.default: repeat,
}
