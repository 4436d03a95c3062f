"""``bare_weight``: a learned weight that a Binary op reads through a Reshape adding size-1 axes reads it bare.

An op-tier ``Learned`` weight (Llama's RMSNorm scale, ``NC``) multiplied into the data (``NTC``) broadcasts
by letter: the IR needs no size-1 axis for the letters it lacks. A framework broadcasts by position, so
``to_keras`` writes a Reshape to ``(1, C)`` first, and ``from_keras`` reads that Reshape back (``NC`` ->
``NTC``). Exact: broadcasting a missing letter and a letter of size 1 give the same numbers. Run in
``rewrites.REWRITES``.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from .rebuild import Rebuild


def _widened_weight(rb: Rebuild, t: ir.Tensor) -> ir.Tensor | None:
    """The Learned tensor ``t`` reshapes by adding size-1 axes only (its letters kept in order, every reader
    a Binary), as this walk has it; else None."""
    node = t.node
    if node.is_input or not isinstance(node.layer, (L.Reshape, O.View)) or id(node) in rb.outputs:
        return None
    if isinstance(node.layer, O.View) and (node.layer.merge != 1 or node.layer.split != 1):
        return None
    source = node.inputs[0]
    if source.node.is_input or not isinstance(source.node.layer, O.Learned):
        return None
    before, after = source.spec, node.spec
    kept = [a for a in after.layout if a in before.layout]
    if kept != list(before.layout) or any(after.dim(a) != 1 for a in after.layout if a not in before.layout):
        return None
    if any(after.dim(a) != before.dim(a) for a in before.layout if a != "N"):
        return None
    if any(not isinstance(u.layer, O.Binary) for u in rb.users(node)):
        return None
    weight = rb.tensor(source)
    return weight if weight.layout == before.layout else None


def bare_weight(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Binary op reading a Learned weight through a Reshape that only adds size-1 axes, its other input
    holding every letter of that Reshape: the Binary of the weight itself (broadcast by letter)."""
    if node.is_input or not isinstance(node.layer, O.Binary) or len(node.inputs) != 2:
        return None
    for i, t in enumerate(node.inputs):
        weight = _widened_weight(rb, t)
        other = node.inputs[1 - i]
        if weight is None or not set(t.spec.layout) <= set(other.spec.layout):
            continue
        new = [rb.tensor(x) for x in node.inputs]
        if new[1 - i].layout != other.spec.layout:
            return None
        new[i] = weight
        out = rb.add(node.layer, new, rb.old_weights(node), node)
        return out if (out.layout, out.shape) == (node.spec.layout, node.spec.shape) else None
    return None


#: these rules, in the order ``rewrites.REWRITES`` runs them
RULES = (("bare_weight", bare_weight),)
