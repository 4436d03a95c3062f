"""ONNX table entries for window ops: Conv, ConvTranspose, MaxPool/AveragePool, global pooling, reductions.

ONNX holds these channels-first (``NCW``, ``NCHW``, ``NCDHW``); conv weights ``(out, in/groups, k...)``
become Keras's ``(k..., in/groups, out)``, ConvTranspose's ``(in, out, k...)`` Keras's ``(k..., out, in)``.
Padding: ``auto_pad`` VALID / SAME_UPPER (TensorFlow's 'same') or explicit ``pads``
``[begin..., end...]``; a Pad node in front has already been folded in (``patterns/rules.py``, ``fold_pad``).
"""

from __future__ import annotations

from typing import Callable

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from ....ir.layers.conv import resolve_pads
from ....ir.layers.conv_variants import transposed_crop
from .ctx import Converted, Ctx
from .match import axes_of
from .passes.layout import channels_first


def _window(ctx: Ctx, nd: int, kernel, strides, dilations):
    """IR ``padding`` from auto_pad / pads: 'valid', 'same' (SAME_UPPER is TensorFlow's rule) or per-side pads."""
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto == "VALID":
        return "valid"
    if auto == "SAME_UPPER":
        return "same"
    if auto != "NOTSET":
        raise UnsupportedError(f"auto_pad={auto!r} is not supported (NOTSET, VALID or SAME_UPPER)")
    pads = list(ctx.attr("pads", [0] * 2 * nd))
    pairs = tuple(zip(pads[:nd], pads[nd:]))
    if not any(pads):
        return "valid"
    x = ctx.inputs[0]
    sizes = [x.spec.shape[2 + i] for i in range(nd)]
    if resolve_pads("same", sizes, kernel, strides, dilations) == pairs:
        return "same"
    return pairs


def conv(ctx: Ctx) -> Converted:
    w = ctx.array(1, "weights")
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise UnsupportedError(f"{nd}-D convolution: the IR has Conv1D, Conv2D and Conv3D")
    ctx.x(channels_first(nd + 2))
    kernel = list(ctx.attr("kernel_shape", w.shape[2:]))
    strides, dilations = list(ctx.attr("strides", [1] * nd)), list(ctx.attr("dilations", [1] * nd))
    group = ctx.attr("group", 1)
    padding = _window(ctx, nd, kernel, strides, dilations)
    weights = {"kernel": w.transpose(*range(2, nd + 2), 1, 0)}
    bias = ctx.array(2, "bias")
    if bias is not None:
        weights["bias"] = bias
    cls = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[nd]
    return cls(
        w.shape[0],
        kernel,
        strides=strides,
        padding=padding,
        dilation_rate=dilations,
        groups=group,
        use_bias=bias is not None,
    ), weights


def keras_transposed(kernel, strides, dilations, crops):
    """Keras's (padding, output_padding) whose crops (transposed_crop) are ``crops``, or None."""
    for padding in ("same", "valid"):
        if all(transposed_crop(k, s, d, padding, None) == c for k, s, d, c in zip(kernel, strides, dilations, crops)):
            return padding, None
        found = [
            next(
                (
                    p
                    for p in range(s)
                    if transposed_crop(k, s, d, padding, p) == c
                    and not (padding == "same" and p == 0 and (k - 1) * d % 2)
                ),
                None,
            )  # the IR's rule
            for k, s, d, c in zip(kernel, strides, dilations, crops)
        ]
        if None not in found:
            return padding, tuple(found)
    return None


def conv_transpose(ctx: Ctx) -> Converted:
    """ONNX keeps ``full[pads_begin : full + output_padding - pads_end]`` of the full result (positions past its
    end hold the bias): per axis the crops ``(pads_begin, pads_end - output_padding)``, which Keras's
    'valid'/'same' + output_padding must reproduce exactly."""
    w = ctx.array(1, "weights")
    nd = w.ndim - 2
    if nd not in (1, 2):
        raise UnsupportedError(f"{nd}-D transposed convolution: the IR has Conv1DTranspose and Conv2DTranspose")
    ctx.x(channels_first(nd + 2))
    if ctx.attr("group", 1) != 1:
        raise UnsupportedError(f"group={ctx.attr('group')}: the IR's transposed convolutions are not grouped")
    if ctx.attr("output_shape") is not None:
        raise UnsupportedError("output_shape is not supported (give pads and output_padding)")
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID"):
        raise UnsupportedError(f"auto_pad={auto!r} is not supported (NOTSET or VALID)")
    kernel = list(ctx.attr("kernel_shape", w.shape[2:]))
    strides, dilations = list(ctx.attr("strides", [1] * nd)), list(ctx.attr("dilations", [1] * nd))
    pads = [0] * 2 * nd if auto == "VALID" else list(ctx.attr("pads", [0] * 2 * nd))
    extra = list(ctx.attr("output_padding", [0] * nd))
    crops = [(pads[i], pads[nd + i] - extra[i]) for i in range(nd)]
    found = keras_transposed(kernel, strides, dilations, crops)
    if found is None:
        raise UnsupportedError(
            f"pads {pads} with output_padding {extra} keep a window of the full result that "
            "neither Keras's 'valid' nor 'same' (with any output_padding) keeps"
        )
    weights = {"kernel": w.transpose(*range(2, nd + 2), 1, 0)}  # (in, out, k...) -> (k..., out, in)
    bias = ctx.array(2, "bias")
    if bias is not None:
        weights["bias"] = bias
    cls = L.Conv1DTranspose if nd == 1 else L.Conv2DTranspose
    return cls(
        w.shape[1],
        kernel,
        strides=strides,
        padding=found[0],
        output_padding=found[1],
        dilation_rate=dilations,
        use_bias=bias is not None,
    ), weights


def _ceil_mode_ok(ctx: Ctx, nd: int, kernel, strides) -> None:
    """ceil_mode matters only when a last, partial window exists."""
    if not ctx.attr("ceil_mode", 0):
        return
    x, pads = ctx.inputs[0], list(ctx.attr("pads", [0] * 2 * nd))
    for i in range(nd):
        n = x.spec.shape[2 + i]
        span = None if n is None else n + pads[i] + pads[nd + i] - kernel[i]
        if span is None or span % strides[i]:
            raise UnsupportedError("ceil_mode=1 adds a partial last window here; the IR's pooling has floor mode only")


def pool(max_pool: bool) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        kernel = list(ctx.attr("kernel_shape"))
        nd = len(kernel)
        if nd not in (1, 2):
            raise UnsupportedError(f"{nd}-D pooling: the IR has 1-D and 2-D pooling")
        ctx.x(channels_first(nd + 2))
        ctx.only_first_output()
        strides = list(ctx.attr("strides", [1] * nd))
        if any(d != 1 for d in ctx.attr("dilations", [1] * nd)):
            raise UnsupportedError("dilated pooling has no IR layer")
        _ceil_mode_ok(ctx, nd, kernel, strides)
        padding = _window(ctx, nd, kernel, strides, [1] * nd)
        kwargs = {}
        if not max_pool:
            kwargs["count_include_pad"] = include = bool(ctx.attr("count_include_pad", 0))
            if include and padding == "same":
                # the IR's 'same' divides by the real count (TF); these pads count their zeros: keep them explicit
                sizes = [ctx.inputs[0].spec.shape[2 + i] for i in range(nd)]
                padding = resolve_pads("same", sizes, kernel, strides, [1] * nd)
                if None in padding:
                    raise UnsupportedError("count_include_pad=1 with SAME_UPPER pads needs a known input size")
        if max_pool:
            cls = L.MaxPool1D if nd == 1 else L.MaxPool2D
        else:
            cls = L.AvgPool1D if nd == 1 else L.AvgPool2D
        return cls(kernel, strides=strides, padding=padding, **kwargs), {}

    return convert


def global_pool(max_pool: bool) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        x = ctx.x()  # ONNX keeps the pooled axes (size 1) unless a rule folded a Flatten in (keepdims=0)
        return _global(x, max_pool, keepdims=bool(ctx.attr("keepdims", 1)), spatial=range(2, x.spec.rank))

    return convert


def _global(x, max_pool: bool, keepdims: bool, spatial) -> Converted:
    nd = x.spec.rank - 2
    letters = {x.layout[a] for a in spatial}
    if nd not in (1, 2) or letters != set(x.layout) - {"N", "C"}:
        raise UnsupportedError(
            f"reduces axes {sorted(spatial)} of a {x.layout!r} tensor; the IR's global pooling "
            "reduces every axis but N and C of a rank-3 or rank-4 tensor"
        )
    kinds = {
        (False, 1): L.GlobalAvgPool1D,
        (False, 2): L.GlobalAvgPool2D,
        (True, 1): L.GlobalMaxPool1D,
        (True, 2): L.GlobalMaxPool2D,
    }
    return kinds[max_pool, nd](keepdims=keepdims), {}


def reduce(max_pool: bool) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        x = ctx.x()
        axes = axes_of(ctx.graph, ctx.op)
        if axes is None or not axes:
            raise UnsupportedError("the axes must be constant and not empty")
        return _global(x, max_pool, bool(ctx.attr("keepdims", 1)), sorted({a % x.spec.rank for a in axes}))

    return convert
