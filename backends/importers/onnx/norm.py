"""ONNX table entries for normalisation: BatchNormalization, LayerNormalization, GroupNormalization.

Also the ``twinnet.*`` ops the pattern rules make: ``twinnet.Affine`` (x * scale + shift
with constants, imported as an exact BatchNorm), ``twinnet.GroupNorm`` (torch's
group norm, written as Reshape -> InstanceNormalization -> Reshape -> Mul -> Add;
see ``onnx/patterns/norm.py``) and ``twinnet.LayerNorm`` (a layer norm composed of
ReduceMean, Sub, Sqrt, Div...; see ``onnx/patterns/layer_norm.py``).
"""

from __future__ import annotations

import numpy as np

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .ctx import Converted, Ctx
from .passes.layout import channels_first


def batch_norm(ctx: Ctx) -> Converted:
    x = ctx.x()
    ctx.only_first_output()
    if ctx.attr("training_mode", 0):
        raise UnsupportedError("training_mode=1 normalises with batch statistics; the IR uses the stored ones")
    names = ("gamma", "beta", "moving_mean", "moving_variance")
    weights = {k: ctx.array(i + 1, k) for i, k in enumerate(names)}
    layer = L.BatchNorm(
        axis=ctx.letter(1, x),
        momentum=min(max(float(ctx.attr("momentum", 0.9)), 0.0), 1.0),
        epsilon=float(ctx.attr("epsilon", 1e-5)),
    )
    return layer, weights


def affine(ctx: Ctx) -> Converted:
    """x * scale + shift along one axis: a BatchNorm with zero mean and unit variance (0.5 + 0.5, exact in float)."""
    x = ctx.x()
    axis = ctx.attr("axis")
    if axis is None:
        axis = x.layout.index("C") if "C" in x.layout else x.spec.rank - 1
    letter = ctx.letter(axis, x)
    size = x.spec.shape[axis]
    if size is None:
        raise UnsupportedError("scales and shifts an axis of unknown size")
    scale, shift = ctx.attr("scale"), ctx.attr("shift")
    weights = {
        "gamma": np.broadcast_to(1.0 if scale is None else scale, (size,)),
        "beta": np.broadcast_to(0.0 if shift is None else shift, (size,)),
        "moving_mean": np.zeros(size),
        "moving_variance": np.full(size, 0.5),
    }
    return L.BatchNorm(axis=letter, epsilon=0.5), {k: np.asarray(v, np.float32) for k, v in weights.items()}


def layer_norm(ctx: Ctx) -> Converted:
    x = ctx.x()
    ctx.only_first_output()
    rank = x.spec.rank
    start = ctx.attr("axis", -1) % rank
    letters = "".join(ctx.letter(a, x) for a in range(start, rank))
    shape = tuple(x.spec.shape[start:])
    if any(s is None for s in shape):
        raise UnsupportedError("normalises over an axis of unknown size")
    weights = {"gamma": np.broadcast_to(ctx.array(1, "scale"), shape).copy()}
    beta = ctx.array(2, "bias")
    if beta is not None:
        weights["beta"] = np.broadcast_to(beta, shape).copy()
    return L.LayerNorm(axis=letters, epsilon=float(ctx.attr("epsilon", 1e-5)), center=beta is not None), weights


def twinnet_layer_norm(ctx: Ctx) -> Converted:
    """The rule's axes are positions in ascending order, and its weights are shaped as those positions: the
    letters in that order are the IR's declared order, so the weights go in as they are."""
    x = ctx.x()
    letters = "".join(ctx.letter(a, x) for a in ctx.attr("axes"))
    gamma, beta = ctx.attr("gamma"), ctx.attr("beta")
    weights = {k: v for k, v in (("gamma", gamma), ("beta", beta)) if v is not None}
    layer = L.LayerNorm(
        axis=letters, epsilon=float(ctx.attr("epsilon")), center=beta is not None, scale=gamma is not None
    )
    return layer, weights


def _group_norm(ctx: Ctx, groups: int, epsilon: float, gamma, beta) -> Converted:
    x = ctx.x()
    if x.spec.rank < 3 or x.layout[:2] != "NC":
        raise UnsupportedError(
            f"normalises groups of axis 1 of a {x.layout!r} tensor; the IR's GroupNorm "
            "needs it to be the channel axis of a rank-3+ tensor"
        )
    channels = x.spec.shape[1]
    if channels is None or groups < 1 or channels % groups:
        raise UnsupportedError(f"{groups} groups do not divide {channels} channels")
    weights = {}
    for key, value in (("gamma", gamma), ("beta", beta)):
        if value is None:
            continue
        value = np.asarray(value, np.float32).reshape(-1)
        if value.size != channels:  # opset 18's per-group values: onnx.checker refuses that deprecated version
            raise UnsupportedError(f"{key} has {value.size} values for {channels} channels in {groups} groups")
        weights[key] = value
    layer = L.GroupNorm(groups=groups, axis="C", epsilon=epsilon, center="beta" in weights, scale="gamma" in weights)
    return layer, weights


def group_norm(ctx: Ctx) -> Converted:
    """ONNX's GroupNormalization (opset 21: scale and bias per channel)."""
    ctx.x(channels_first(len(ctx.inputs[0].layout)))
    return _group_norm(
        ctx, int(ctx.attr("num_groups")), float(ctx.attr("epsilon", 1e-5)), ctx.array(1, "scale"), ctx.array(2, "bias")
    )


def twinnet_group_norm(ctx: Ctx) -> Converted:
    return _group_norm(
        ctx, int(ctx.attr("num_groups")), float(ctx.attr("epsilon")), ctx.attr("gamma"), ctx.attr("beta")
    )


def instance_norm(ctx: Ctx) -> Converted:
    """InstanceNormalization is a GroupNorm with one group per channel."""
    x = ctx.x(channels_first(len(ctx.inputs[0].layout)))
    return _group_norm(
        ctx, x.spec.shape[1] or 0, float(ctx.attr("epsilon", 1e-5)), ctx.array(1, "scale"), ctx.array(2, "B")
    )
