"""Rewrites giving one spelling to what torch and Keras write two ways (run in ``rewrites.REWRITES``).

* ``default_scale``: an attention ``scale`` equal, as a float32 number, to its default ``1 / sqrt(E)`` (torch's
  and Keras's steps write it out, often rounded in the last decimal) is the default.
* ``cropped_rows``: ``to_keras``'s slice (a Reshape to ``(rows, axis, cols)``, a Cropping2D of the middle axis,
  a Reshape back; Keras has no slicing layer) is the Slice of that axis.
"""

from __future__ import annotations

import math

import numpy as np

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from .rebuild import Rebuild


def default_scale(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """An attention whose ``scale`` is, as a float32 number, its default ``1 / sqrt(E)`` (``E`` the query's
    features, its last axis): the default (torch's and Keras's steps write it out, often rounded in its last
    decimal; float32 arithmetic reads the same number either way)."""
    layer = node.layer
    if node.is_input or not isinstance(layer, O.ScaledDotProductAttention) or layer.scale is None:
        return None
    features = node.inputs[0].spec.shape[-1]
    if not isinstance(features, int) or np.float32(layer.scale) != np.float32(1 / math.sqrt(features)):
        return None
    return rb.copy(node, layer.replace(scale=None))


def _product(sizes) -> int | None:
    return None if None in sizes else math.prod(sizes)


def cropped_rows(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape to ``(rows, axis, cols)`` -> Cropping2D of that middle axis -> Reshape back (each the only reader
    of the last; ``to_keras``'s form of a slice, Keras having no slicing layer): the Slice of that axis."""
    if node.is_input or not isinstance(node.layer, L.Reshape) or node.inputs[0].node.is_input:
        return None
    crop = node.inputs[0].node
    if not isinstance(crop.layer, L.Cropping2D) or rb.only_user(crop) is not node:
        return None
    rows = crop.inputs[0].node
    if rows.is_input or not isinstance(rows.layer, L.Reshape) or rb.only_user(rows) is not crop:
        return None
    (top, bottom), (a, b) = crop.layer.cropping
    source = rows.inputs[0]
    x, spec = rb.tensor(source), source.spec
    if top or bottom or rows.spec.layout != "NHWC" or x.layout != spec.layout or node.spec.layout != spec.layout:
        return None
    _, r, size, c = rows.spec.shape
    for i in range(1, spec.rank):
        before, after = _product(spec.shape[1:i]), _product(spec.shape[i + 1 :])
        kept = spec.shape[:i] + (size - a - b,) + spec.shape[i + 1 :]
        if (before, spec.shape[i], after) == (r, size, c) and tuple(node.spec.shape) == kept:
            return rb.add(L.Slice(spec.layout[i], a, size - b), [x], {}, node)
    return None
