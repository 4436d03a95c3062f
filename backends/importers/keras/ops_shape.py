"""Keras importer entries for ``keras.ops`` calls that move entries: transpose, reshape, expand/squeeze,
concatenate/stack, indexing (``x[:, 1:3]``, ``take``, ``take_along_axis``), pad, tile, repeat, roll
(see ``ops_helpers.py``)."""

from __future__ import annotations

import keras
import numpy as np
from keras.src.ops import numpy as knp

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters
from .ops_helpers import Composite, aligned, keras_layout, option, out_shape, past_convention, position, view_shape


def _ints(value, what: str) -> list[int]:
    items = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in items):
        raise UnsupportedError(f"{what} must be ints, got {value!r}")
    return [int(i) for i in items]


def _reshaped(node, x, layout: str):
    """A View of ``x`` to the call's Keras output shape, its axes named ``layout``."""
    return O.View(view_shape(out_shape(node)), layout=layout)


def transpose(node, inputs):
    (x,) = inputs
    axes = option(node, "axes")
    if axes is None:
        raise UnsupportedError("axes=None reverses every axis, the batch axis included")
    axes = [int(a) % x.spec.rank for a in _ints(axes, "axes")]
    if axes[0] != 0:
        raise UnsupportedError(f"axes={tuple(axes)} moves the batch axis")
    return O.Transpose("".join(x.layout[a] for a in axes)), {}


def swapaxes(node, inputs):
    (x,) = inputs
    rank = x.spec.rank
    a, b = (position(option(node, f), rank, f) for f in ("axis1", "axis2"))
    order = list(x.layout)
    order[a], order[b] = order[b], order[a]
    return O.Transpose("".join(order)), {}


def moveaxis(node, inputs):
    (x,) = inputs
    rank = x.spec.rank
    src = [position(a, rank, "source") for a in _ints(option(node, "source"), "source")]
    dst = [position(a, rank, "destination") for a in _ints(option(node, "destination"), "destination")]
    rest = [a for i, a in enumerate(x.layout) if i not in src]
    order = [None] * rank
    for s, d in sorted(zip(src, dst), key=lambda p: p[1]):
        order[d] = x.layout[s]
    it = iter(rest)
    return O.Transpose("".join(a if a is not None else next(it) for a in order)), {}


def reshape(node, inputs):
    (x,) = inputs
    shape = option(node, "newshape")
    shape = list(shape) if isinstance(shape, (list, tuple)) else [shape]
    if not shape or shape[0] not in (-1, None):
        raise UnsupportedError(f"newshape={tuple(shape)} must keep the batch axis first (as -1)")
    rank = len(shape)
    layout = keras_layout(rank, x.dtype.startswith("int")) if rank <= 5 else past_convention(x.layout, rank)
    sizes, out = x.shape[1:], out_shape(node)
    if None in sizes or None in out or np.prod(sizes) == np.prod(out):
        return _reshaped(node, x, layout), {}
    # the batch axis (-1) absorbs the difference: a window partition (merge) or its reverse (split)
    have, want = int(np.prod(sizes)), int(np.prod(out))
    if have % want == 0:
        return O.View(view_shape(out), layout=layout, merge=have // want), {}
    if want % have == 0:
        return O.View(view_shape(out), layout=layout, split=want // have), {}
    raise UnsupportedError(f"newshape={tuple(shape)} regroups {have} entries per sample as {want}")


def expand_dims(node, inputs):
    (x,) = inputs
    rank = x.spec.rank + len(_ints(option(node, "axis"), "axis"))
    new = [position(a, rank, "axis") for a in _ints(option(node, "axis"), "axis")]
    letters = iter(free_letters(x.layout, len(new)))
    kept = iter(x.layout)
    return _reshaped(node, x, "".join(next(letters) if i in new else next(kept) for i in range(rank))), {}


def squeeze(node, inputs):
    (x,) = inputs
    axis = option(node, "axis")
    if axis is None:
        dropped = [i for i, s in enumerate(x.shape) if i and s == 1]
    else:
        dropped = [position(a, x.spec.rank, "axis") for a in _ints(axis, "axis")]
    if not dropped or len(dropped) == x.spec.rank - 1:
        raise UnsupportedError("would leave only the batch axis" if dropped else "has no size-1 axis to drop")
    return _reshaped(node, x, "".join(a for i, a in enumerate(x.layout) if i not in dropped)), {}


def concatenate(node, inputs):
    axis = position(option(node, "axis"), inputs[0].spec.rank)

    def build(tensors, name, fresh):
        tensors = aligned(list(tensors), fresh)
        return O.Concat(tensors[0].layout[axis], name=name)(*tensors), {}

    if len({x.layout for x in inputs}) > 1:
        return Composite(build)
    return O.Concat(inputs[0].layout[axis]), {}


def stack(node, inputs):
    rank = inputs[0].spec.rank + 1
    axis = position(option(node, "axis"), rank)

    def build(tensors, name, fresh):
        tensors = aligned(list(tensors), fresh)
        new = free_letters(tensors[0].layout, 1)
        layout = tensors[0].layout[:axis] + new + tensors[0].layout[axis:]
        shape = view_shape(tuple(tensors[0].shape[1:axis]) + (1,) + tuple(tensors[0].shape[axis:]))
        parts = [O.View(shape, layout=layout, name=fresh(f"_{i}"))(t) for i, t in enumerate(tensors)]
        return O.Concat(new, name=name)(*parts), {}

    return Composite(build)


def _narrow(letter: str, size: int | None, start, stop, step) -> O.Narrow | None:
    """The Narrow of ``[start:stop:step]`` on an axis (None where it keeps the whole axis)."""
    if (start in (None, 0)) and stop is None and step in (None, 1):
        return None
    if size is None:
        raise UnsupportedError(f"slicing axis {letter!r} needs its size to be known")
    start, stop, step = slice(start, stop, step).indices(size)
    if step < 1:
        raise UnsupportedError(f"a negative step ({step}) is not supported")
    if start >= stop:
        raise UnsupportedError(f"slice [{start}:{stop}] is empty")
    if (start, stop, step) == (0, size, 1):
        return None
    return O.Narrow(letter, start, None if stop == size else stop, step)


def get_item(node, inputs):
    """``x[...]`` with slices, ints, None and Ellipsis: a Narrow per sliced axis, a View for ints and None."""
    (x,) = inputs
    key = node.arguments.args[1]
    # a saved model gives a tuple of slices back as a list (which Keras still reads as that tuple)
    listed = isinstance(key, list) and any(isinstance(k, slice) or k is None or k is Ellipsis for k in key)
    key = list(key) if isinstance(key, tuple) or listed else [key]
    if len(key) > x.spec.rank + key.count(None) + key.count(Ellipsis):
        raise UnsupportedError(f"too many indices for a rank-{x.spec.rank} tensor")
    if any(isinstance(k, keras.KerasTensor) for k in key):
        raise UnsupportedError("indexing with a tensor is not supported (use keras.ops.take_along_axis)")
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if key.count(Ellipsis) > 1:
        raise UnsupportedError("more than one Ellipsis")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key[i : i + 1] = [slice(None)] * (x.spec.rank - used)
    key += [slice(None)] * (x.spec.rank - sum(1 for k in key if k is not None))
    if key[0] is None or not (isinstance(key[0], slice) and key[0] == slice(None)):
        raise UnsupportedError(f"index {key[0]!r} on the batch axis: IR ops act on each sample alone")
    steps, letters, axis = [], [], 0
    fresh_letters = iter(free_letters(x.layout, sum(1 for k in key if k is None)))
    for k in key:
        if k is None:
            letters.append(next(fresh_letters))
            continue
        letter, size = x.layout[axis], x.shape[axis]
        axis += 1
        if isinstance(k, slice):
            step = _narrow(letter, size, k.start, k.stop, k.step) if axis > 1 else None
            letters.append(letter)
        elif isinstance(k, int) and not isinstance(k, bool):
            if size is None:
                raise UnsupportedError(f"an index into axis {letter!r} needs its size to be known")
            i = k % size if -size <= k < size else None
            if i is None:
                raise UnsupportedError(f"index {k} is out of range for an axis of size {size}")
            step = O.Narrow(letter, i, i + 1)
        else:
            raise UnsupportedError(f"index {k!r} is not supported (slices, ints, None, ...)")
        if step is not None:
            steps.append(step)
    layout = "".join(letters)
    reshape = layout != "".join(a for a in x.layout)
    if not steps and not reshape:
        return O.Narrow(x.layout[1], 0), {}  # x[:] or x[...]: the whole tensor

    return Composite(_chain(steps + ([_reshaped(node, x, layout)] if reshape else [])))


def take(node, inputs):
    x = inputs[0]
    indices = node.arguments.args[1]
    if isinstance(indices, keras.KerasTensor):
        raise UnsupportedError("indices from a tensor are not supported (use keras.ops.take_along_axis)")
    if option(node, "axis") is None:
        raise UnsupportedError("axis=None flattens the batch axis in")
    axis = position(option(node, "axis"), x.spec.rank)
    letter, size = x.layout[axis], x.shape[axis]
    if size is None:
        raise UnsupportedError(f"take on axis {letter!r} needs its size to be known")
    array = np.asarray(indices)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise UnsupportedError(f"indices must be an int or one list of ints, got {indices!r}")
    if array.ndim == 0:
        i = int(array) % size
        return Composite(_chain([O.Narrow(letter, i, i + 1), _reshaped(node, x, x.layout.replace(letter, ""))]))
    idx = [int(i) % size for i in array]
    step = idx[1] - idx[0] if len(idx) > 1 else 1
    if step >= 1 and idx == list(range(idx[0], idx[-1] + 1, step)):
        return O.Narrow(letter, idx[0], None if idx[-1] + 1 >= size else idx[-1] + 1, step), {}
    return O.Take(letter, tuple(idx)), {}


def _chain(ops):
    def build(tensors, name, fresh):
        (t,) = tensors
        for i, op in enumerate(ops):
            t = op.replace(name=name if i == len(ops) - 1 else fresh(f"_{i}"))(t)
        return t, {}

    return build


def take_along_axis(node, inputs):
    x, index = inputs
    axis = position(option(node, "axis"), x.spec.rank)
    if index.spec.rank != x.spec.rank:
        raise UnsupportedError("indices must have the rank of the input")
    if any(s != 1 for i, s in enumerate(index.shape) if i not in (0, axis)):
        raise UnsupportedError(
            "indices must have size 1 on every axis but the batch and the gathered one (one list per sample)"
        )
    letter = x.layout[axis]

    def build(tensors, name, fresh):
        t, i = tensors
        i = O.View(view_shape((index.shape[axis],)), layout="N" + letter, name=fresh("_index"))(i)
        return O.Gather(letter, name=name)(t, i), {}

    return Composite(build)


def pad(node, inputs):
    (x,) = inputs
    if option(node, "mode", "constant") != "constant":
        raise UnsupportedError(f"mode={option(node, 'mode')!r} is not supported (constant)")
    value = node.arguments.kwargs.get("constant_values")
    widths = option(node, "pad_width")
    widths = [[int(p) for p in (w if isinstance(w, (list, tuple)) else (w, w))] for w in widths]
    if len(widths) == 1:
        widths = widths * x.spec.rank
    if len(widths) != x.spec.rank or widths[0] != [0, 0]:
        raise UnsupportedError(f"pad_width={widths} must pad each axis but the batch")
    axes = [(a, tuple(w)) for a, w in zip(x.layout, widths) if w != [0, 0]]
    return O.Pad("".join(a for a, _ in axes), tuple(w for _, w in axes), float(value or 0.0)), {}


def tile(node, inputs):
    (x,) = inputs
    reps = _ints(option(node, "repeats"), "repeats")
    reps = [1] * (x.spec.rank - len(reps)) + reps
    if len(reps) != x.spec.rank or reps[0] != 1:
        raise UnsupportedError(f"repeats={reps} must leave the batch axis alone")
    kept = [(a, r) for a, r in zip(x.layout, reps) if r != 1]
    return O.Tile("".join(a for a, _ in kept) or x.layout[1], tuple(r for _, r in kept) or (1,)), {}


def repeat(node, inputs):
    """Each entry repeated ``repeats`` times along ``axis``: an Expand of a size-1 axis, or for a longer one a
    View adding a size-1 axis after it, the Expand, and a View merging the two."""
    (x,) = inputs
    reps = option(node, "repeats")
    if not isinstance(reps, int) or option(node, "axis") is None:
        raise UnsupportedError("repeats must be one int and axis given")
    axis = position(option(node, "axis"), x.spec.rank)
    letter, size = x.layout[axis], x.shape[axis]
    if size == 1:
        return O.Expand(letter, (reps,)), {}
    new = free_letters(x.layout, 1)
    shape = tuple(x.shape[1:])
    layout = x.layout[: axis + 1] + new + x.layout[axis + 1 :]
    wide = O.View(view_shape(shape[:axis] + (1,) + shape[axis:]), layout=layout)
    return Composite(_chain([wide, O.Expand(new, (reps,)), _reshaped(node, x, x.layout)]))


def roll(node, inputs):
    (x,) = inputs
    if option(node, "axis") is None:
        raise UnsupportedError("axis=None rolls the flattened tensor, the batch axis included")
    axis = position(option(node, "axis"), x.spec.rank)
    return O.Roll(x.layout[axis], int(option(node, "shift"))), {}


TABLE = {
    knp.Transpose: transpose,
    knp.Swapaxes: swapaxes,
    knp.Moveaxis: moveaxis,
    knp.Reshape: reshape,
    knp.ExpandDims: expand_dims,
    knp.Squeeze: squeeze,
    knp.Concatenate: concatenate,
    knp.Stack: stack,
    knp.GetItem: get_item,
    knp.Take: take,
    knp.TakeAlongAxis: take_along_axis,
    knp.Pad: pad,
    knp.Tile: tile,
    knp.Repeat: repeat,
    knp.Roll: roll,
}
