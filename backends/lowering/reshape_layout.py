"""Which layout a reshape or a layout change can keep, so that no transpose is needed (pure layout arithmetic).

A reshape only merges or splits runs of adjacent axes; a layout change that moves only axes of size 1 moves
no data. Both let a backend skip a transpose: see :meth:`twinnet.backends.lowering.driver.Lowering.require` and
:meth:`twinnet.backends.lowering.driver.Lowering.reshape_layout`.
"""

from __future__ import annotations

from ...ir.tensor import TensorSpec
from .code import Value


def regrouped_layout(src: TensorSpec, dst: TensorSpec, held: str) -> str | None:
    """The physical layout a Reshape from ``src`` to ``dst`` (declared specs) can produce straight from a tensor
    held in ``held``, without transposing it first; None if it must be held in declared order.

    A reshape only merges or splits runs of adjacent axes ("groups": ``HW`` -> ``W`` in ``NCHW`` -> ``NCW``).
    When ``held`` keeps every source group together and in declared order (``NHWC`` keeps ``HW`` and ``C``),
    reshaping the held tensor gives the same groups in ``held``'s group order (``NWC``): the same elements, no
    transpose. Sizes must be known, except an axis of unknown size that is a group on its own on both sides.
    """
    groups = _groups(src, dst) if held[0] == "N" else None
    if groups is None:
        return None
    rest = held[1:]
    starts = []
    for ga, _ in groups:
        at = rest.find("".join(ga))  # together, in declared order
        if at < 0:
            return None
        starts.append(at)
    return "N" + "".join(gb_str for _, gb_str in sorted(zip(starts, ("".join(gb) for _, gb in groups))))


def ordered_within_groups(src: TensorSpec, dst: TensorSpec, held: str) -> str | None:
    """``held`` with the axes of each source group of a Reshape from ``src`` to ``dst`` put in declared order
    where they stand, when every group is together in ``held`` but one is in another order (``NHWCD`` for
    ``NDCHW`` -> ``NCHW``: ``NHWDC``); None otherwise (or where ``held`` needs no change).

    Holding the tensor so moves data within each group only, and the Reshape then keeps the groups in held
    order (:func:`regrouped_layout`): a channel shuffle of a channels-last map (split C in two, swap the
    halves' axes, merge them) stays channels last, rather than moved channels first to be merged in declared
    order.
    """
    groups = _groups(src, dst) if held[0] == "N" else None
    if groups is None:
        return None
    out = list(held)
    for ga, _ in groups:
        at = sorted(held.index(a) for a in ga)
        if at != list(range(at[0], at[0] + len(ga))):
            return None  # not together
        out[at[0] : at[0] + len(ga)] = ga
    out = "".join(out)
    return out if out != held else None


def _groups(src: TensorSpec, dst: TensorSpec) -> list[tuple[list[str], list[str]]] | None:
    """The runs of adjacent axes (batch aside) a Reshape from ``src`` to ``dst`` merges or splits, each as (its
    source axes, its target axes) in declared order; None where sizes do not allow it or a side has no batch."""
    if "N" not in src.layout or "N" not in dst.layout:
        return None
    a = [x for x in src.layout if x != "N"]
    b = [x for x in dst.layout if x != "N"]
    size_a, size_b = dict(zip(src.layout, src.shape)), dict(zip(dst.layout, dst.shape))
    groups: list[tuple[list[str], list[str]]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        ga, gb, pa, pb = [a[i]], [b[j]], size_a[a[i]], size_b[b[j]]
        i, j = i + 1, j + 1
        if pa is None or pb is None:
            if pa is not None or pb is not None:
                return None
            groups.append((ga, gb))
            continue
        while pa != pb:
            if pa < pb and i < len(a) and size_a[a[i]] is not None:
                ga.append(a[i])
                pa, i = pa * size_a[a[i]], i + 1
            elif pb < pa and j < len(b) and size_b[b[j]] is not None:
                gb.append(b[j])
                pb, j = pb * size_b[b[j]], j + 1
            else:
                return None
        groups.append((ga, gb))
    if not groups or any(size_a[x] != 1 for x in a[i:]) or any(size_b[x] != 1 for x in b[j:]):
        return None
    groups[-1][0].extend(a[i:])  # trailing size-1 axes ride with the last group
    groups[-1][1].extend(b[j:])
    return groups


def unit_moves_only(src: str, dst: str, spec: TensorSpec) -> bool:
    """True when going from ``src`` to ``dst`` moves only axes of size 1 (no data moves)."""
    return [a for a in src if spec.dim(a) != 1] == [a for a in dst if spec.dim(a) != 1]


def positional_layout(held: str, spec: TensorSpec) -> str:
    """The layout to hold a reshape's result ``spec`` in where only a Flatten or a Reshape reads it (they take
    the entries in the order they are held, so no reader needs a layout): the declared one, batch first, where
    only size-1 axes stand between it and ``held`` (the same entries in the same order, written to the shape
    the model declares, which the importers read back as it is: a channel shuffle of a 1x1 map, then
    flattened); else ``held``."""
    declared = "N" + spec.layout.replace("N", "")
    return declared if unit_moves_only(held, declared, spec) else held


def reshape_for(value: Value, phys: str) -> tuple | None:
    """The target shape (batch axis excluded, -1 for one unknown size) when holding ``value`` in ``phys`` moves
    only axes of size 1 -- every other axis keeps its place relative to the others, so the elements stay in
    memory order and a reshape is a transpose for free; None when a real transpose is needed."""
    sizes = dict(zip(value.spec.layout, value.spec.shape))
    if value.phys[0] != "N" or phys[0] != "N" or value.feat is not None:
        return None
    if [a for a in value.phys if sizes[a] != 1] != [a for a in phys if sizes[a] != 1]:
        return None
    shape = tuple(-1 if sizes[a] is None else sizes[a] for a in phys[1:])
    return shape if shape.count(-1) <= 1 else None
