"""torch learning-rate scheduling for :mod:`twinnet.ir.training.schedules`: the rule's rate, set before each update."""

from __future__ import annotations

import torch


class SpecLR(torch.optim.lr_scheduler.LRScheduler):
    """Sets every group's ``lr`` to ``schedule.rate(t)``, ``t`` the updates done so far; call ``step()`` after each."""

    def __init__(self, optimizer, schedule):
        self.schedule = schedule
        super().__init__(optimizer)

    def get_lr(self):
        return [self.schedule.rate(self.last_epoch) for _ in self.optimizer.param_groups]


def build_schedule(spec, optimizer) -> SpecLR:
    """The scheduler driving ``optimizer`` by ``spec.optimizer.learning_rate`` (a constant one too)."""
    return SpecLR(optimizer, spec.optimizer.learning_rate)
