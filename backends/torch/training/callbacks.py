"""Callbacks for :func:`twinnet.fit` (torch): the ``History`` it returns, early stopping, checkpoints.

The hooks and ``logs`` keys are Keras's (``on_epoch_end(epoch, logs)`` with
``loss``, ``val_loss``, metric names), so a Keras user finds them where they expect.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch

from ....ir.errors import ConfigError


class Callback:
    """Base class; ``self.module`` and ``self.trainer`` are set before training starts."""

    module = None
    trainer = None

    def on_train_begin(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_end(self, logs=None): ...


class History(Callback):
    """``history[key]`` is the list of one value per epoch (as Keras's ``History.history``)."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _better(mode: str, monitor: str):
    if mode == "auto":
        mode = "max" if any(word in monitor for word in ("acc", "auc")) else "min"
    if mode not in ("min", "max"):
        raise ConfigError(f"callback: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return (lambda new, best: new < best) if mode == "min" else (lambda new, best: new > best), mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``restore_best_weights`` puts back the module's state from the best epoch when training stops.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.better, self.mode = _better(mode, monitor)
        self.restore_best_weights = restore_best_weights
        self.best, self.best_state, self.wait, self.stopped_epoch = None, None, 0, None

    def on_train_begin(self, logs=None):
        self.best, self.best_state, self.wait, self.stopped_epoch = None, None, 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ConfigError(f"EarlyStopping: no {self.monitor!r} in this epoch's logs: {sorted(logs or {})}")
        shift = -self.min_delta if self.mode == "min" else self.min_delta  # an improvement must beat best by this
        if self.best is None or self.better(value, self.best + shift):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_state = copy.deepcopy(self.module.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            if self.best_state is not None:
                self.module.load_state_dict(self.best_state)


class ModelCheckpoint(Callback):
    """Save the module's ``state_dict`` to ``path`` (``{epoch}`` and log keys may appear in it) after each epoch,
    or only when ``monitor`` improves with ``save_best_only``."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        self.path, self.monitor, self.save_best_only = str(path), monitor, save_best_only
        self.better, _ = _better(mode, monitor)
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None or math.isnan(value) or (self.best is not None and not self.better(value, self.best)):
                return
            self.best = value
        target = Path(self.path.format(epoch=epoch + 1, **logs))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        torch.save(self.module.state_dict(), partial)
        partial.replace(target)  # never a half-written checkpoint under the real name
