"""torch lowerings of Conv1D, Conv2D and Conv3D.

TensorFlow's 'same' padding puts the odd pad element after the data and, with
stride > 1, depends on the input size; torch's ``padding=`` is symmetric. So
symmetric pads go into the conv, anything else becomes a ``ZeroPad`` module
in front of a ``padding=0`` conv (docs/equivalence.md, section 3).
"""

from __future__ import annotations

from ...ir.errors import UnsupportedError
from ...ir.layers import Conv1D, Conv2D, Conv3D
from ...ir.layers.conv import resolve_pads
from ..lowering.code import Raw, call
from ..lowering.kernels import channels_first_kernel
from .activations import fused


def spatial_pads(ctx, node, x, kernel, strides, dilation, padding):
    """Per-axis (before, after) pads for the conv's spatial axes, as held (channels first)."""
    axes = x.phys[2:]
    sizes = [x.spec.dim(a) for a in axes]
    pads = resolve_pads(padding, sizes, kernel, strides, dilation)
    if any(p is None for p in pads):
        raise UnsupportedError(
            f"'same' padding with stride > 1 needs a known input length in torch (got {x.spec.shape})"
        )
    return pads


def pad_module(ctx, node, x, pads, value=None, force=False):
    """Emit an explicit pad when ``pads`` are asymmetric (or ``force``); returns (new var, symmetric per-axis pads)."""
    if not force and all(b == a for b, a in pads):
        return x.var, tuple(b for b, _ in pads)
    flat = tuple(p for pair in reversed(pads) for p in pair)  # torch lists the last axis first
    nd = len(pads)
    if value is None:
        ctor = call(f"nn.ZeroPad{nd}d", flat)
    else:
        ctor = call(f"nn.ConstantPad{nd}d", flat, Raw(value))
    mod = ctx.module(f"{node.name}_pad", ctor)
    var = ctx.let(f"{node.name}_padded", f"{mod}({x.var})", x.spec, x.phys).var
    return var, (0,) * nd


def lower_conv(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    nd = layer.rank
    x = ctx.require(ctx.plain(x), "NC" + x.spec.layout.replace("N", "").replace("C", ""))
    pads = spatial_pads(ctx, node, x, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
    var, sym = pad_module(ctx, node, x, pads)
    w = ctx.weights(node)
    kwargs = {"kernel_size": layer.kernel_size}
    if any(s != 1 for s in layer.strides):
        kwargs["stride"] = layer.strides
    if any(sym):
        kwargs["padding"] = sym
    if any(d != 1 for d in layer.dilation_rate):
        kwargs["dilation"] = layer.dilation_rate
    if layer.groups != 1:
        kwargs["groups"] = layer.groups
    if not layer.use_bias:
        kwargs["bias"] = False
    c_in = x.spec.dim("C")
    # Keras kernel (k..., in/groups, out) -> torch (out, in/groups, k...)
    params = {"weight": channels_first_kernel(w["kernel"])}
    if layer.use_bias:
        params["bias"] = w["bias"]
    mod = ctx.module(node.name, call(f"nn.Conv{nd}d", c_in, layer.filters, **kwargs), params)
    return ctx.let(node.name, fused(layer.activation, f"{mod}({var})", x), node.spec, x.phys)


TABLE = {Conv1D: lower_conv, Conv2D: lower_conv, Conv3D: lower_conv}

#: weights back (backends/lowering/weights_back.py): every parameter is a copy of an IR weight
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
