"""Learning-rate schedules: the learning rate of update ``t`` (``t = 0`` for the first update).

Every schedule is a pure function of ``t``, written once in :meth:`rate` in
plain Python, and the backends apply exactly that function: Keras through a
``keras.optimizers.schedules.LearningRateSchedule`` evaluated at
``optimizer.iterations`` (which counts updates already applied), torch by
setting each parameter group's ``lr`` before every step.

>>> CosineDecay(0.1, decay_steps=10).rate(5)
0.05
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .checks import fail, integer, number


@dataclass(frozen=True)
class Constant:
    """``lr(t) = learning_rate``."""

    learning_rate: float

    def __post_init__(self):
        object.__setattr__(
            self, "learning_rate", number("Constant", "learning_rate", self.learning_rate, low=0, low_open=True)
        )

    def rate(self, t: int) -> float:
        return self.learning_rate


@dataclass(frozen=True)
class StepDecay:
    """``lr(t) = learning_rate * gamma ** floor(t / step_size)``: times ``gamma`` every ``step_size`` updates."""

    learning_rate: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        object.__setattr__(
            self, "learning_rate", number("StepDecay", "learning_rate", self.learning_rate, low=0, low_open=True)
        )
        integer("StepDecay", "step_size", self.step_size)
        object.__setattr__(self, "gamma", number("StepDecay", "gamma", self.gamma, low=0, low_open=True, high=1))

    def rate(self, t: int) -> float:
        return self.learning_rate * self.gamma ** (t // self.step_size)


@dataclass(frozen=True)
class CosineDecay:
    """``lr(t) = learning_rate * ((1 - alpha) * (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2 + alpha)``.

    Half a cosine from ``learning_rate`` down to ``alpha * learning_rate`` over
    ``decay_steps`` updates, then flat.
    """

    learning_rate: float
    decay_steps: int
    alpha: float = 0.0

    def __post_init__(self):
        object.__setattr__(
            self, "learning_rate", number("CosineDecay", "learning_rate", self.learning_rate, low=0, low_open=True)
        )
        integer("CosineDecay", "decay_steps", self.decay_steps)
        object.__setattr__(self, "alpha", number("CosineDecay", "alpha", self.alpha, low=0, high=1))

    def rate(self, t: int) -> float:
        done = min(t, self.decay_steps) / self.decay_steps
        return self.learning_rate * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * done)) + self.alpha)


@dataclass(frozen=True)
class WarmUp:
    """``lr(t) = schedule.rate(t) * min(1, (t + 1) / warmup_steps)``: a linear ramp over the first updates.

    The first update already moves (``1 / warmup_steps`` of the rate), so no
    step is wasted at a learning rate of zero.
    """

    schedule: Constant | StepDecay | CosineDecay
    warmup_steps: int

    def __post_init__(self):
        if not isinstance(self.schedule, (Constant, StepDecay, CosineDecay)):
            raise fail(
                "WarmUp", f"schedule must be Constant, StepDecay or CosineDecay, got {type(self.schedule).__name__}"
            )
        integer("WarmUp", "warmup_steps", self.warmup_steps)

    @property
    def learning_rate(self) -> float:
        return self.schedule.learning_rate

    def rate(self, t: int) -> float:
        return self.schedule.rate(t) * min(1.0, (t + 1) / self.warmup_steps)


Schedule = Constant | StepDecay | CosineDecay | WarmUp

#: Every schedule by its class name (the ``kind`` in a model file).
SCHEDULES: dict[str, type] = {cls.__name__: cls for cls in (Constant, StepDecay, CosineDecay, WarmUp)}


def as_schedule(value, item: str) -> Schedule:
    """A learning rate given as a number becomes :class:`Constant`; a schedule stays as it is."""
    if isinstance(value, tuple(SCHEDULES.values())):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(item, f"learning_rate must be a positive number or a schedule, got {type(value).__name__}")
    return Constant(number(item, "learning_rate", value, low=0, low_open=True))
