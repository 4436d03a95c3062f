"""Keras optimizers for :mod:`twinnet.ir.training.optimizers`: Keras's own classes apply every rule as written.

Keras's SGD, Adam/AdamW and RMSprop are the rules twinnet writes down
(momentum holding ``lr``, "epsilon hat", epsilon inside the square root,
decoupled weight decay applied first), so no subclass is needed here; the
differences live on the torch side. Clipping by global norm is Keras's
``global_clipnorm`` (``min(1, clip / norm)``), clipping by value its ``clipvalue``.
"""

from __future__ import annotations

import keras

from ....ir.training import optimizers as O
from .schedules import build_schedule


def build_optimizer(spec) -> keras.optimizers.Optimizer:
    """The Keras optimizer applying ``spec.optimizer``'s rule, with the spec's clipping."""
    opt = spec.optimizer
    common = {
        "learning_rate": build_schedule(opt.learning_rate),
        "weight_decay": opt.weight_decay or None,
        "global_clipnorm": spec.clip_norm,
        "clipvalue": spec.clip_value,
    }
    if isinstance(opt, O.SGD):
        return keras.optimizers.SGD(momentum=opt.momentum, nesterov=opt.nesterov, **common)
    if isinstance(opt, O.AdamW):
        common["weight_decay"] = opt.weight_decay  # Keras's AdamW refuses None
        return keras.optimizers.AdamW(beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon, **common)
    if isinstance(opt, O.Adam):
        return keras.optimizers.Adam(beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon, **common)
    if isinstance(opt, O.RMSprop):
        return keras.optimizers.RMSprop(rho=opt.rho, epsilon=opt.epsilon, **common)
    raise TypeError(f"not an optimizer: {type(opt).__name__}")
