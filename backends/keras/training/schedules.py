"""Keras learning-rate schedules applying :mod:`twinnet.ir.training.schedules` (in float64, then cast)."""

from __future__ import annotations

import math

import keras
from keras import ops

from ....ir.training import schedules as S


def _rate(schedule, t):
    """``schedule.rate(t)`` with ``t`` a float64 tensor, written with keras.ops."""
    if isinstance(schedule, S.Constant):
        return ops.cast(schedule.learning_rate, "float64") + 0.0 * t
    if isinstance(schedule, S.StepDecay):
        return schedule.learning_rate * ops.power(
            ops.cast(schedule.gamma, "float64"), ops.floor(t / schedule.step_size)
        )
    if isinstance(schedule, S.CosineDecay):
        done = ops.minimum(t, float(schedule.decay_steps)) / schedule.decay_steps
        alpha = schedule.alpha
        return schedule.learning_rate * ((1 - alpha) * 0.5 * (1 + ops.cos(math.pi * done)) + alpha)
    if isinstance(schedule, S.WarmUp):
        return _rate(schedule.schedule, t) * ops.minimum(1.0, (t + 1) / schedule.warmup_steps)
    raise TypeError(f"not a schedule: {type(schedule).__name__}")


class SpecSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate of update ``step`` (``optimizer.iterations``: updates already applied) by a twinnet rule."""

    def __init__(self, schedule):
        self.schedule = schedule

    def __call__(self, step):
        return ops.cast(_rate(self.schedule, ops.cast(step, "float64")), "float32")

    def get_config(self):
        from ....ir.training.checks import to_entry

        return {"schedule": to_entry(self.schedule)}

    @classmethod
    def from_config(cls, config):
        from ....ir.training.checks import from_entry

        return cls(from_entry(config["schedule"], S.SCHEDULES, "schedule", (S.SCHEDULES, "schedule")))


def build_schedule(schedule):
    """A constant rate stays a float (Keras keeps it in a variable); any other becomes a :class:`SpecSchedule`."""
    if isinstance(schedule, S.Constant):
        return schedule.learning_rate
    return SpecSchedule(schedule)
