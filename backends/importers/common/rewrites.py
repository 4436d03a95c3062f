"""Rewrites every importer runs on what it imported: one small function per rewrite, each exact.

An importer reads the source's operations one by one, so what it gives back is what the source wrote
(a ``Conv2d(padding=1)`` and a separate ``ReLU``), not what a person would write in the other framework.
:data:`REWRITES` lists, in order, the rewrites that turn it into the idiomatic IR, each a function
``rule(rebuild, node) -> ir.Tensor | None`` on a :class:`~.rebuild.Rebuild` walk: it returns the new
tensor for ``node`` (and may mark the nodes it swallowed as done in ``rebuild.new``), or None where it
does not apply. A rule fires only where the result computes exactly what the original did (the same
arithmetic, not merely close numbers); its tests prove both that and where it must not fire.

* ``declared_input_layout``: a model input that is only permuted and then relabelled (a ``Reshape``
  that moves no data) is declared in the layout that pair amounts to; the pair goes. This is how a
  module ``to_torch`` compiled from an ``NHWC`` model reads back: torch sees an ``NCHW``-looking tensor.
  Element-wise layers between the input and the pair (a scalar ``Rescaling``, a ``Normalization``, an
  activation: what ``to_torch`` computes on the input as it arrives) stay, their axis letters renamed.
* ``relaid_learned``, ``channel_norm_pair`` (``relaid.py``): a ``Learned`` and a ``LayerNorm`` that follow it.
* ``declared_output_layout``: a model output that is a permuted tensor relabelled back (how ``from_keras``
  reads a model ``to_keras`` compiled from an ``NCHW`` model) is declared in the permuted layout instead.
* ``unit_reshape``: a ``Reshape`` to a tensor whose axes other than the batch hold one entry each but one
  (squeeze-excitation's ``(N, C)`` -> ``(N, C, 1, 1)``) ends in the layout an input was declared in instead
  of the one it had (``NCHW`` -> ``NHWC``): the same data in any order, and the layers after it follow.
* ``merge_relabel``: a ``Reshape`` read only by a relabelling ``Reshape`` is one ``Reshape`` ending in the
  relabel's letters (a reshape of a reshape is the last one's shape; the relabel moved no data).
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
* ``depthwise``: a convolution with one group per input channel (torch's ``Conv2d(c, c * m, k, groups=c)``)
  becomes ``DepthwiseConv1D/2D(depth_multiplier=m)``, the same arithmetic and channel order.
* ``separable``: a ``DepthwiseConv1D/2D`` without bias or activation read only by a 1x1, stride-1 convolution
  becomes ``SeparableConv1D/2D`` (what ``to_torch`` writes a separable convolution as).
* ``fuse_activation``: an ``Activation`` that is the only reader of a convolution or ``Dense`` without
  an activation becomes that layer's ``activation=`` (what Keras writes; torch writes them apart).
* ``global_pool``: a global pooling kept 4-D (torch's ``AdaptiveAvgPool2d(1)``), then flattened: without ``keepdims``.
* the rules of ``relaid.py``, ``positional.py``, ``spellings.py``, ``moves.py``, ``selects.py`` and
  ``broadcast.py`` (each file's docstring lists its own): one spelling for what torch and Keras write two ways.

Before each walk and after the last, ``rename_letters`` (``relabel.py``) removes the relabelling
Reshapes/Views it can by naming the tensors around each in its letters, names patch tokens ``NTC`` (as Keras
does) and an attention's heads by role.

:func:`apply_rewrites` repeats the walk until nothing fires; ``model.rewrites`` lists what fired.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import IRError
from ....ir.layers.conv import resolve_pads, spatial_of
from ....ir.layout import resolve_axis
from . import broadcast, free, moves, positional, relaid, selects, spellings
from .rebuild import Rebuild, walk

_CONVS = (L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv1D, L.DepthwiseConv2D, L.SeparableConv1D, L.SeparableConv2D)
_PADS = {L.ZeroPadding1D: (L.Conv1D, L.DepthwiseConv1D, L.SeparableConv1D, L.AvgPool1D)}
_PADS[L.ZeroPadding2D] = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D, L.AvgPool2D)
_DEPTHWISE = {L.Conv1D: L.DepthwiseConv1D, L.Conv2D: L.DepthwiseConv2D}
_AVG = (L.AvgPool1D, L.AvgPool2D)
_SEPARABLE = {L.Conv1D: (L.DepthwiseConv1D, L.SeparableConv1D), L.Conv2D: (L.DepthwiseConv2D, L.SeparableConv2D)}
_GLOBAL = (L.GlobalAvgPool1D, L.GlobalAvgPool2D, L.GlobalMaxPool1D, L.GlobalMaxPool2D)


#: one-input layers that compute element by element (a Normalization per entry of the axis letter it names)
_ELEMENTWISE = (L.Rescaling, L.Normalization, L.Activation, L.ReLU, L.Dropout, L.Identity, O.Unary, O.Clip)


def _elementwise(node: ir.Node) -> bool:
    layer = node.layer
    if len(node.inputs) != 1 or not isinstance(layer, _ELEMENTWISE):
        return False
    if isinstance(layer, L.Rescaling):
        return not isinstance(layer.scale, tuple) and not isinstance(layer.offset, tuple)
    return not isinstance(getattr(layer, "axis", None), int)


def _renamed(layer: L.Layer, letters: dict[str, str]) -> L.Layer:
    """``layer`` (of :data:`_ELEMENTWISE`) acting on the same data once its input's letters are renamed."""
    if isinstance(layer, L.Normalization) and layer.axis is not None:
        return layer.replace(axis=letters[layer.axis])
    return layer


def declared_input_layout(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Input -> element-wise layers -> Permute -> relabelling Reshape (each the only reader of the last): the
    input in that layout, the element-wise layers on it with their letters renamed."""
    chain, permute = [], rb.only_user(node, batch_readers=True) if node.is_input else None
    while permute is not None and _elementwise(permute):
        chain.append(permute)
        permute = rb.only_user(permute)
    relabel = rb.only_user(permute) if permute is not None and isinstance(permute.layer, L.Permute) else None
    if relabel is None or not _is_relabel(relabel):
        return None
    # output position i holds input position p[i]; the relabel names position i relabel.layout[i]
    moved = permute.spec.layout
    source = [node.spec.layout.index(a) for a in moved]
    layout = [""] * len(source)
    for i, p in enumerate(source):
        layout[p] = relabel.spec.layout[i]
    layout = "".join(layout)
    spec = node.spec
    try:
        out = ir.Input(
            tuple(s for a, s in zip(layout, spec.shape) if a != "N"), layout=layout, dtype=spec.dtype, name=node.name
        )
    except IRError:
        return None
    x, letters = out, dict(zip(spec.layout, layout))
    for link in chain:
        x = rb.new[id(link)] = rb.add(_renamed(link.layer, letters), [x], rb.old_weights(link), link)
    rb.new[id(permute)] = rb.new[id(relabel)] = x
    rb.relayout[spec.layout] = layout
    return out


def unit_reshape(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Reshape to at most one axis of more than one entry, in an old layout an input left: in the new one (unless
    only layers taking its entries in order read it: then its letters are those of the shape it is written in)."""
    layout = rb.relayout.get(node.spec.layout) if isinstance(node.layer, L.Reshape) else None
    if layout is None or sum(s != 1 for a, s in zip(node.spec.layout, node.spec.shape) if a != "N") > 1:
        return None
    if node.spec.layout.index("N") != layout.index("N") or rb.read_in_order(node):
        return None
    target = tuple(node.spec.dim(a) for a in layout if a != "N")
    return rb.copy(node, node.layer.replace(target_shape=target, layout=layout))


def declared_output_layout(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Permute -> relabelling Reshape that is a model output: the output declared in the Permute's layout."""
    if id(node) not in rb.outputs or not _is_relabel(node) or not isinstance(node.inputs[0].node.layer, L.Permute):
        return None
    if any(t.node is node for t in rb.model.inputs) or len(rb.users(node)) or node.inputs[0].index:
        return None
    rb.relaid.add(id(node))
    return rb.tensor(node.inputs[0])


def _is_relabel(node: ir.Node) -> bool:
    """A Reshape that keeps every size at its position and the batch axis in place: it only renames axes."""
    if not isinstance(node.layer, L.Reshape):
        return False
    before, after = node.inputs[0].spec, node.spec
    return [s for a, s in zip(before.layout, before.shape) if a != "N"] == [
        s for a, s in zip(after.layout, after.shape) if a != "N"
    ] and before.layout.index("N") == after.layout.index("N")


def merge_relabel(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape -> relabelling Reshape (its only reader): the first Reshape, ending in the relabel's letters."""
    if not _is_relabel(node) or node.is_input:
        return None
    inner = node.inputs[0].node
    if inner.is_input or not isinstance(inner.layer, L.Reshape) or rb.only_user(inner) is not node:
        return None
    return rb.copy(node, inner.layer.replace(layout=node.spec.layout), [inner.inputs[0]])


def fold_zero_padding(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """ZeroPadding -> convolution, or average pooling that counts its pads (its only reader): that layer with
    the pads added to its own. (A max pool pads with -inf, not zeros: never folded.)"""
    layer = node.layer
    if not isinstance(layer, (*_CONVS, L.AvgPool1D, L.AvgPool2D)) or node.is_input:
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
    if not isinstance(layer, (*_CONVS, L.MaxPool1D, L.MaxPool2D, *_AVG)) or layer.padding in ("valid", "causal"):
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


def depthwise(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Conv1D/2D with ``groups`` = input channels: DepthwiseConv1D/2D (kernel ``(k.., 1, c*m)`` -> ``(k.., c, m)``)."""
    layer = node.layer
    if type(layer) not in _DEPTHWISE or layer.groups == 1:
        return None
    c = node.inputs[0].spec.dim("C")
    if layer.groups != c or layer.filters % c:
        return None
    weights = dict(rb.old_weights(node))
    if "kernel" in weights:
        weights["kernel"] = weights["kernel"].reshape(*layer.kernel_size, c, layer.filters // c)
    new = _DEPTHWISE[type(layer)](
        layer.kernel_size,
        strides=layer.strides,
        padding=layer.padding,
        depth_multiplier=layer.filters // c,
        dilation_rate=layer.dilation_rate,
        activation=layer.activation,
        use_bias=layer.use_bias,
    )
    return rb.copy(node, new, weights=weights)


def separable(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """DepthwiseConv1D/2D without bias or activation -> a pointwise convolution (its only reader; 1x1, stride 1,
    one group): SeparableConv1D/2D, the same two products in the same order (``to_torch``'s form of it)."""
    layer = node.layer
    if type(layer) not in _SEPARABLE or layer.groups != 1 or any(k != 1 for k in layer.kernel_size):
        return None
    if any(s != 1 for s in layer.strides) or any(d != 1 for d in layer.dilation_rate) or layer.padding != "valid":
        return None
    dw = node.inputs[0].node
    kinds = _SEPARABLE[type(layer)]
    if dw.is_input or type(dw.layer) is not kinds[0] or rb.only_user(dw) is not node or dw.block != node.block:
        return None
    depthwise = rb.current(dw)
    if depthwise.use_bias or depthwise.activation is not None:
        return None
    pointwise = rb.current(node)
    new = kinds[1](
        layer.filters,
        depthwise.kernel_size,
        strides=depthwise.strides,
        padding=depthwise.padding,
        dilation_rate=depthwise.dilation_rate,
        depth_multiplier=depthwise.depth_multiplier,
        activation=pointwise.activation,
        use_bias=pointwise.use_bias,
    )
    weights = {"depthwise_kernel": rb.old_weights(dw).get("kernel")}
    weights.update({"pointwise_kernel" if k == "kernel" else k: v for k, v in rb.old_weights(node).items()})
    return rb.copy(node, new, [dw.inputs[0]], weights={k: v for k, v in weights.items() if v is not None})


def fuse_activation(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Convolution or Dense without an activation -> Activation (its only reader): ``activation=`` set."""
    if not isinstance(node.layer, L.Activation):
        return None
    producer = node.inputs[0].node
    if not isinstance(producer.layer, (*_CONVS, L.Conv1DTranspose, L.Conv2DTranspose, L.Dense)):
        return None
    if producer.layer.activation is not None or rb.only_user(producer) is not node or not _plain(node):
        return None
    if producer.block != node.block:
        return None
    return rb.copy(producer, rb.current(producer).replace(activation=node.layer.activation))


def _plain(node: ir.Node) -> bool:
    """An Activation with its defaults (softmax over C), which is what a layer's ``activation=`` computes."""
    act = node.layer
    fresh = L.Activation(act.activation)
    if act.activation in ("softmax", "log_softmax"):
        return act.axis in (None, "C") and "C" in node.spec.layout
    return act.replace(name=None) == fresh


def global_pool(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Global pooling with ``keepdims`` -> Flatten, or a Reshape to ``(channels,)`` (its only reader): the pooling
    without ``keepdims`` (torch's ``x.view(x.size(0), -1)`` after ``AdaptiveAvgPool2d(1)``)."""
    flat = isinstance(node.layer, L.Reshape) and node.spec.layout == "NC"
    if not isinstance(node.layer, L.Flatten) and not flat:
        return None
    pool = node.inputs[0].node
    if not isinstance(pool.layer, _GLOBAL) or not pool.layer.keepdims or rb.only_user(pool) is not node:
        return None
    if pool.block != node.block:
        return None
    return rb.copy(pool, rb.current(pool).replace(keepdims=False))


#: (name, rule) in the order each walk tries them
REWRITES = (
    ("declared_input_layout", declared_input_layout),
    ("declared_output_layout", declared_output_layout),
    *relaid.RULES,
    # before unit_reshape, which would relay their last Reshape alone where the map is 1x1
    ("cropped_rows", spellings.cropped_rows),
    ("channel_shuffle", positional.channel_shuffle),
    ("permuted_shuffle", positional.permuted_shuffle),
    ("unit_reshape", unit_reshape),
    ("merge_relabel", merge_relabel),
    ("fold_zero_padding", fold_zero_padding),
    ("edge_padded_max_pool", edge_padded_max_pool),
    ("same_padding", same_padding),
    ("depthwise", depthwise),
    ("separable", separable),
    ("fuse_activation", fuse_activation),
    ("global_pool", global_pool),
    *positional.RULES,
    *spellings.RULES,
    *moves.RULES,
    *selects.RULES,
    *broadcast.RULES,
)


def apply_rewrites(model: ir.Model, rules=REWRITES, *, rounds: int = 4) -> ir.Model:
    """``model`` rewritten by ``rules`` until none fires (at most ``rounds`` walks); ``model.rewrites`` lists
    the names of the rewrites that fired, once per firing. Where the IR refuses a walk's result because the
    instances of a block kind no longer match (a rule fired in some of them only), that kind is left alone
    and the walk done again; a walk still refused is dropped, keeping the model as it was before it."""
    fired: list[str] = []
    frozen: set[str] = set()
    for _ in range(rounds):
        model, renamed = free.rename_all(model)
        fired += ["rename_letters"] * renamed
        rb, rebuilt = walk(model, rules, frozen)
        if rebuilt is None or not rb.fired:
            break
        model = rebuilt
        fired += rb.fired
    model, renamed = free.rename_all(model)  # what the last walk left to rename
    fired += ["rename_letters"] * renamed
    model.rewrites = fired
    return model
