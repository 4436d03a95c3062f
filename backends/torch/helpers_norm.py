"""Helper modules for the normalisations whose Keras form torch's layers cannot say as such, inlined into
emitted files like those of ``helpers.py``: a BatchNorm that learns only one of its affine halves, and Keras's
Normalization layer. Each is a named module so that ``from_torch`` reads it back as the IR layer it came
from (``backends/importers/torch/own_modules.py``) rather than as the arithmetic it computes.

Their source is written as ruff format writes it, since it is copied into emitted files as is.
"""

from __future__ import annotations

import torch
from torch import nn


class HalfAffineBatchNorm(nn.BatchNorm1d):
    """BatchNorm over axis 1 of an (N, C, ...) tensor of any rank that learns only one of its affine halves
    (Keras's ``scale=False`` or ``center=False``): the other is a buffer of its identity value (ones or zeros),
    saved in the state dict like nn.BatchNorm's parameter but never trained."""

    def __init__(self, num_features, eps, momentum, scale=True, center=True):
        super().__init__(num_features, eps=eps, momentum=momentum)
        for name, learned, value in (("weight", scale, 1.0), ("bias", center, 0.0)):
            if not learned:
                delattr(self, name)
                self.register_buffer(name, torch.full((num_features,), value))

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected an input of rank 2 or more, got rank {input.dim()}")


class KerasNormalization(nn.Module):
    """Keras's Normalization: ``(x - mean) / max(sqrt(variance), 1e-7)``, or ``mean + x * max(...)`` when
    ``invert``. ``mean`` and ``variance`` are buffers shaped to broadcast against the input as it is held, one
    number per entry of axis ``dim`` (None: for the whole tensor)."""

    def __init__(self, shape, dim=None, invert=False):
        super().__init__()
        self.dim, self.invert = dim, invert
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("variance", torch.ones(shape))

    def forward(self, x):
        std = torch.sqrt(self.variance).clamp(min=1e-7)
        if self.invert:
            return self.mean + x * std
        return (x - self.mean) / std


HELPERS = (HalfAffineBatchNorm, KerasNormalization)
