"""``split_select``: one spelling for a part of an axis a reshape splits (run in ``rewrites.REWRITES``).

An attention's ``qkv`` projection is often split into its query, key and value by a reshape and an unbind:
``qkv.reshape(B, T, 3, heads, dim)`` and then part ``i`` of the axis of size 3. ``from_torch`` reads the unbind
as a one-wide ``Slice`` and a sum dropping that axis, in torch's letters for the reshape (``NCDHW``);
``to_keras`` writes the same slice and sum on the tensor Keras holds, which ``from_keras`` reads back in Keras's
letters (``NDHWC``), so the two readings name the reshape, and every tensor up to the heads' permute,
differently, and the three parts ask for three namings of the one reshape. Where the part taken is of the
first of the axes the reshape splits one axis into, it is one contiguous run of that axis: the rule slices the
run first and reshapes what it keeps, each part with a reshape of its own, whose letters the attention's role
naming (``relabel.rename_letters``) then chooses alike for both importers.

Exact: a Reshape reads its input row-major, so part ``i`` of the first axis of a split group of sizes
``(k, r1, r2, ...)`` holds entries ``i * r .. (i + 1) * r - 1`` (``r = r1 * r2 * ...``) of the split axis, in
order; the sum over one entry adds nothing to it. Nothing else moves.
"""

from __future__ import annotations

import math

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from .rebuild import Rebuild
from .spellings import summed_slice


def _split_axis(before: ir.TensorSpec, after: ir.TensorSpec, j: int) -> bool:
    """Whether ``after`` is ``before`` with axis ``j`` split into axes ``j .. j + k - 1`` (every other axis the
    same size at its place, the split sizes known)."""
    k = after.rank - before.rank + 1
    if j < 1 or k < 2 or before.shape[:j] != after.shape[:j] or before.shape[j + 1 :] != after.shape[j + k :]:
        return False
    parts = after.shape[j : j + k]
    return None not in parts and before.shape[j] == math.prod(parts)


def split_select(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape splitting one axis -> a one-wide Slice of the first axis it splits it into -> a sum dropping
    that axis (each the only reader of the last; the reshape may have other readers): the Slice of the run of
    the unsplit axis that part holds, then a reshape of it (a View where the split is one, else a Reshape) to
    the sum's shape and letters."""
    layer, cut = node.layer, summed_slice(rb, node)
    if cut is None:
        return None
    split = cut.inputs[0].node
    if split.is_input or not isinstance(split.layer, (L.Reshape, O.View)) or len(split.inputs) != 1:
        return None
    if isinstance(split.layer, O.View) and split.layer.crosses_batch:
        return None
    axis, spec, source = layer.axes, split.spec, split.inputs[0]
    if cut.layer.axis != axis or len(axis) != 1 or cut.spec.dim(axis) != 1 or spec.layout[0] != "N":
        return None
    j = spec.layout.index(axis)
    if source.spec.layout[0] != "N" or not _split_axis(source.spec, spec, j):
        return None
    x = rb.tensor(source)
    if x.layout != source.spec.layout or node.spec.layout[0] != "N" or node.spec.shape[1:].count(None) > 1:
        return None
    run = math.prod(spec.shape[j + 1 : j + spec.rank - source.spec.rank + 1])
    start, stop = cut.layer.bounds(spec)[1:]
    end = None if stop * run == source.spec.shape[j] else stop * run
    kept = rb.add(L.Slice(source.spec.layout[j], start * run, end), [x], {}, cut)
    target = tuple(-1 if s is None else s for s in node.spec.shape[1:])
    # of the split's kind: a View stays one (from_torch reads a reshape of windows, a regrouped batch, so)
    again = (
        O.View(target, node.spec.layout)
        if isinstance(split.layer, O.View)
        else L.Reshape(target, layout=node.spec.layout)
    )
    return rb.add(again, [kept], {}, node)


#: the rules of this file, in the order ``rewrites.REWRITES`` runs them
RULES = (("split_select", split_select),)
