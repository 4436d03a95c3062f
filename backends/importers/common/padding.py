"""Rewrites of padding: pads written apart or spelled out, made the padding the layer states itself.

torch writes a convolution's pads as numbers (``Conv2d(padding=1)``) and a separate ``ZeroPadding`` where they
differ per side; Keras writes ``padding="same"`` and cannot pad a max pool explicitly, so ``to_keras`` writes its
pads as copies of the edge. Each rule here is exact (the same arithmetic):

* ``fold_zero_padding``: a ``ZeroPadding1D/2D`` read only by a convolution, or by an average pooling
  (which then counts the pads, as the zeros were counted), becomes its explicit pads.
* ``edge_padded_max_pool``: a 'valid' max pool of a tensor padded by copies of its edge slices (Cropping
  and Concatenate layers, ``to_keras``'s exact form of explicit max-pool pads) is the max pool with those
  pads, while each pad is smaller than the window.
* ``same_padding``: explicit convolution, max-pool or (not counting its pads) average-pool pads equal to
  what ``padding="same"`` gives become ``"same"`` (at stride 1, odd kernels: torch's ``padding=k // 2``; at
  stride > 1 only where every spatial size is known, since TensorFlow's pads there depend on it); a window
  that pads nothing (zero pads, or ``"same"`` with a 1x1 kernel) is ``"valid"``, one spelling for one
  computation.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir.layers.conv import resolve_pads, spatial_of
from ....ir.layout import resolve_axis
from .rebuild import Rebuild

_PADS = {L.ZeroPadding1D: (L.Conv1D, L.DepthwiseConv1D, L.SeparableConv1D, L.AvgPool1D)}
_PADS[L.ZeroPadding2D] = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D, L.AvgPool2D)
_AVG = (L.AvgPool1D, L.AvgPool2D)


def fold_zero_padding(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """ZeroPadding -> convolution, or average pooling that counts its pads (its only reader): that layer with
    the pads added to its own. (A max pool pads with -inf, not zeros: never folded.)"""
    layer = node.layer
    if not isinstance(layer, (*L.CONVOLUTIONS, L.AvgPool1D, L.AvgPool2D)) or node.is_input:
        return None
    pad = node.inputs[0].node
    if type(pad.layer) not in _PADS or type(layer) not in _PADS[type(pad.layer)] or rb.only_user(pad) is not node:
        return None
    if isinstance(layer, (L.AvgPool1D, L.AvgPool2D)):
        if layer.padding != "valid" and not (isinstance(layer.padding, tuple) and layer.count_include_pad):
            return None
        own = resolve_pads(layer.padding, [None] * layer.rank, layer.pool_size, layer.strides, (1,) * layer.rank)
        changes = {"count_include_pad": True}
    else:
        own = resolve_pads(layer.padding, [None] * layer.rank, layer.kernel_size, layer.strides, layer.dilation_rate)
        changes = {}
    if None in own or layer.padding == "causal":
        return None
    pads = tuple((a + c, b + d) for (a, b), (c, d) in zip(pad.layer.padding, own))
    return rb.copy(node, layer.replace(padding=pads, **changes), [pad.inputs[0]])


def edge_padded_max_pool(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """'valid' max pool of ``x`` padded by copies of its edge slices (Concatenates of Croppings, each read only
    on the way to the pool; how ``to_keras`` writes explicit max-pool pads): the max pool with those pads.

    Exact while every pad is smaller than the window: each window then holds a real position, and an edge copy
    repeats a real value of the same window, so the max is the one over the real part, as with -inf pads."""
    layer = node.layer
    if not isinstance(layer, (L.MaxPool1D, L.MaxPool2D)) or layer.padding != "valid":
        return None
    pads, t, readers = [[0, 0] for _ in range(layer.rank)], node.inputs[0], {id(node)}
    while (stage := _edge_stage(rb, t.node, layer.rank)) is not None and _read_only_by(rb, t.node, readers):
        x, i, before, after = stage
        pads[i][0] += before
        pads[i][1] += after
        readers = {id(t.node)} | {id(u.node) for u in t.node.inputs if u is not x}  # the Concatenate, its crops
        t = x
    if t is node.inputs[0] or any(b >= k or a >= k for (b, a), k in zip(pads, layer.pool_size)):
        return None
    return rb.copy(node, layer.replace(padding=tuple(map(tuple, pads))), [t])


def _read_only_by(rb: Rebuild, node: ir.Node, readers: set) -> bool:
    return id(node) not in rb.outputs and all(id(u) in readers for u in rb.users(node))


def _edge_stage(rb: Rebuild, cat: ir.Node, nd: int) -> tuple | None:
    """(x, spatial index, before, after) where ``cat`` is ``x`` with ``before`` copies of its first slice and
    ``after`` of its last along one spatial axis (each a Cropping of ``x`` read by ``cat`` alone), else None."""
    if cat.is_input or not isinstance(cat.layer, L.Concatenate) or len(cat.inputs) < 2:
        return None
    letter = cat.spec.layout[resolve_axis(cat.layer.axis, cat.spec.layout)]
    crops = [t.node for t in cat.inputs]
    for j, x in enumerate(cat.inputs):
        spec = x.spec
        if spec.rank != nd + 2 or letter not in spec.layout or letter in "NC" or spec.dim(letter) is None:
            continue
        i, n = spatial_of(cat.layer, spec, nd).index(letter), spec.dim(letter)
        keep_first = tuple((0, n - 1) if k == i else (0, 0) for k in range(nd))
        keep_last = tuple((n - 1, 0) if k == i else (0, 0) for k in range(nd))
        sides = [(c, keep_first) for c in crops[:j]] + [(c, keep_last) for c in crops[j + 1 :]]
        if all(_crop_of(rb, c, x, keep, cat) for c, keep in sides):
            return x, i, j, len(crops) - j - 1
    return None


def _crop_of(rb: Rebuild, crop: ir.Node, x: ir.Tensor, keep: tuple, cat: ir.Node) -> bool:
    """Whether ``crop`` is a Cropping of ``x`` by ``keep`` read by ``cat`` alone."""
    if crop.is_input or type(crop.layer) not in (L.Cropping1D, L.Cropping2D) or crop.inputs[0] is not x:
        return False
    if id(crop) in rb.outputs or any(u is not cat for u in rb.users(crop)):
        return False
    return tuple(map(tuple, crop.layer.cropping)) == keep


def same_padding(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Explicit pads that are what 'same' gives (at stride > 1: for the known input size): ``padding="same"``;
    no padding at all (zero pads,
    or 'same' with a 1x1 kernel, which pads nothing at any stride): ``padding="valid"``."""
    layer = node.layer
    windowed = (*L.CONVOLUTIONS, L.MaxPool1D, L.MaxPool2D, *_AVG)
    if not isinstance(layer, windowed) or layer.padding in ("valid", "causal"):
        return None
    strides = layer.strides
    dilation = getattr(layer, "dilation_rate", (1,) * len(strides))
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    if all(k == 1 for k in kernel) or layer.padding != "same" and not any(map(any, layer.padding)):
        return rb.copy(node, layer.replace(padding="valid"))
    if layer.padding == "same" or isinstance(layer, _AVG) and layer.count_include_pad:  # 'same' counts real ones
        return None
    spec = node.inputs[0].spec
    sizes = [spec.dim(a) for a in spatial_of(layer, spec, len(strides))]  # 'same' at stride > 1 needs them
    same = resolve_pads("same", sizes, kernel, strides, dilation)
    if tuple(map(tuple, layer.padding)) != same:
        return None
    return rb.copy(node, layer.replace(padding="same"))


#: (name, rule) in the order each walk tries them
RULES = (
    ("fold_zero_padding", fold_zero_padding),
    ("edge_padded_max_pool", edge_padded_max_pool),
    ("same_padding", same_padding),
)
