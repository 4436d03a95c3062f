"""What the ``keras.ops`` entries of the Keras importer share: several-node results, axis letters, operands.

A ``keras.ops`` call (``keras.ops.add``, ``x * 0.5``, ``x[:, 0]``) is recorded
by a Keras functional graph as an ``Operation`` node with its arguments: the
Keras tensors, and the Python numbers, slices and options beside them. Its
table entry takes ``(node, inputs)`` (the Keras ``Node`` and the IR tensors of
its tensor arguments, in order) and returns ``(ir layer, weights)`` like a
layer's entry, or a :class:`Composite` where one call is several IR nodes
(``x[:, 1:3, 0]`` is a ``Narrow`` on each axis and a ``View`` dropping one).

Axis letters: ops keep the letters of their input (``keras.ops.transpose``
reorders them, ``Reduce`` drops them) and every imported tensor is declared in
Keras's own axis order, so a Keras axis index is always a position in the IR
layout. New axes get the first free letters (``ir.layout.FREE_AXES``); a
reshape names its result in Keras's convention (``NC``, ``NTC``, ``NHWC``,
``NDHWC``, free letters beyond). Keras aligns operands by position, the IR by
letter: where two same-rank operands name their axes differently, the later
ones are relabelled with a ``View`` that moves no data (:func:`aligned`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import MAX_RANK, default_layout, free_letters
from ....ir.tensor import Tensor

#: ``build(inputs, name, fresh) -> (output, weights)``: ``fresh(suffix)`` claims a node name ``<name><suffix>``;
#: weights are keyed ``"<node>/<weight>"``; the last node should be named ``name``.
Build = Callable[[list, str, Callable[[str], str]], tuple[Tensor, dict]]


@dataclass(frozen=True)
class Composite:
    """An entry's result made of several IR nodes (see the module docstring)."""

    build: Build


def keras_layout(rank: int, integer: bool = False) -> str:
    """Keras's axis convention for a rank (``NTC`` ...), ``N`` and free letters past rank 5."""
    if rank > MAX_RANK:
        raise UnsupportedError(f"a rank-{rank} tensor has more than the IR's {MAX_RANK} axes")
    try:
        return default_layout(rank, integer)
    except Exception:  # no convention for this rank: N and free letters
        return "N" + free_letters("N", rank - 1)


def past_convention(before: str, rank: int) -> str:
    """Letters for a reshape to a rank Keras has no convention for (past 5: a window partition's ``(N, 2, 7,
    2, 7, C)``): the input's own letters in order, then free ones, as ``from_torch`` names a reshape."""
    own = before.replace("N", "")[: rank - 1]
    return "N" + own + free_letters("N" + own, rank - 1 - len(own))


def view_shape(shape) -> tuple[int, ...]:
    """A View's shape (after the batch) from a Keras shape: unknown sizes become -1 (one at most)."""
    out = tuple(-1 if s is None else int(s) for s in shape)
    if out.count(-1) > 1:
        raise UnsupportedError(f"cannot reshape to {tuple(shape)}: more than one size is unknown")
    return out


def relabel(x: Tensor, layout: str, name: str) -> Tensor:
    """``x`` with its axes named ``layout`` (same order, same sizes: no data moves)."""
    if x.layout == layout:
        return x
    return O.View(view_shape(x.shape[1:]), layout=layout, name=name)(x)


def aligned(inputs: list, fresh: Callable[[str], str], *, keep: int = 0) -> list:
    """Same-rank tensors with the first one's letters (all but the last ``keep`` axes, which keep theirs
    unless taken): Keras pairs operands' axes by position."""
    first = inputs[0]
    out = [first]
    for i, x in enumerate(inputs[1:], 1):
        if x.spec.rank != first.spec.rank:
            raise UnsupportedError(
                f"operands of ranks {first.spec.rank} and {x.spec.rank}: Keras aligns them from the last axis, "
                "which pairs the batch axis with another; the IR broadcasts only tensors of one rank "
                "(expand_dims the smaller one)"
            )
        lead = first.layout[: len(first.layout) - keep]
        tail = x.layout[len(x.layout) - keep :] if keep else ""
        if any(a in lead for a in tail):
            tail = free_letters(lead + x.layout, keep)
        out.append(relabel(x, lead + tail, fresh(f"_relabel{i}")))
    return out


def number(value, what: str) -> float | None:
    """A Python or NumPy scalar as a float; None if ``value`` is a Keras tensor; refuse anything else."""
    if isinstance(value, keras.KerasTensor):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise UnsupportedError(f"{what} is a bool constant ({value}), which the IR has no scalar form of")
    array = np.asarray(value)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        raise UnsupportedError(
            f"{what} is a constant array of shape {array.shape}; the IR takes tensors from the graph or single "
            "numbers (hold the array in a layer's weights)"
        )
    return float(array)


def axes_of(axis, x: Tensor, what: str = "axis") -> str:
    """Keras axis indices (an int, a list, None) as the IR letters; the batch axis and None are refused."""
    from .convert_helpers import letter

    if axis is None:
        raise UnsupportedError(f"{what}=None includes the batch axis, which IR ops never act across")
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return "".join(letter(int(a), x, what) for a in items)


def position(axis: int, rank: int, what: str = "axis") -> int:
    """A Keras axis index as a non-negative position; the batch axis refused."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -rank <= axis < rank:
        raise UnsupportedError(f"{what}={axis!r} does not name one axis of a rank-{rank} tensor")
    axis = int(axis) % rank
    if axis == 0:
        raise UnsupportedError(f"{what}={axis!r} is the batch axis, which IR ops never act across")
    return axis


def out_shape(node) -> tuple:
    """The Keras output shape of a call, after the batch axis."""
    return tuple(node.output_tensors[0].shape[1:])


def option(node, name: str, default=None):
    """A call option: a keyword argument of the call, else the operation's attribute of that name."""
    if name in node.arguments.kwargs:
        return node.arguments.kwargs[name]
    return getattr(node.operation, name, default)
