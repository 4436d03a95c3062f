"""Training by a :class:`twinnet.ir.training.TrainingSpec` in torch: the optimizer, loss and loop that apply its rules.

Mirrors ``backends/keras/training/`` file for file, plus what Keras has and
torch lacks: the loop (``fit.py``) and its callbacks (``callbacks.py``). What
differs between the frameworks, and what twinnet does about it, is in
``docs/training.md``.
"""

from __future__ import annotations

from .callbacks import Callback, EarlyStopping, History, ModelCheckpoint
from .data import EpochBatches, as_loader
from .fit import Trainer, fit, pick_device
from .losses import ProbabilityCrossentropy, build_loss
from .metrics import SpecMetric, build_metric
from .optimizers import KerasAdam, KerasRMSprop, KerasSGD, build_optimizer
from .parity import penalty, prepare
from .schedules import SpecLR, build_schedule
