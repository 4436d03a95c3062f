"""``twinnet.fit``: a torch training loop by a :class:`twinnet.ir.training.TrainingSpec`, with Keras's ``fit`` habits.

One update (:meth:`Trainer.train_step`): forward in train mode, the loss plus
the regularisation penalty, backward, clipping (global norm scaled by
``min(1, clip / norm)`` as Keras, or by value), the optimizer's step, then the
schedule's. Epochs switch to eval mode for validation, collect a Keras-like
``history`` and call the callbacks; a progress bar is drawn on a terminal only.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch

from ....ir.errors import ConfigError
from ....ir.training.spec import TrainingSpec
from .callbacks import Callback, History
from .data import as_loader
from .losses import build_loss
from .metrics import build_metric
from .optimizers import build_optimizer
from .parity import penalty, prepare
from .schedules import build_schedule


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"fit: device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("fit: device='cuda' but torch sees no CUDA device")
    return torch.device(device)


def _inputs(x, device):
    xs = x if isinstance(x, (list, tuple)) else (x,)
    return [torch.as_tensor(np.asarray(a)).to(device) for a in xs]


class Trainer:
    """The module, its optimizer, loss and schedule built from ``spec``; one :meth:`train_step` per batch."""

    def __init__(self, module: torch.nn.Module, spec: TrainingSpec, device: str = "auto"):
        if not isinstance(spec, TrainingSpec):
            raise ConfigError(f"fit: spec must be a TrainingSpec, got {type(spec).__name__}")
        self.spec, self.device = spec, pick_device(device)
        self.module = module.to(self.device)
        off = prepare(module, spec)
        if off:
            warnings.warn(f"parity mode: dropout turned off in {', '.join(off)}", stacklevel=3)
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(spec, self.params)
        self.scheduler = build_schedule(spec, self.optimizer)
        self.loss = build_loss(spec.loss)
        self.stop_training = False

    def train_step(self, x, y, metrics=()) -> float:
        """One update on one batch; returns the batch's loss (penalty included, as Keras reports it).

        ``metrics`` are updated with this batch's outputs from before the update, as Keras's ``fit`` does.
        """
        self.module.train()
        target = torch.as_tensor(np.asarray(y)).to(self.device)
        out = self.module(*_inputs(x, self.device))
        loss = self.loss(out, target)
        extra = penalty(self.module, self.spec)
        if extra is not None:
            loss = loss + extra
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for m in metrics:
            m.update(out.detach().cpu().numpy(), np.asarray(y))
        self._clip()
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    @torch.no_grad()
    def _clip(self):
        grads = [p.grad for p in self.params if p.grad is not None]
        if self.spec.clip_value is not None:
            for g in grads:
                g.clamp_(-self.spec.clip_value, self.spec.clip_value)
        if self.spec.clip_norm is not None and grads:
            norm = torch.sqrt(sum(g.square().sum() for g in grads))
            scale = self.spec.clip_norm * torch.minimum(1.0 / norm, torch.tensor(1.0 / self.spec.clip_norm))
            for g in grads:
                g.mul_(scale)

    @torch.no_grad()
    def evaluate(self, loader, metrics) -> dict[str, float]:
        """Loss and metrics over every batch of ``loader`` in eval mode (sample-weighted means, as Keras)."""
        self.module.eval()
        total, count = 0.0, 0
        for m in metrics:
            m.reset()
        for x, y in loader:
            out = self.module(*_inputs(x, self.device))
            target = torch.as_tensor(np.asarray(y)).to(self.device)
            loss = self.loss(out, target)
            extra = penalty(self.module, self.spec)
            n = len(out)
            total += float(loss + (extra if extra is not None else 0.0)) * n
            count += n
            for m in metrics:
                m.update(out.cpu().numpy(), np.asarray(y))
        return {"loss": total / max(count, 1), **{m.name: m.result() for m in metrics}}


class _Bar:
    """``epoch 2/5  12/40 [=====>      ] loss 0.1234`` redrawn in place, on a terminal only."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def draw(self, epoch, epochs, done, total, loss, end=False, extra=""):
        if not self.enabled:
            return
        width = 24
        fill = width * done // max(total, 1)
        bar = "=" * fill + (">" if fill < width else "") + " " * (width - fill - 1)
        line = f"\repoch {epoch + 1}/{epochs}  {done}/{total} [{bar[:width]}] loss {loss:.4f}{extra}"
        sys.stderr.write(line + ("\n" if end else ""))
        sys.stderr.flush()


def fit(module, spec, data, *, validation_data=None, epochs=None, callbacks=(), device="auto", verbose=None):
    """Train a torch module by ``spec``; returns a :class:`~.callbacks.History` (``history.history["loss"]``, ...).

    Args:
        module: a ``torch.nn.Module`` (``twinnet.to_torch(model)``), trained in place.
        spec: a :class:`twinnet.ir.training.TrainingSpec`.
        data: ``(x, y)`` numpy arrays (batched and shuffled by the spec's batch size and seed, in the
            same order Keras gets them), a ``Batches``, or an iterable of ``(x, y)`` batches.
        validation_data: the same kinds, evaluated after each epoch (``val_`` keys).
        epochs: overrides ``spec.epochs``.
        callbacks: :class:`~.callbacks.Callback` objects (``EarlyStopping``, ``ModelCheckpoint``, ...).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when torch sees one).
        verbose: draw a progress bar per epoch; by default only when stderr is a terminal.
    """
    trainer = Trainer(module, spec, device)
    epochs = spec.epochs if epochs is None else epochs
    train = as_loader(data, spec)
    val = None if validation_data is None else as_loader(validation_data, spec)
    metrics = [build_metric(m) for m in spec.metrics]
    history = History()
    hooks = [history, *callbacks]
    for cb in hooks:
        if not isinstance(cb, Callback):
            raise ConfigError(f"fit: callbacks must be twinnet Callback objects, got {type(cb).__name__}")
        cb.module, cb.trainer = module, trainer
        cb.on_train_begin()
    bar = _Bar(sys.stderr.isatty() if verbose is None else verbose)
    for epoch in range(epochs):
        for cb in hooks:
            cb.on_epoch_begin(epoch)
        train.dataset.epoch = epoch
        for m in metrics:
            m.reset()
        total, count = 0.0, 0
        for i, (x, y) in enumerate(train):
            loss = trainer.train_step(x, y, metrics)
            n = len(np.asarray(y))
            total, count = total + loss * n, count + n
            for cb in hooks:
                cb.on_train_batch_end(i, {"loss": total / count})
            bar.draw(epoch, epochs, i + 1, len(train), total / count)
        logs = {"loss": total / count, **{m.name: m.result() for m in metrics}}
        if val is not None:
            logs.update({f"val_{k}": v for k, v in trainer.evaluate(val, metrics).items()})
        bar.draw(epoch, epochs, len(train), len(train), logs["loss"], end=True, extra=_extra(logs))
        for cb in hooks:
            cb.on_epoch_end(epoch, logs)
        if trainer.stop_training:
            break
    for cb in hooks:
        cb.on_train_end()
    module.eval()
    return history


def _extra(logs):
    return "".join(f"  {k} {v:.4f}" for k, v in logs.items() if k != "loss")
