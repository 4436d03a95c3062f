"""torch lowerings of the convolution variants (depthwise, separable, transposed).

* Depthwise: ``ConvNd(C, C*M, groups=C)``; Keras's ``(k..., C, M)`` kernel
  reshaped to ``(k..., C*M)`` already lists output channel ``c*M + m`` in
  torch's group order (docs/equivalence.md, section 4).
* Separable: a bias-free depthwise ``ConvNd`` then a kernel-1 ``ConvNd``
  holding the one bias (§5). TF's 'same' pad goes before the depthwise step.
* Transposed: ``ConvTransposeNd`` with ``padding=p, output_padding=op`` keeps
  ``full[p : full - p + op]``; Keras keeps ``full[before : full - after]``
  (``ir.layers.conv_variants.transposed_crop``). The symmetric part of the
  crop goes into ``padding``, a run past the end into ``output_padding``, and
  what is left is a slice in ``forward`` (§6: no other recipe matches 'same'
  with stride 2 and an odd kernel).
"""

from __future__ import annotations

from ...ir.layers import (
    Conv1DTranspose,
    Conv2DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from ...ir.tensor import TensorSpec
from ..lowering.code import call
from ..lowering.kernels import channels_first_kernel, depthwise_weight
from .activations import fused
from .conv import pad_module, spatial_pads


def channels_first(ctx, x):
    return ctx.require(ctx.plain(x), "NC" + x.spec.layout.replace("N", "").replace("C", ""))


def window_kwargs(layer, sym) -> dict:
    """stride / padding / dilation constructor arguments that differ from torch's defaults."""
    kwargs = {}
    if any(s != 1 for s in layer.strides):
        kwargs["stride"] = layer.strides
    if any(sym):
        kwargs["padding"] = sym
    if any(d != 1 for d in layer.dilation_rate):
        kwargs["dilation"] = layer.dilation_rate
    return kwargs


def depthwise(ctx, node, x, *, kernel: str, bias: bool, base: str):
    """Emit the (padded) depthwise conv of ``x``; returns (module call expression, output channels)."""
    layer = node.layer
    nd = layer.rank
    pads = spatial_pads(ctx, node, x, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
    var, sym = pad_module(ctx, node, x, pads)
    c = x.spec.dim("C")
    out = c * layer.depth_multiplier
    kwargs = {"kernel_size": layer.kernel_size, **window_kwargs(layer, sym), "groups": c}
    w = ctx.weights(node)
    params = {"weight": depthwise_weight(w[kernel])}
    if bias:
        params["bias"] = w["bias"]
    else:
        kwargs["bias"] = False
    mod = ctx.module(base, call(f"nn.Conv{nd}d", c, out, **kwargs), params)
    return f"{mod}({var})", out


def lower_depthwise(ctx, node, inputs):
    layer = node.layer
    x = channels_first(ctx, inputs[0])
    expr, _ = depthwise(ctx, node, x, kernel="kernel", bias=layer.use_bias, base=node.name)
    return ctx.let(node.name, fused(layer.activation, expr, x), node.spec, x.phys)


def lower_separable(ctx, node, inputs):
    layer = node.layer
    nd = layer.rank
    x = channels_first(ctx, inputs[0])
    expr, mid = depthwise(ctx, node, x, kernel="depthwise_kernel", bias=False, base=f"{node.name}_depthwise")
    c_at = node.spec.layout.index("C")
    mid_spec = TensorSpec(
        node.spec.shape[:c_at] + (mid,) + node.spec.shape[c_at + 1 :], node.spec.layout, node.spec.dtype
    )
    h = ctx.let(f"{node.name}_depthwise", expr, mid_spec, x.phys)
    w = ctx.weights(node)
    # Keras (1..., C*M, filters) -> torch (filters, C*M, 1...)
    params = {"weight": channels_first_kernel(w["pointwise_kernel"])}
    kwargs = {}
    if layer.use_bias:
        params["bias"] = w["bias"]
    else:
        kwargs["bias"] = False
    mod = ctx.module(node.name, call(f"nn.Conv{nd}d", mid, layer.filters, 1, **kwargs), params)
    return ctx.let(node.name, fused(layer.activation, f"{mod}({h.var})", x), node.spec, x.phys)


def torch_crops(crops):
    """Split Keras's (before, after) crops into torch's padding, output_padding and a leftover slice."""
    padding, output_padding, slices = [], [], []
    for before, after in crops:
        if after < 0:  # the output runs past the full result: torch's output_padding (before is 0 then)
            padding.append(0)
            output_padding.append(-after)
            slices.append((before, 0))
        else:
            p = min(before, after)
            padding.append(p)
            output_padding.append(0)
            slices.append((before - p, after - p))
    return tuple(padding), tuple(output_padding), slices


def lower_transpose(ctx, node, inputs):
    layer = node.layer
    nd = layer.rank
    x = channels_first(ctx, inputs[0])
    padding, output_padding, slices = torch_crops(layer.crops())
    kwargs = {"kernel_size": layer.kernel_size, **window_kwargs(layer, padding)}
    if any(output_padding):
        kwargs["output_padding"] = output_padding
    if not layer.use_bias:
        kwargs["bias"] = False
    w = ctx.weights(node)
    # Keras (k..., out, in) -> torch (in, out, k...), no spatial flip
    params = {"weight": channels_first_kernel(w["kernel"])}
    if layer.use_bias:
        params["bias"] = w["bias"]
    mod = ctx.module(node.name, call(f"nn.ConvTranspose{nd}d", x.spec.dim("C"), layer.filters, **kwargs), params)
    expr = f"{mod}({x.var})"
    if any(a or b for a, b in slices):
        # the bias is already in: cropping commutes with adding it
        index = ", ".join(f"{a or ''}:{-b if b else ''}" for a, b in slices)
        expr = f"{expr}[:, :, {index}]"
    return ctx.let(node.name, fused(layer.activation, expr, x), node.spec, x.phys)


TABLE = {
    DepthwiseConv1D: lower_depthwise,
    DepthwiseConv2D: lower_depthwise,
    SeparableConv1D: lower_separable,
    SeparableConv2D: lower_separable,
    Conv1DTranspose: lower_transpose,
    Conv2DTranspose: lower_transpose,
}

#: weights back (backends/lowering/weights_back.py): every parameter is a copy of an IR weight
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
