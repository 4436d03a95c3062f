"""``unit_broadcast``: a Reshape that only inserts size-1 axes, read only by broadcasting element-wise ops,
is not needed where the IR broadcasts by letter.

An op-tier ``Learned`` weight (Llama's RMSNorm scale, ``NC``; a ConvNeXt layer scale) multiplied into the data
(``NTC``, ``NHWC``) broadcasts by letter: the IR needs no size-1 axis for the letters it lacks. A framework
broadcasts by position, so ``to_keras`` writes a Reshape to ``(1, C)`` or ``(1, 1, C)`` first, and the
importers read that Reshape (or View) back. Exact: broadcasting a missing letter and a letter of size 1 give
the same numbers. Run in ``rewrites.REWRITES``.

``unit_learned`` is the same rule for a weight stored with its size-1 axes (``to_torch`` views a layer scale
``(C,)`` to ``(C, 1, 1)`` for torch's broadcasting against ``NCHW``, which ``from_torch`` reads as a
``Learned`` ``(C, 1, 1)``; timm writes ``gamma.reshape(1, -1, 1, 1)``): the weight without them.

``input_reference`` and ``windows_reference`` give a ``Learned`` weight one reference for its batch: the
model's first input, or, where windows regrouped the batch, the View that regrouped it.
"""

from __future__ import annotations

import numpy as np

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
    if isinstance(node.layer, O.View) and node.layer.crosses_batch:
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


def unit_learned(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Binary`` or merge layer that alone reads a ``Learned`` weight with size-1 axes, its other input holding
    those letters and giving the result's layout and shape: the ``Binary`` of the weight without those axes
    (broadcast by letter). Not in a walk that moved either input's axes (the next walk sees them settled)."""
    fn = None if node.is_input else _fn(node.layer)
    if fn is None or len(node.inputs) != 2:
        return None
    for i, t in enumerate(node.inputs):
        learned, other = t.node, node.inputs[1 - i]
        if learned.is_input or not isinstance(learned.layer, O.Learned) or rb.only_user(learned) is not node:
            continue
        if (other.spec.layout, other.spec.shape) != (node.spec.layout, node.spec.shape):
            continue
        if rb.tensor(t).layout != t.spec.layout or rb.tensor(other).layout != other.spec.layout:
            continue
        layer = learned.layer
        units = [a for a, s in zip(layer.layout[1:], layer.shape) if s == 1 and a in other.spec.layout]
        if not units or len(units) == len(layer.shape):
            continue
        layout = "".join(a for a in layer.layout if a not in units)
        shape = tuple(s for a, s in zip(layer.layout[1:], layer.shape) if a not in units)
        weights = {k: np.ascontiguousarray(v.reshape(shape)) for k, v in rb.old_weights(learned).items()}
        new = [rb.tensor(x) for x in node.inputs]
        new[i] = rb.add(
            layer.replace(shape=shape, layout=layout), [rb.tensor(x) for x in learned.inputs], weights, learned
        )
        return rb.add(O.Binary(fn), new, {}, node)
    return None


def _batch_args(layer) -> bool:
    """Whether ``layer`` may change or move along the batch axis (a View across it, an op naming ``N``)."""
    if isinstance(layer, O.View):
        return layer.crosses_batch
    values = [getattr(layer, f, None) for f in ("axis", "axes", "letter")]
    axes = [a for v in values for a in (v if isinstance(v, (tuple, list)) else [v])]
    return any((isinstance(a, str) and "N" in a) or (isinstance(a, int) and a == 0) for a in axes)


def _first_batch(model: ir.Model, t: ir.Tensor) -> bool:
    """Whether ``t``'s batch is the model's first input's: every model input it depends on is that one, and
    nothing on the way changes the batch (:func:`_batch_args`)."""
    first, seen, stack = model.inputs[0].node, set(), [t.node]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.is_input:
            if node is not first:
                return False
            continue
        if _batch_args(node.layer):
            return False
        stack += [x.node for x in node.inputs]
    return True


def input_reference(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Learned`` weight repeated over the batch of a tensor whose batch is the model's first input's
    (Keras's ``LayerScale`` reads its gamma beside the data): repeated over that input's, as ``from_torch``
    writes every weight it reads. The same tensor: a ``Learned`` reads only its reference's batch size."""
    if node.is_input or not isinstance(node.layer, O.Learned) or len(node.inputs) != 1:
        return None
    first = rb.model.inputs[0]
    if node.inputs[0].node is first.node or not _first_batch(rb.model, node.inputs[0]):
        return None
    return rb.add(node.layer, [rb.tensor(first)], rb.old_weights(node), node)


def windows_reference(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Learned`` weight repeated over the batch of a tensor whose batch a View regrouped (windows: a Swin
    attention's relative position bias): repeated over that View's result, the first tensor with that batch
    (how its reader is written differs: torchvision's query, ``to_torch``'s last tensor before the weight). The
    same tensor: nothing between the View and the reference changes the batch (:func:`_batch_args`)."""
    if node.is_input or not isinstance(node.layer, O.Learned) or len(node.inputs) != 1:
        return None
    t = node.inputs[0]
    while not t.node.is_input and t.node.inputs:
        layer = t.node.layer
        if isinstance(layer, O.View) and layer.crosses_batch:
            break
        if _batch_args(layer):
            return None
        t = t.node.inputs[0]
    else:
        return None
    if t.node is node.inputs[0].node:
        return None
    return rb.add(node.layer, [rb.tensor(t)], rb.old_weights(node), node)


def widened_learned(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Binary`` or merge layer reading a ``Learned`` weight (no size-1 axis) through a Reshape (or plain
    View), each the other's only reader, that inserts size-1 axes and names the axes anew, its other input
    holding every letter of that Reshape: the ``Binary`` of the weight in those letters (broadcast by letter;
    ``to_torch``'s ``mask.reshape(N, 4, 1, 49, 49)`` of a shifted-window attention's mask)."""
    fn = None if node.is_input else _fn(node.layer)
    if fn is None or len(node.inputs) != 2:
        return None
    for i, t in enumerate(node.inputs):
        widen, other = t.node, node.inputs[1 - i]
        if widen.is_input or not isinstance(widen.layer, (L.Reshape, O.View)) or rb.only_user(widen) is not node:
            continue
        if isinstance(widen.layer, O.View) and widen.layer.crosses_batch:
            continue
        learned, after = widen.inputs[0].node, widen.spec
        if learned.is_input or not isinstance(learned.layer, O.Learned) or rb.only_user(learned) is not widen:
            continue
        kept = [(a, s) for a, s in zip(after.layout[1:], after.shape[1:]) if s != 1]
        if 1 in learned.layer.shape or tuple(s for _, s in kept) != learned.layer.shape:
            continue
        if not set(after.layout) <= set(other.spec.layout) or rb.tensor(other).layout != other.spec.layout:
            continue
        layout = "N" + "".join(a for a, _ in kept)
        inputs = [rb.tensor(x) for x in learned.inputs]
        new = [rb.tensor(x) for x in node.inputs]
        new[i] = rb.add(learned.layer.replace(layout=layout), inputs, rb.old_weights(learned), learned)
        out = rb.add(O.Binary(fn), new, {}, node)
        return out if (out.layout, out.shape) == (node.spec.layout, node.spec.shape) else None
    return None


def learned_merge(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A merge layer (``Add``, ...) of two tensors, one a ``Learned`` weight: the ``Binary`` it is (how
    ``from_torch`` reads a sum with what the model computes without its inputs, SwinV2's relative position bias,
    where ``to_torch``'s module reads back as ``x + y`` of two tensors)."""
    if node.is_input or type(node.layer) not in MERGE_FNS or len(node.inputs) != 2:
        return None
    if not any(not t.node.is_input and isinstance(t.node.layer, O.Learned) for t in node.inputs):
        return None
    inputs = [rb.tensor(t) for t in node.inputs]
    if any(x.layout != t.spec.layout for x, t in zip(inputs, node.inputs)):
        return None
    return rb.add(O.Binary(MERGE_FNS[type(node.layer)]), inputs, {}, node)


_WEIGHT_OPS = (O.Take, O.View, O.Transpose, L.Reshape, L.Permute)


def weight_ops(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Reshape or Permute of what a ``Learned`` weight alone gives through indexing, reshapes and permutes: the
    View or Transpose (how ``from_torch`` reads what the model computes without its inputs: a relative position
    bias ``table[index].view(n, n, -1).permute(2, 0, 1)``; ``to_torch``'s module reads back with layers)."""
    if node.is_input or not isinstance(node.layer, (L.Reshape, L.Permute)) or len(node.inputs) != 1:
        return None
    up = node.inputs[0].node
    while not up.is_input and isinstance(up.layer, _WEIGHT_OPS) and len(up.inputs) == 1:
        up = up.inputs[0].node
    if up.is_input or not isinstance(up.layer, O.Learned) or node.spec.layout[0] != "N":
        return None
    source = node.inputs[0]
    x = rb.tensor(source)
    if x.layout != source.spec.layout:
        return None
    if isinstance(node.layer, L.Permute):
        return rb.add(O.Transpose(node.spec.layout), [x], {}, node)
    shape = tuple(-1 if s is None else s for s in node.spec.shape[1:])
    return rb.add(O.View(shape, layout=node.spec.layout), [x], {}, node)


def permuted_learned(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Permute (or Transpose, the batch first) that alone reads a ``Learned`` weight: the weight stored in the
    Permute's order (``to_torch`` holds a weight read by a broadcasting ``Binary`` channels first and permutes it
    back where torch cannot broadcast it: a shifted-window attention's mask, ``NDWC`` against ``NDHWC``)."""
    if node.is_input or not isinstance(node.layer, (L.Permute, O.Transpose)) or node.spec.layout[0] != "N":
        return None
    learned = node.inputs[0].node
    if learned.is_input or not isinstance(learned.layer, O.Learned) or rb.only_user(learned) is not node:
        return None
    layer, layout, before = learned.layer, node.spec.layout, learned.spec.layout
    if before[0] != "N" or rb.tensor(node.inputs[0]).layout != before:
        return None
    order = [before.index(a) - 1 for a in layout[1:]]
    weights = {k: np.ascontiguousarray(v.transpose(order)) for k, v in rb.old_weights(learned).items()}
    shape = tuple(layer.shape[i] for i in order)
    inputs = [rb.tensor(x) for x in learned.inputs]
    return rb.add(layer.replace(shape=shape, layout=layout), inputs, weights, learned)


#: these rules, in the order ``rewrites.REWRITES`` runs them
RULES = (
    ("unit_broadcast", unit_broadcast),
    ("unit_learned", unit_learned),
    ("input_reference", input_reference),
    ("windows_reference", windows_reference),
    ("permuted_learned", permuted_learned),
    ("widened_learned", widened_learned),
    ("weight_ops", weight_ops),
    ("learned_merge", learned_merge),
)
