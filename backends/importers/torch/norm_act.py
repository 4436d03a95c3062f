"""GroupNorm and the capped rectifiers (ReLU6, Hardtanh(0, m), F.relu6, clamp(min=0, max=m)) -> IR.

A rectifier capped at ``m`` is the IR's ``ReLU(max_value=m)`` (Keras's
``ReLU``); ``torch.clamp(x, min=0)`` without a cap is a plain ReLU. Any other
lower bound has no IR layer (the IR has no constant arithmetic).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .modules import array


def group_norm(ctx, call):
    m, x = call.module, ctx.tensor(call.args[0])
    if x.spec.rank < 2 or x.layout[0] != "N":
        raise UnsupportedError(f"expects a batch-first tensor with channels on axis 1, got layout {x.layout}")
    weights = {"gamma": array(m.weight), "beta": array(m.bias)} if m.affine else {}
    layer = L.GroupNorm(groups=m.num_groups, axis=x.layout[1], epsilon=m.eps, center=m.affine, scale=m.affine)
    return ctx.add(call, layer, [x], weights)


def _capped(ctx, call, x, low, high):
    """``clamp(x, low, high)`` as the IR's ReLU; only ``low == 0`` (a rectifier) is representable."""
    if low is None or float(low) != 0.0:
        raise UnsupportedError(f"a lower bound of {low!r} is not a rectifier; only min=0 maps to the IR's ReLU")
    if high is not None and float(high) <= 0:
        raise UnsupportedError(f"max={high!r} must be positive")
    return ctx.add(call, L.ReLU(max_value=None if high is None else float(high)), [ctx.tensor(x)])


def relu6(ctx, call):
    return _capped(ctx, call, call.args[0], 0.0, 6.0)


def hardtanh(ctx, call):
    m = call.module
    return _capped(ctx, call, call.args[0], m.min_val, m.max_val)


def f_hardtanh(ctx, call):
    return _capped(ctx, call, call.arg(0, "input"), call.arg(1, "min_val", -1.0), call.arg(2, "max_val", 1.0))


def clamp(ctx, call):
    low, high = call.arg(1, "min"), call.arg(2, "max")
    if (
        isinstance(low, torch.Tensor)
        or isinstance(high, torch.Tensor)
        or not isinstance(low, (int, float))
        or not isinstance(high, (int, float, type(None)))
    ):
        raise UnsupportedError("only number bounds are supported (clamp(x, min=0, max=m))")
    return _capped(ctx, call, call.arg(0, "input"), low, high)


NORM_ACT_MODULES: dict[type, Callable] = {nn.GroupNorm: group_norm, nn.ReLU6: relu6, nn.Hardtanh: hardtanh}
NORM_ACT_FUNCTIONS: dict[Callable, Callable] = {
    F.relu6: relu6,
    F.hardtanh: f_hardtanh,
    torch.clamp: clamp,
    torch.clip: clamp,
}
NORM_ACT_METHODS: dict[Callable, Callable] = {torch.Tensor.clamp: clamp, torch.Tensor.clip: clamp}
