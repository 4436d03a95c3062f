"""Transposed convolutions, zero padding and upsampling (modules and functions) -> IR.

* ``nn.ConvTranspose1d/2d`` keeps ``full[p : full - p + op]`` of the full
  result (``p`` = padding, ``op`` = output_padding), i.e. crops ``(p, p - op)``;
  the IR's ``Conv1D/2DTranspose`` keeps Keras's window (``layer.crops()``,
  ``ir.layers.conv_variants.transposed_crop``). When a Keras configuration
  ('same', or 'valid' with ``output_padding``) crops the same, it is used
  alone (``ConvTranspose2d(k=4, s=2, p=1)`` is 'same'); otherwise 'valid' with
  ``output_padding=op`` (``full + op``) then ``Cropping`` of ``p`` on each
  side. This inverts ``backends/torch/conv_variants.py``. Weights: torch
  ``(in, out, k...)`` -> IR ``(k..., out, in)``, no spatial flip.
* ``nn.ZeroPad1d/2d``, ``nn.ConstantPad1d/2d(value=0)`` and
  ``F.pad(mode='constant', value=0)`` list the last
  axis first: ``(left, right, top, bottom)`` -> ``((top, bottom), (left, right))``.
  All-negative pads crop (``Cropping``).
* ``nn.Upsample`` / ``nn.UpsamplingNearest2d`` / ``F.interpolate`` with an integer factor (or a ``size``
  that is one): 'nearest' and 'nearest-exact' repeat each element (Keras's
  'nearest'); 'bilinear' with ``align_corners=False`` is Keras's 'bilinear'
  (half-pixel centres, docs/equivalence.md, section 11).
"""

from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import nn

from ....ir import layers as L
from ....ir.errors import IRError, UnsupportedError
from .capture import Info
from .modules import MaxPads, _bias, array, channels_first


def conv_transpose(nd: int) -> Callable:
    def convert(ctx, call):
        m = call.module
        if m.padding_mode != "zeros":
            raise UnsupportedError(f"padding_mode={m.padding_mode!r} is not supported (only 'zeros')")
        if m.groups != 1:
            raise UnsupportedError(f"groups={m.groups}: the IR's Conv{nd}DTranspose has no groups")
        if call.arg(1, "output_size") is not None:
            raise UnsupportedError("output_size= is not supported; set output_padding on the module")
        x = channels_first(ctx, call, ctx.tensor(call.args[0]), nd)
        weights = {"kernel": array(m.weight).transpose(*range(2, nd + 2), 1, 0)}  # (in, out, k..) -> (k.., out, in)
        cls = (L.Conv1DTranspose, L.Conv2DTranspose)[nd - 1]
        common = dict(
            filters=m.out_channels,
            kernel_size=m.kernel_size,
            strides=m.stride,
            dilation_rate=m.dilation,
            use_bias=_bias(m, weights),
        )
        pads, extra = tuple(m.padding), tuple(m.output_padding)
        wanted = tuple((p, p - op) for p, op in zip(pads, extra))
        for form in (
            {"padding": "same"},
            {"padding": "same", "output_padding": extra},
            {"padding": "valid", "output_padding": extra},
        ):
            try:
                layer = cls(**common, **form)
            except IRError:
                continue  # e.g. 'same' with output_padding 0 and an even kernel: not this form
            if layer.crops() == wanted:
                return ctx.add(call, layer, [x], weights)
        full = ctx.add(call, cls(**common, padding="valid", output_padding=extra), [x], weights, check=False)
        crop = (L.Cropping1D, L.Cropping2D)[nd - 1](tuple((p, p) for p in pads))
        return ctx.add(call, crop, [full], name=ctx.claim(f"{call.name}_crop"))

    return convert


def _pad(ctx, call, x, flat) -> object:
    """Torch's last-axis-first pad list on a channels-first tensor -> ZeroPadding (or Cropping)."""
    flat = tuple(int(p) for p in flat)
    nd = x.spec.rank - 2
    if len(flat) % 2 or not 0 < len(flat) // 2 <= nd or nd not in (1, 2):
        raise UnsupportedError(
            f"pad {flat} must pad the 1 or 2 spatial axes of a rank-3/4 tensor (not the channels or the batch)"
        )
    x = channels_first(ctx, call, x, nd)
    pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]  # last axis first
    pairs = tuple(reversed(pairs + [(0, 0)] * (nd - len(pairs))))
    if all(p >= 0 for pair in pairs for p in pair):
        return ctx.add(call, (L.ZeroPadding1D, L.ZeroPadding2D)[nd - 1](pairs), [x])
    if all(p <= 0 for pair in pairs for p in pair):
        return ctx.add(call, (L.Cropping1D, L.Cropping2D)[nd - 1](tuple((-a, -b) for a, b in pairs)), [x])
    raise UnsupportedError(f"pad {flat} mixes padding and cropping")


def zero_pad(ctx, call):
    return _pad(ctx, call, ctx.tensor(call.args[0]), call.module.padding)


def constant_pad(ctx, call):
    if call.module.value == float("-inf"):  # a max pool's pads (to_torch): the pool takes them (modules.MaxPads)
        x = ctx.tensor(call.args[0])
        nd = x.spec.rank - 2
        flat = tuple(int(p) for p in call.module.padding)
        if nd in (1, 2) and len(flat) == 2 * nd and min(flat) >= 0:
            pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
            return MaxPads(channels_first(ctx, call, x, nd), tuple(reversed(pairs)))
    if call.module.value != 0:
        raise UnsupportedError(f"value={call.module.value} is not supported (only zero padding)")
    return zero_pad(ctx, call)


def f_pad(ctx, call):
    mode, value = call.arg(2, "mode", "constant"), call.arg(3, "value", None)
    if mode != "constant" or value not in (None, 0, 0.0):
        raise UnsupportedError(f"only zero padding is supported (mode={mode!r}, value={value!r})")
    return _pad(ctx, call, ctx.tensor(call.arg(0, "input")), call.arg(1, "pad"))


def _upsample(ctx, call, x, mode: str, align_corners) -> object:
    nd = x.spec.rank - 2
    if nd not in (1, 2):
        raise UnsupportedError(f"upsampling a rank-{x.spec.rank} tensor is not supported (1-D or 2-D only)")
    x = channels_first(ctx, call, x, nd)
    node = call.node.args[0] if call.node.args else call.node.kwargs.get("input")
    info, source = call.info, ctx.run1.get(node)
    # the factor from the sizes recorded on the example (the IR's may be a symbolic length)
    ins = list(source.shape[2:]) if isinstance(source, Info) else [x.spec.dim(a) for a in x.layout[2:]]
    outs = list(info.shape[2:]) if info is not None else []
    if mode == "bilinear" and nd == 2 and not align_corners and outs and all(i == 2 * o for i, o in zip(ins, outs)):
        # halving: each output pixel sits between two input pixels on each axis, weights 1/2 (a 2x2 mean)
        return ctx.add(call, L.AvgPool2D(2), [x])
    if len(outs) != nd or any(o % i for i, o in zip(ins, outs)):
        raise UnsupportedError(f"only integer factors are supported (from {tuple(ins)} to {tuple(outs)})")
    size = tuple(o // i for i, o in zip(ins, outs))
    if mode in ("nearest", "nearest-exact"):
        layer = L.UpSampling1D(size) if nd == 1 else L.UpSampling2D(size)
    elif mode == "bilinear" and nd == 2 and not align_corners:
        layer = L.UpSampling2D(size, interpolation="bilinear")
    else:
        raise UnsupportedError(
            f"mode={mode!r} (align_corners={align_corners}) is not supported: only "
            "'nearest', 'nearest-exact', and 'bilinear' with align_corners=False"
        )
    return ctx.add(call, layer, [x])


def upsample(ctx, call):
    m = call.module
    return _upsample(ctx, call, ctx.tensor(call.args[0]), m.mode, m.align_corners)


def interpolate(ctx, call):
    if call.arg(6, "antialias", False):
        raise UnsupportedError("antialias=True is not supported")
    return _upsample(
        ctx, call, ctx.tensor(call.arg(0, "input")), call.arg(3, "mode", "nearest"), call.arg(4, "align_corners")
    )


def aten_upsample(mode: str) -> Callable:
    """``aten.upsample_<mode>.vec(input, output_size, [align_corners,] scale_factors)``, as ``F.interpolate``."""

    def convert(ctx, call):
        align = call.arg(2, "align_corners") if mode == "bilinear" else None
        return _upsample(ctx, call, ctx.tensor(call.arg(0, "input")), mode, align)

    return convert


SPATIAL_MODULES: dict[type, Callable] = {
    nn.ConvTranspose1d: conv_transpose(1),
    nn.ConvTranspose2d: conv_transpose(2),
    nn.ZeroPad1d: zero_pad,
    nn.ZeroPad2d: zero_pad,
    nn.ConstantPad1d: constant_pad,
    nn.ConstantPad2d: constant_pad,
    nn.Upsample: upsample,
    nn.UpsamplingNearest2d: upsample,
}
SPATIAL_FUNCTIONS: dict[Callable, Callable] = {F.pad: f_pad, F.interpolate: interpolate}
