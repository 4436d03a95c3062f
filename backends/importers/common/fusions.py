"""Rewrites that fuse what torch writes as several modules into the one layer Keras writes.

* ``depthwise``: a convolution with one group per input channel (torch's ``Conv2d(c, c * m, k, groups=c)``)
  becomes ``DepthwiseConv1D/2D(depth_multiplier=m)``, the same arithmetic and channel order.
* ``separable``: a ``DepthwiseConv1D/2D`` without bias or activation read only by a 1x1, stride-1 convolution
  becomes ``SeparableConv1D/2D`` (what ``to_torch`` writes a separable convolution as).
* ``fuse_activation``: an ``Activation`` that is the only reader of a convolution or ``Dense`` without
  an activation becomes that layer's ``activation=`` (what Keras writes; torch writes them apart).
* ``global_pool``: a global pooling kept 4-D (torch's ``AdaptiveAvgPool2d(1)``), then flattened: without ``keepdims``.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from .rebuild import Rebuild

_DEPTHWISE = {L.Conv1D: L.DepthwiseConv1D, L.Conv2D: L.DepthwiseConv2D}
_SEPARABLE = {L.Conv1D: (L.DepthwiseConv1D, L.SeparableConv1D), L.Conv2D: (L.DepthwiseConv2D, L.SeparableConv2D)}
_GLOBAL = (L.GlobalAvgPool1D, L.GlobalAvgPool2D, L.GlobalMaxPool1D, L.GlobalMaxPool2D)


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
    if not isinstance(producer.layer, (*L.CONVOLUTIONS, L.Conv1DTranspose, L.Conv2DTranspose, L.Dense)):
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
RULES = (
    ("depthwise", depthwise),
    ("separable", separable),
    ("fuse_activation", fuse_activation),
    ("global_pool", global_pool),
)
