"""Optimizers, each with one update rule written in its docstring.

Notation, for one weight ``w`` at update ``t`` (``t = 0`` first): ``g`` its
gradient (after clipping, see :class:`twinnet.ir.training.TrainingSpec`),
``lr`` the schedule's rate at ``t``, ``k = t + 1`` the update's number.
Weight decay is *decoupled* in every optimizer and comes first, before the
rule: ``w <- w - lr * weight_decay * w`` (as Keras applies it; torch's
``Adam(weight_decay=...)`` would instead add ``weight_decay * w`` to ``g``, an
L2 penalty, which is what :class:`twinnet.ir.training.Regularization` is for).
State starts at zero.

Where a framework's own optimizer applies the rule, the backends use it; where
it does not, they use a small twinnet subclass (``docs/training.md``).

>>> Adam(learning_rate=1e-3).epsilon
1e-07
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import fail, flag, number
from .schedules import Schedule, as_schedule


def _check(opt, **bounds) -> None:
    item = type(opt).__name__
    object.__setattr__(opt, "learning_rate", as_schedule(opt.learning_rate, item))
    object.__setattr__(opt, "weight_decay", number(item, "weight_decay", opt.weight_decay, low=0))
    for field, (low, high) in bounds.items():
        object.__setattr__(opt, field, number(item, field, getattr(opt, field), low=low, high=high, high_open=True))


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent, with optional momentum (Keras's form: the velocity holds ``lr``).

    Without momentum: ``w <- w - lr * g``. With momentum ``mu``::

        v <- mu * v - lr * g
        w <- w + v                      (nesterov: w <- w + mu * v - lr * g)

    torch's ``SGD`` keeps ``b <- mu * b + g; w <- w - lr * b`` instead: the
    same numbers only while ``lr`` is constant, so torch gets a twinnet subclass.
    """

    learning_rate: float | Schedule = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __post_init__(self):
        _check(self, momentum=(0.0, 1.0))
        flag("SGD", "nesterov", self.nesterov)
        if self.nesterov and self.momentum == 0:
            raise fail("SGD", "nesterov=True needs a momentum > 0")


@dataclass(frozen=True)
class Adam:
    """Adam with Keras's "epsilon hat" (``epsilon`` is added after the bias correction is folded into ``lr``)::

        m <- m + (g - m) * (1 - beta_1)
        v <- v + (g * g - v) * (1 - beta_2)
        w <- w - (lr * sqrt(1 - beta_2 ** k) / (1 - beta_1 ** k)) * m / (sqrt(v) + epsilon)

    torch's ``Adam`` divides by ``sqrt(v / (1 - beta_2 ** k)) + epsilon``
    instead (and defaults to ``epsilon = 1e-8``); no constant makes the two
    agree, so torch gets a twinnet subclass.
    """

    learning_rate: float | Schedule = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    weight_decay: float = 0.0

    def __post_init__(self):
        _check(self, beta_1=(0.0, 1.0), beta_2=(0.0, 1.0))
        object.__setattr__(self, "epsilon", number(type(self).__name__, "epsilon", self.epsilon, low=0, low_open=True))


@dataclass(frozen=True)
class AdamW(Adam):
    """:class:`Adam`'s rule with a default decoupled weight decay of 0.004 (Keras's; torch: 0.01)."""

    weight_decay: float = 0.004


@dataclass(frozen=True)
class RMSprop:
    """RMSprop with ``epsilon`` inside the square root (Keras's form)::

        v <- rho * v + (1 - rho) * g * g
        w <- w - lr * g / sqrt(v + epsilon)

    torch's ``RMSprop`` divides by ``sqrt(v) + epsilon`` (and calls ``rho``
    ``alpha``, default 0.99, with ``lr`` 1e-2 and ``epsilon`` 1e-8), so torch
    gets a twinnet subclass.
    """

    learning_rate: float | Schedule = 0.001
    rho: float = 0.9
    epsilon: float = 1e-7
    weight_decay: float = 0.0

    def __post_init__(self):
        _check(self, rho=(0.0, 1.0))
        object.__setattr__(self, "epsilon", number("RMSprop", "epsilon", self.epsilon, low=0, low_open=True))


Optimizer = SGD | Adam | AdamW | RMSprop

#: Every optimizer by its class name (the ``kind`` in a model file).
OPTIMIZERS: dict[str, type] = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop)}
