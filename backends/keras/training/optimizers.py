"""Keras optimizers for :mod:`twinnet.ir.training.optimizers`: Keras's own classes apply every rule as written.

Keras's SGD, Adam/AdamW and RMSprop are the rules twinnet writes down
(momentum holding ``lr``, "epsilon hat", epsilon inside the square root,
decoupled weight decay applied first), with one exception: on TensorFlow an
embedding's gradient is an ``IndexedSlices`` holding one row per token
occurrence, and Adam and RMSprop square it row by row before the rows are
summed, so a token seen twice in a batch gets ``g1^2 + g2^2`` where the rule
says ``(g1 + g2)^2``. The subclasses here make the gradient dense first.
Clipping by global norm is Keras's ``global_clipnorm`` (``min(1, clip / norm)``),
clipping by value its ``clipvalue``.
"""

from __future__ import annotations

import keras
from keras import ops

from ....ir.training import optimizers as O
from .schedules import build_schedule


class _DenseGradients:
    """Sum repeated rows of a sparse (embedding) gradient before the update, as the rule's ``g * g`` needs."""

    def update_step(self, gradient, variable, learning_rate):
        dense = ops.add(ops.zeros(variable.shape, variable.dtype), gradient)  # sums repeated rows; a no-op if dense
        return super().update_step(dense, variable, learning_rate)


class DenseAdam(_DenseGradients, keras.optimizers.Adam):
    """Keras's Adam on dense gradients."""


class DenseAdamW(_DenseGradients, keras.optimizers.AdamW):
    """Keras's AdamW on dense gradients."""


class DenseRMSprop(_DenseGradients, keras.optimizers.RMSprop):
    """Keras's RMSprop on dense gradients."""


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
        return DenseAdamW(beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon, **common)
    if isinstance(opt, O.Adam):
        return DenseAdam(beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon, **common)
    if isinstance(opt, O.RMSprop):
        return DenseRMSprop(rho=opt.rho, epsilon=opt.epsilon, **common)
    raise TypeError(f"not an optimizer: {type(opt).__name__}")
