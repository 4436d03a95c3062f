"""What a compiled torch module changes to train as the spec (and Keras) says.

BatchNorm: twinnet keeps Keras's convention, the running variance updated
from the *biased* batch variance. torch updates it from the unbiased one
(times ``n / (n - 1)``, ``n`` the values per channel); a forward hook on every
BatchNorm module rescales that part of the update back after each training
step. The momentum needs nothing: the compiler already passes
``1 - keras_momentum`` (0.01 for Keras's 0.99).

LSTM and SimpleRNN: torch has two biases where Keras has one (``bias_hh``
starts at zero); both would be trained, doubling the bias's step, so
``bias_hh`` is frozen at zero. GRU keeps both (Keras's GRU has both too).

Dropout: parity mode sets every dropout's probability to 0.
"""

from __future__ import annotations

import torch
from torch import nn


def _pre_hook(module, args):
    if module.training and module.track_running_stats:
        x = args[0]
        module._twinnet_old_var = module.running_var.detach().clone()
        module._twinnet_count = x.numel() // module.num_features  # values per channel, whichever axis holds C


def _hook(module, args, output):
    old = getattr(module, "_twinnet_old_var", None)
    if old is None:
        return
    n, m = module._twinnet_count, module.momentum
    with torch.no_grad():
        # torch wrote (1 - m) * old + m * unbiased; the rule wants (1 - m) * old + m * unbiased * (n - 1) / n
        step = module.running_var - old * (1 - m)
        # a new tensor, not copy_: torch's backward still holds the buffer it updated in place
        module.running_var = old * (1 - m) + step * ((n - 1) / n)
    module._twinnet_old_var = None


def prepare(module: nn.Module, spec) -> list[str]:
    """Apply ``spec`` to ``module`` in place (once); returns the names of the dropouts parity mode turned off."""
    if getattr(module, "_twinnet_prepared", False):
        return []
    off = []
    for name, sub in module.named_modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            sub.register_forward_pre_hook(_pre_hook)
            sub.register_forward_hook(_hook)
        elif isinstance(sub, (nn.LSTM, nn.RNN)):
            for pname, p in sub.named_parameters(recurse=False):
                if pname.startswith("bias_hh"):
                    p.requires_grad_(False)
        elif isinstance(sub, nn.modules.dropout._DropoutNd) and spec.parity and sub.p > 0:
            sub.p = 0.0
            off.append(name)
    module._twinnet_prepared = True
    return off


def penalty(module: nn.Module, spec):
    """The regularisation term of the loss (``l1 * sum|w| + l2 * sum(w^2)`` over trainable weights of rank >= 2)."""
    reg = spec.regularization
    if reg is None:
        return None
    total = None
    for p in module.parameters():
        if p.requires_grad and p.dim() >= 2:
            term = 0.0
            if reg.l1:
                term = term + reg.l1 * p.abs().sum()
            if reg.l2:
                term = term + reg.l2 * p.square().sum()
            total = term if total is None else total + term
    return total
