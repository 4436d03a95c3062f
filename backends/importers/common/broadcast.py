"""``unit_broadcast``: a Reshape that only inserts size-1 axes, read only by broadcasting element-wise ops,
is not needed where the IR broadcasts by letter.

An op-tier ``Learned`` weight (Llama's RMSNorm scale, ``NC``; a ConvNeXt layer scale) multiplied into the data
(``NTC``, ``NHWC``) broadcasts by letter: the IR needs no size-1 axis for the letters it lacks. A framework
broadcasts by position, so ``to_keras`` writes a Reshape to ``(1, C)`` or ``(1, 1, C)`` first, and the
importers read that Reshape (or View) back. Exact: broadcasting a missing letter and a letter of size 1 give
the same numbers. Run in ``rewrites.REWRITES``.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from .rebuild import Rebuild

#: the merge layers that are a ``Binary`` of two tensors (size-1 axes broadcast)
MERGE_FNS = {L.Add: "add", L.Subtract: "sub", L.Multiply: "mul", L.Maximum: "max"}


def _fn(layer) -> str | None:
    """The ``Binary`` function ``layer`` computes on two tensors, if it is one of them."""
    if isinstance(layer, O.Binary):
        return layer.fn if layer.scalar is None else None
    return MERGE_FNS.get(type(layer))


def _widened(rb: Rebuild, t: ir.Tensor) -> ir.Tensor | None:
    """The tensor ``t``'s Reshape (or plain View) widens by inserting size-1 axes only, its letters kept in
    order, where every reader of ``t`` broadcasts (:func:`_fn`); else None."""
    node = t.node
    if node.is_input or t.index or not isinstance(node.layer, (L.Reshape, O.View)) or id(node) in rb.outputs:
        return None
    if isinstance(node.layer, O.View) and (node.layer.merge != 1 or node.layer.split != 1):
        return None
    before, after = node.inputs[0].spec, node.spec
    kept = [a for a in after.layout if a in before.layout]
    if kept != list(before.layout) or any(after.dim(a) != 1 for a in after.layout if a not in before.layout):
        return None
    if any(after.dim(a) != before.dim(a) for a in before.layout if a != "N"):
        return None
    if any(_fn(u.layer) is None for u in rb.users(node)):
        return None
    return node.inputs[0]


def unit_broadcast(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Binary`` or merge layer reading a tensor through a Reshape that only inserts size-1 axes, its other
    input holding every letter of that Reshape: the ``Binary`` of the tensor itself (broadcast by letter)."""
    fn = None if node.is_input else _fn(node.layer)
    if fn is None or len(node.inputs) != 2:
        return None
    for i, t in enumerate(node.inputs):
        source, other = _widened(rb, t), node.inputs[1 - i]
        if source is None or not set(t.spec.layout) <= set(other.spec.layout):
            continue
        new = [rb.tensor(x) for x in node.inputs]
        if new[1 - i].layout != other.spec.layout or rb.tensor(source).layout != source.spec.layout:
            return None
        new[i] = rb.tensor(source)
        out = rb.add(O.Binary(fn), new, {}, node)
        return out if (out.layout, out.shape) == (node.spec.layout, node.spec.shape) else None
    return None


#: these rules, in the order ``rewrites.REWRITES`` runs them
RULES = (("unit_broadcast", unit_broadcast),)
