"""Rewrites giving one spelling to what torch and Keras write two ways (run in ``rewrites.REWRITES``).

* ``default_scale``: an attention ``scale`` equal, as a float32 number, to its default ``1 / sqrt(E)`` (torch's
  and Keras's steps write it out, often rounded in the last decimal) is the default.
* ``cropped_rows``: ``to_keras``'s slice (a Reshape to ``(rows, axis, cols)``, a Cropping2D of the middle axis,
  a Reshape back; Keras has no slicing layer) is the Slice of that axis.
* ``narrow_slice``: a ``Narrow`` of step 1 (how ``from_torch`` reads ``unbind``, and ``from_keras`` a
  ``keras.ops`` slice), or of a step that keeps one entry, is the ``Slice`` it equals, and a ``Slice`` running
  to the end of its axis says so with ``stop=None`` (``x[:, 2:3]`` of a 3-wide axis and ``x[:, 2:]`` are one
  computation).
* ``narrow_stop``: a ``Narrow`` of a step above 1 gets one ``stop`` for the entries it keeps (``x[:, 1::2]``,
  ``x[:, 1:8:2]`` and ``x[:, 1:7:2]`` of an 8-wide axis; Swin's patch merging).
* ``image_crop``: a ``Slice`` of H or W of an image map is the ``Cropping2D`` it equals, and two crops one after
  the other are one (``from_torch`` reads ``x[:, a:b, c:d]`` as one Cropping2D, ``to_keras`` writes a Slice of
  a spatial axis as a Cropping2D; Swin's patch merging of a 2x2 map).
* ``pad_order``: a ``Pad`` lists the axes it pads in its input's order (torch's ``F.pad`` names the last first).
* ``select_first``: a Permute -> a one-wide Slice -> a sum dropping that axis (``unbind`` of a permuted tensor,
  each the only reader of the last) is the Slice and the sum of the tensor before the Permute, then a Permute of
  what is left (the same entries in the same order; torch's ``permute(...).unbind(0)`` reads back so from
  ``to_torch``, which selects first); a Transpose op (a regrouped batch's, MobileViT's) likewise, ending in one.
* ``unit_select``: a one-wide ``Slice`` and a Reshape dropping that axis (how ``from_torch`` reads ``qkv[0]``
  with its layers) is the ``Slice`` and a sum over the axis (how it reads it with its ops).
* ``no_op``: an ``Activation("linear")``, an ``Identity`` or a ``Slice`` of a whole axis that is not a model
  output is its input (both backends compile it to nothing, so it cannot read back; ``keras.applications``'
  ConvNeXt writes such an activation where stochastic depth is off, and torchvision's AlexNet such slices in
  its adaptive pooling of a 1x1 map).
* ``scalar_rescaling``: a float32 tensor computed from an input (not a rotary table) plus, minus, times or divided
  by a number (a ``Binary`` with a ``scalar``; ``c - x`` too) or negated (``Unary("neg")``) is the ``Rescaling`` it
  equals, a division by ``c`` as the product with ``1 / c`` (within a rounding of ``x / c``): how ``from_torch``
  reads such arithmetic, now one spelling whether ``keras.ops`` (MobileNetV3's ``x * (1 / 6)``) or torch wrote it.
* ``scale_then_shift``: a scalar ``Rescaling`` that only scales read only by one that only shifts is the one
  ``Rescaling(scale, offset)`` (``x * scale + offset``, the same two roundings): how ``from_torch`` reads
  ``to_torch``'s ``x * scale + offset`` (MobileNetV3's ``Rescaling(1 / 127.5, offset=-1)``).
* ``plain_activation``: a ``ReLU`` with its defaults (Keras's ``ReLU()`` layer) and a ``Unary`` relu, sigmoid or
  tanh (``keras.ops.relu``) are the ``Activation`` of that name, as ``from_torch`` reads ``nn.ReLU`` and
  ``torch.relu`` (and ``fuse_activation`` then folds it into the convolution or ``Dense`` before it).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from ....ir.layout import spatial_axes
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
    if top or bottom or rows.spec.layout != "NHWC" or node.spec.layout != spec.layout:
        return None
    if sorted(x.layout) != sorted(spec.layout):  # held in another order of its letters: the Slice of the letter
        return None
    _, r, size, c = rows.spec.shape
    for i in range(1, spec.rank):
        before, after = _product(spec.shape[1:i]), _product(spec.shape[i + 1 :])
        kept = spec.shape[:i] + (size - a - b,) + spec.shape[i + 1 :]
        if (before, spec.shape[i], after) == (r, size, c) and tuple(node.spec.shape) == kept:
            return rb.add(L.Slice(spec.layout[i], a, size - b), [x], {}, node)
    return None


def narrow_slice(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A step-1 Narrow of a non-batch axis of known size, or one whose step keeps one entry (Swin's patch merging
    of a 2x2 map): the Slice it equals; a Slice to its axis's end: ``stop=None``."""
    layer = node.layer
    if node.is_input or not isinstance(layer, (O.Narrow, L.Slice)) or len(node.inputs) != 1:
        return None
    spec = node.inputs[0].spec
    axis = layer.axis if isinstance(layer.axis, str) else None
    if axis is None or axis == "N" or axis not in spec.layout or spec.dim(axis) is None:
        return None
    stop = None if layer.stop is None or layer.stop >= spec.dim(axis) else layer.stop
    if isinstance(layer, O.Narrow):
        kept = range(layer.start, spec.dim(axis) if stop is None else stop, layer.step)
        if len(kept) == 1:  # a step that keeps one entry (x[:, 0::2] of two): that entry
            stop = None if kept[0] + 1 >= spec.dim(axis) else kept[0] + 1
        elif layer.step != 1:
            return None
    elif stop == layer.stop:
        return None
    return rb.copy(node, L.Slice(axis, layer.start, stop))


def narrow_stop(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Narrow of a step above 1 (an axis of known size): the one ``stop`` for the entries it keeps, None where no
    other follows them before the end, else one past the last."""
    layer = node.layer
    if node.is_input or not isinstance(layer, O.Narrow) or layer.step == 1 or len(node.inputs) != 1:
        return None
    size = node.inputs[0].spec.dim(layer.axis) if layer.axis in node.inputs[0].spec.layout else None
    if size is None:
        return None
    last = range(layer.start, size if layer.stop is None else layer.stop, layer.step)[-1]
    stop = None if last + layer.step >= size else last + 1
    return None if stop == layer.stop else rb.copy(node, layer.replace(stop=stop))


def pad_order(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Pad`` listing its axes out of its input's order, or an axis padded by nothing: the same ``Pad`` of the
    padded axes in the input's order (torch's ``F.pad`` names the last axis first, Keras's ``ops.pad`` each in
    order)."""
    layer = node.layer
    if node.is_input or not isinstance(layer, O.Pad) or len(node.inputs) != 1:
        return None
    layout = node.inputs[0].spec.layout
    padded = [(a, p) for a, p in zip(layer.axes, layer.pads) if p != (0, 0) and a in layout]
    pads = sorted(padded, key=lambda e: layout.index(e[0]))
    axes = "".join(a for a, _ in pads)
    if not pads or axes == layer.axes:
        return None
    return rb.copy(node, layer.replace(axes=axes, pads=tuple(p for _, p in pads)))


def _image_crop(layer, spec: ir.TensorSpec) -> tuple | None:
    """``((top, bottom), (left, right))`` that ``layer``, a Cropping2D or a Slice of H or W, keeps of ``spec``, an
    image map (``N``, ``C``, ``H`` and ``W``, of known sizes); None for anything else."""
    spatial = spatial_axes(spec.layout)
    if spec.rank != 4 or "C" not in spec.layout or sorted(spatial) != ["H", "W"] or None in spec.shape[1:]:
        return None
    if type(layer) is L.Cropping2D:
        return layer.cropping
    if not isinstance(layer, L.Slice) or not isinstance(layer.axis, str) or layer.axis not in spatial:
        return None
    size = spec.dim(layer.axis)
    cut = (layer.start, size - (size if layer.stop is None else layer.stop))
    return tuple(cut if a == layer.axis else (0, 0) for a in spatial)


def image_crop(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Slice of H or W of an image map is the ``Cropping2D`` it equals, and a Cropping2D (or such a Slice) of
    one that it alone reads is one ``Cropping2D`` (how ``from_torch`` reads ``x[:, a:b, c:d]``: Swin's patch
    merging of a 2x2 map, ``to_keras``'s Cropping2D of one axis)."""
    if node.is_input or len(node.inputs) != 1:
        return None
    crop = _image_crop(node.layer, node.inputs[0].spec)
    if crop is None:
        return None
    first, inputs = node.inputs[0].node, None
    inner = None if first.is_input or len(first.inputs) != 1 else _image_crop(first.layer, first.inputs[0].spec)
    if inner is not None and rb.only_user(first) is node and first.inputs[0].spec.layout == node.spec.layout:
        crop = tuple((a + c, b + d) for (a, b), (c, d) in zip(inner, crop))
        inputs = first.inputs
    elif type(node.layer) is L.Cropping2D:
        return None
    return rb.copy(node, L.Cropping2D(crop, name=node.layer.name), inputs=inputs)


def summed_slice(rb: Rebuild, node: ir.Node) -> ir.Node | None:
    """The Slice that ``node``, a sum dropping its axis, reads as its only reader (how an ``unbind`` reads
    back: a one-wide slice summed away), else None."""
    layer = node.layer
    if node.is_input or not isinstance(layer, O.Reduce) or layer.fn != "sum" or layer.keepdims:
        return None
    cut = node.inputs[0].node
    if cut.is_input or not isinstance(cut.layer, L.Slice) or rb.only_user(cut) is not node:
        return None
    return cut


def select_first(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Permute (or Transpose) -> one-wide Slice -> a sum dropping that axis (each the only reader of the last):
    the Slice and the sum of the tensor before the Permute, then a Permute to the sum's letters (the same
    entries in the same order)."""
    layer, cut = node.layer, summed_slice(rb, node)
    if cut is None:
        return None
    permute = cut.inputs[0].node
    if (
        permute.is_input
        or not isinstance(permute.layer, (L.Permute, O.Transpose))
        or any(not isinstance(u.layer, L.Slice) for u in rb.users(permute))
    ):
        return None
    axis, source = layer.axes, permute.inputs[0]
    if cut.layer.axis != axis or cut.spec.dim(axis) != 1 or node.spec.layout[0] != "N":
        return None
    x = rb.tensor(source)
    if x.layout != source.spec.layout or source.spec.layout[0] != "N":
        return None
    summed = rb.add(layer, [rb.add(cut.layer, [x], {}, cut)], {}, node)
    if summed.layout == node.spec.layout:
        return summed
    order = node.spec.layout
    kind = O.Transpose if isinstance(permute.layer, O.Transpose) else L.Permute  # a relabelling stays one
    with ir.block(*node.block) if node.block else contextlib.nullcontext():  # a name of its own: one per select
        return kind(order, name=f"{node.name}_{order.lower()}")(summed)


def unit_select(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A one-wide Slice -> a Reshape that drops that axis, every other size kept in order (its only reader): the
    sum over that axis (the same entries), as the op tier reads a select (``qkv[0]``), then the Reshape where it
    names the axes anew."""
    if node.is_input or not isinstance(node.layer, (L.Reshape, O.View)) or len(node.inputs) != 1:
        return None
    if isinstance(node.layer, O.View) and node.layer.crosses_batch:
        return None
    cut = node.inputs[0].node
    if cut.is_input or not isinstance(cut.layer, L.Slice) or rb.only_user(cut) is not node:
        return None
    axis, before = cut.layer.axis, cut.spec
    if not isinstance(axis, str) or axis == "N" or before.dim(axis) != 1:
        return None
    kept = [(a, s) for a, s in zip(before.layout, before.shape) if a != axis]
    if [s for _, s in kept] != list(node.spec.shape) or kept[0][0] != "N" or node.spec.layout[0] != "N":
        return None
    if [a for a, _ in kept] == list(node.spec.layout):
        return rb.add(O.Reduce("sum", axis), [rb.tensor(node.inputs[0])], {}, node)
    with ir.block(*node.block) if node.block else contextlib.nullcontext():  # then named as the Reshape names
        summed = O.Reduce("sum", axis, name=f"{node.name}_sum")(rb.tensor(node.inputs[0]))
    return rb.add(node.layer, [summed], {}, node)


def _whole(layer: L.Slice, spec: ir.TensorSpec) -> bool:
    i, start, stop = layer.bounds(spec)
    return start == 0 and stop == spec.shape[i]


def no_op(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """An identity ``Activation``, ``Identity`` layer or whole-axis ``Slice``, not a model output: its input."""
    layer = node.layer
    identity = isinstance(layer, L.Identity) or (isinstance(layer, L.Activation) and layer.activation == "linear")
    if not identity and not (isinstance(layer, L.Slice) and _whole(layer, node.inputs[0].spec)):
        return None
    if id(node) in rb.outputs or len(node.inputs) != 1:
        return None
    return rb.tensor(node.inputs[0])


def number_affine(fn: str, c: float, scalar_first: bool) -> tuple[float, float] | None:
    """``(scale, offset)`` of ``x fn c`` (``c fn x`` where ``scalar_first``) for ``fn`` add, sub, mul or div:
    the ``Rescaling`` it equals, None where none is (a number divided by a tensor, a division by 0). Shared by
    this rule and ``from_torch``'s arithmetic, so both read a number's arithmetic alike."""
    if fn == "add":
        return 1.0, c
    if fn == "mul":
        return c, 0.0
    if fn == "sub":
        return (-1.0, c) if scalar_first else (1.0, -c)
    if fn == "div" and not scalar_first and c != 0:
        return 1.0 / c, 0.0
    return None


def scalar_rescaling(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A float32 ``Binary`` of a tensor and a finite number (add, sub, mul; div by the number) or a ``Unary("neg")``:
    the ``Rescaling`` it equals."""
    layer = node.layer
    if node.is_input or len(node.inputs) != 1 or node.inputs[0].spec.dtype != "float32":
        return None
    if isinstance(layer, O.Unary) and layer.fn == "neg":
        affine = (-1.0, 0.0)
    elif isinstance(layer, O.Binary) and layer.scalar is not None and math.isfinite(layer.scalar):
        affine = number_affine(layer.fn, float(layer.scalar), layer.scalar_first)
    else:
        return None
    if affine is None or node.spec.dtype != "float32" or _data_free(rb, node.inputs[0].node):
        return None
    return rb.copy(node, L.Rescaling(*affine, name=layer.name))


def _data_free(rb: Rebuild, node: ir.Node) -> bool:
    """Whether ``node`` computes from no input's values, only from weights and positions (Llama's rotary tables,
    which ``from_torch`` reads as ops and ``to_torch`` keeps without the batch: a Rescaling there would not).
    Found for the whole old graph at once, in its topological order, and kept for the walk."""
    free = rb.memo.get("data_free")
    if free is None:
        free = set()
        for n in rb.model.nodes:
            if isinstance(n.layer, (O.Positions, O.Learned, L.LearnedConstant)) or (
                not n.is_input and n.inputs and all(id(t.node) in free for t in n.inputs)
            ):
                free.add(id(n))
        rb.memo["data_free"] = free
    return id(node) in free


def scale_then_shift(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """``Rescaling(1, offset)`` of a ``Rescaling(scale, 0)`` it alone reads, both scalar: one ``Rescaling``."""
    layer = node.layer
    if node.is_input or not isinstance(layer, L.Rescaling) or layer.per_channel or layer.scale != 1.0:
        return None
    first = node.inputs[0].node
    if first.is_input or not isinstance(first.layer, L.Rescaling) or first.layer.per_channel:
        return None
    if first.layer.offset != 0.0 or rb.only_user(first) is not node:
        return None
    return rb.copy(node, L.Rescaling(first.layer.scale, layer.offset, name=layer.name), inputs=first.inputs)


def plain_activation(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``ReLU()`` with its defaults, or a float32 ``Unary`` relu, sigmoid or tanh: that ``Activation``."""
    layer = node.layer
    if isinstance(layer, L.ReLU) and layer == L.ReLU(name=layer.name):
        return rb.copy(node, L.Activation("relu", name=layer.name))
    if isinstance(layer, O.Unary) and layer.fn in ("relu", "sigmoid", "tanh") and node.spec.dtype == "float32":
        return rb.copy(node, L.Activation(layer.fn, name=layer.name))
    return None


#: these rules, in the order ``rewrites.REWRITES`` runs them (``cropped_rows`` it runs earlier, before ``unit_reshape``)
RULES = (
    ("no_op", no_op),
    ("default_scale", default_scale),
    ("narrow_slice", narrow_slice),
    ("narrow_stop", narrow_stop),
    ("image_crop", image_crop),
    ("pad_order", pad_order),
    ("unit_select", unit_select),
    ("select_first", select_first),
    ("scalar_rescaling", scalar_rescaling),
    ("scale_then_shift", scale_then_shift),
    ("plain_activation", plain_activation),
)
