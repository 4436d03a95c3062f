"""Rewrites for what follows an input declared in another layout (run in ``rewrites.REWRITES``).

``declared_input_layout`` declares a model input in the layout a Permute and a relabel amount to (a model
``to_keras`` compiled from an ``NCHW`` model, which Keras holds ``NHWC``, reads back ``NCHW``); the layers
downstream follow the new order (``rebuild.py``). Two kinds would otherwise come back in a spelling no source
writes:

* ``relaid_learned``: a ``Learned`` weight in the layout the input left (a ConvNeXt layer scale, ``(1, 1, C)``
  ``NHWC``) is held in the one it was declared in instead (``(C, 1, 1)`` ``NCHW``), its value transposed to
  match: the same tensor by letter, so the element-wise ops reading it follow the new order too.
* ``channel_norm_pair``: a ``LayerNorm`` over its input's last axes, which the new order would leave
  normalising inner ones (over ``C`` of an ``NCHW`` tensor), keeps its input's former order between a
  ``Permute`` pair: how torch, whose ``layer_norm`` normalises the last axes, writes it (timm's and
  torchvision's ``LayerNorm2d``), with the ``Dense`` layers and activations that alone read it (torchvision's
  and timm's ConvNeXt blocks run their MLP between the same pair).

An ``Embedding``'s vectors are declared anew the same way where convolutions read them:

* ``convolved_embedding``: an ``Embedding`` whose vectors (``C`` last: ``NTC``, ``NHWC``) only convolutions read,
  in that order, directly or through a ``Dropout`` or an activation (how Keras convolves them, and how
  ``from_keras`` reads a text CNN ``to_keras`` compiled: it drops the ``Permute`` Keras's channels-last ``Conv1D``
  does not need), has them moved channels first by a ``Permute`` just before the convolutions (torch's
  ``dropout(embed(ids)).permute(0, 2, 1)`` before its ``Conv1d``); the convolutions and the layers after them
  follow that order (``rebuild.py``), as ``from_torch`` reads them. A model that permutes before its dropout
  comes back from Keras with the ``Permute`` after it: one order for the same entries.

All three rename or move letters only: what the model computes is unchanged, bit for bit.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from .rebuild import Rebuild, letters_only


def relaid_learned(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Learned`` in a layout an input was declared out of: in the layout it was declared in, transposed."""
    layer = node.layer
    layout = rb.relayout.get(layer.layout) if isinstance(layer, O.Learned) else None
    if layout is None or layout[0] != "N" or sorted(layout) != sorted(layer.layout):
        return None
    order = [layer.layout.index(a) - 1 for a in layout[1:]]  # the weight has no batch axis
    weights = {k: np.ascontiguousarray(np.transpose(v, order)) for k, v in rb.old_weights(node).items()}
    shape = tuple(layer.shape[i] for i in order)
    return rb.add(layer.replace(shape=shape, layout=layout), [rb.tensor(t) for t in node.inputs], weights, node)


def _axes(layer: L.LayerNorm) -> set[str] | None:
    axes = layer.axis if isinstance(layer.axis, tuple) else (layer.axis,)
    return set(axes) if all(isinstance(a, str) for a in axes) else None


#: what follows a ``channel_norm_pair`` LayerNorm inside the pair, as torch writes it (torchvision's and timm's
#: ConvNeXt block: permute, LayerNorm, Linear, GELU, Linear, permute back): each acts on ``C`` or entry by entry
_IN_PAIR = (L.Dense, L.Activation, L.Dropout, L.Identity)


def channel_norm_pair(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``LayerNorm`` over the last axes of its input, which this walk moved so that they no longer are (or are
    in another order, which its weights would not follow): the ``LayerNorm`` in the input's former order,
    between a ``Permute`` to it and one back; the ``Dense`` layers and activations that alone read it, one after
    another, go inside the pair with it."""
    if node.is_input or not isinstance(node.layer, L.LayerNorm) or len(node.inputs) != 1:
        return None
    old, new = node.inputs[0].spec.layout, rb.tensor(node.inputs[0])
    axes = _axes(node.layer)
    if axes is None or new.layout == old or sorted(new.layout) != sorted(old):
        return None
    last = len(old) - len(axes)
    if set(old[last:]) != axes or new.layout[last:] == old[last:]:
        return None  # not over the last axes, or over the same ones in the same order still
    with ir.block(*node.block) if node.block else contextlib.nullcontext():
        held = L.Permute(old)(new)
    out, end, inside = rb.add(node.layer, [held], rb.old_weights(node), node), node, []
    while (user := rb.only_user(end)) is not None and isinstance(user.layer, _IN_PAIR) and letters_only(user.layer):
        out, end = rb.add(user.layer, [out], rb.old_weights(user), user), user
        inside.append(user)
    with ir.block(*end.block) if end.block else contextlib.nullcontext():
        back = L.Permute(new.layout)(out)
    for user in inside:  # taken here: the last one's readers read the Permute back
        rb.new[id(user)] = back
    return back


#: the convolutions torch writes channels first (a ``Conv1d`` after ``embed(ids).permute(0, 2, 1)``)
_CONVS = L.CONVOLUTIONS


#: what may stand between an ``Embedding`` and the convolutions it feeds: layers that act on each entry alone
_PER_ENTRY = (L.Dropout, L.Activation, L.ReLU, L.Identity)


def convolved_embedding(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """An ``Embedding`` whose vectors, ``C`` last, only convolutions read (directly, or through layers that act on
    each entry alone, each the only reader of the one before: a ``Dropout``): the vectors moved channels first by
    a ``Permute`` just before the convolutions, which read them in that order instead (``rebuild.py`` moves what
    follows them)."""
    link = node
    while not link.is_input and isinstance(link.layer, _PER_ENTRY) and rb.only_user(link.inputs[0].node) is link:
        link = link.inputs[0].node
    if link.is_input or not isinstance(link.layer, L.Embedding) or id(node) in rb.outputs:
        return None
    layout, users = node.spec.layout, rb.users(node)
    if layout[0] != "N" or layout[-1] != "C" or len(layout) < 3:
        return None
    if not users or not all(isinstance(u.layer, _CONVS) and u.inputs[0].node is node for u in users):
        return None
    return rb.add(L.Permute("NC" + layout[1:-1]), [rb.copy(node)], {}, node, name=f"{node.name}_permute")


RULES = (
    ("relaid_learned", relaid_learned),
    ("channel_norm_pair", channel_norm_pair),
    ("convolved_embedding", convolved_embedding),
)
