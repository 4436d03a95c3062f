"""Layouts: the logical axes of a tensor, in the order the tensor holds them.

A layout is a string of distinct axis letters. ``N`` is the batch axis and
appears exactly once; the others are:

==== =======================================
C    channels / features
T    time (sequence steps, token positions)
D    depth (3-D spatial)
H    height
W    width (also the length of 1-D signals)
==== =======================================

Any other capital letter is a *free* axis (:data:`FREE_AXES`): an axis no
layer gives a meaning to (attention heads, a window's rows, the extra axes of
a rank-8 tensor). Only the tensor-op tier (``ir/ops/``) makes and reads
them; see docs/ops.md. A tensor has at most :data:`MAX_RANK` axes.

Layers act on these letters, never on positions: a ``Conv2D`` finds its
channels at ``C`` whether the model is declared ``NHWC`` or ``NCHW``.
Permutation helpers here are pure Python; weight permutations that depend on
a layout are done once, at compile time, by the backends.
"""

from __future__ import annotations

from typing import Sequence

from .errors import LayoutError

AXES = "NCTDHW"
SPATIAL = "DHW"
#: Letters with no meaning to any layer, handed out in this order to axes the ops make (docs/ops.md).
FREE_AXES = "ABEFGIJKLMOPQRSUVXYZ"
ALL_AXES = AXES + FREE_AXES
MAX_RANK = 8

# Keras conventions: the default layout for a tensor of a given rank.
_DEFAULT_FLOAT = {1: "N", 2: "NC", 3: "NTC", 4: "NHWC", 5: "NDHWC"}
_DEFAULT_INT = {1: "N", 2: "NT", 3: "NTC"}


def check_layout(layout: str, rank: int | None = None, *, layer: str | None = None) -> str:
    """Validate a layout string and return it.

    >>> check_layout("NHWC", 4)
    'NHWC'
    """
    if not isinstance(layout, str) or not layout:
        raise LayoutError(f"layout must be a non-empty string of capital axis letters, got {layout!r}", layer=layer)
    bad = [a for a in layout if a not in ALL_AXES]
    if bad:
        raise LayoutError(
            f"layout {layout!r} has unknown axis letter(s) {''.join(bad)!r}; known: capitals A-Z "
            f"({AXES!r} have a meaning to layers)",
            layer=layer,
        )
    if len(layout) > MAX_RANK:
        raise LayoutError(f"layout {layout!r} has more than {MAX_RANK} axes", layer=layer)
    if len(set(layout)) != len(layout):
        raise LayoutError(f"layout {layout!r} repeats an axis letter", layer=layer)
    if layout.count("N") != 1:
        raise LayoutError(f"layout {layout!r} must contain the batch axis 'N' exactly once", layer=layer)
    if rank is not None and len(layout) != rank:
        raise LayoutError(f"layout {layout!r} has {len(layout)} axes but the tensor has rank {rank}", layer=layer)
    return layout


def default_layout(rank: int, integer: bool = False, *, layer: str | None = None) -> str:
    """The Keras-convention layout for a tensor of ``rank`` (batch included)."""
    table = _DEFAULT_INT if integer else _DEFAULT_FLOAT
    if rank not in table:
        raise LayoutError(
            f"no default layout for a rank-{rank} {'integer' if integer else 'float'} tensor; pass layout=", layer=layer
        )
    return table[rank]


def free_letters(used: str, n: int) -> str:
    """The first ``n`` free letters (:data:`FREE_AXES`) not in ``used``.

    >>> free_letters("NAC", 2)
    'BE'
    """
    out = "".join(a for a in FREE_AXES if a not in used)[:n]
    if len(out) < n:
        raise LayoutError(f"no {n} free axis letters left beside {used!r}")
    return out


def past_convention(before: str, rank: int) -> str:
    """Letters for a reshape of a tensor lettered ``before`` to a rank past Keras's conventions (a window
    partition's ``(N, 2, 7, 2, 7, C)``): ``N``, the input's own letters in order, then free ones (how
    ``from_keras`` names such a reshape, and ``from_torch`` one whose readers decide no letters).

    >>> past_convention("NHWC", 6)
    'NHWCAB'
    """
    own = before.replace("N", "")[: rank - 1]
    return "N" + own + free_letters("N" + own, rank - 1 - len(own))


def resolve_axis(axis: int | str, layout: str, *, layer: str | None = None) -> int:
    """Index of ``axis`` in ``layout``: a letter, or an int as declared (batch included, negatives allowed)."""
    if isinstance(axis, str):
        if len(axis) != 1 or axis not in layout:
            raise LayoutError(f"axis {axis!r} is not in layout {layout!r}", layer=layer)
        return layout.index(axis)
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise LayoutError(f"axis must be a layout letter or an int, got {axis!r}", layer=layer)
    rank = len(layout)
    if not -rank <= axis < rank:
        raise LayoutError(f"axis {axis} is out of range for layout {layout!r}", layer=layer)
    return axis % rank


def permutation(src: str, dst: str) -> tuple[int, ...]:
    """``perm`` such that ``x.transpose(perm)`` turns layout ``src`` into ``dst``."""
    if sorted(src) != sorted(dst):
        raise LayoutError(f"cannot permute layout {src!r} into {dst!r}: different axes")
    return tuple(src.index(a) for a in dst)


def apply_perm(seq: Sequence, perm: Sequence[int]) -> tuple:
    return tuple(seq[p] for p in perm)


def invert(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def spatial_axes(layout: str) -> str:
    """The non-batch, non-channel axes of a layout, in declared order (e.g. 'HW' for NHWC)."""
    return "".join(a for a in layout if a not in "NC")
