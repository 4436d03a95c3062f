"""The training spec: loss, optimizer, metrics, regularisation, clipping, batch size, epochs, seed.

One frozen dataclass that both backends read; it serialises with the model
file (``model.training``, see :mod:`twinnet.ir.serde`).

>>> from twinnet.ir import training as T
>>> spec = T.TrainingSpec(T.SparseCategoricalCrossentropy(), T.Adam(1e-3), batch_size=16)
>>> T.TrainingSpec.from_dict(spec.to_dict()) == spec
True
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SchemaError, show
from .checks import fail, flag, from_entry, integer, number, to_entry
from .losses import LOSSES, Loss
from .metrics import METRICS, Metric
from .optimizers import OPTIMIZERS, Optimizer
from .schedules import SCHEDULES


@dataclass(frozen=True)
class Regularization:
    """A penalty added to the loss: ``l1 * sum(|w|) + l2 * sum(w * w)`` over every weight of rank 2 or more.

    That is every kernel, recurrent kernel and embedding table, never a bias
    or a normalisation parameter, in both frameworks alike.
    """

    l1: float = 0.0
    l2: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "l1", number("Regularization", "l1", self.l1, low=0))
        object.__setattr__(self, "l2", number("Regularization", "l2", self.l2, low=0))


@dataclass(frozen=True)
class TrainingSpec:
    """How to train a model, the same in Keras and PyTorch.

    Args:
        loss: one of :mod:`twinnet.ir.training.losses`.
        optimizer: one of :mod:`twinnet.ir.training.optimizers`.
        metrics: reported per epoch (:mod:`twinnet.ir.training.metrics`).
        regularization: a penalty added to the loss, or None.
        clip_norm: gradients scaled by ``min(1, clip_norm / global_norm)`` before the update, the
            global norm taken over all gradients together; or None.
        clip_value: every gradient element clipped to ``[-clip_value, clip_value]``; or None
            (at most one of the two clippings).
        batch_size, epochs: as in ``fit``.
        seed: seeds the shuffling of the samples (the same order in both frameworks).
        shuffle: shuffle the samples every epoch.
        parity: turn dropout off in both frameworks, so that the two runs can agree
            step for step (dropout masks cannot be shared); ``fit`` says so when it applies.

    Raises:
        ConfigError: a bad argument, named.
    """

    loss: Loss
    optimizer: Optimizer
    metrics: tuple[Metric, ...] = ()
    regularization: Regularization | None = None
    clip_norm: float | None = None
    clip_value: float | None = None
    batch_size: int = 32
    epochs: int = 1
    seed: int = 0
    shuffle: bool = True
    parity: bool = False

    def __post_init__(self):
        if type(self.loss) not in LOSSES.values():
            raise fail("loss", f"must be one of {', '.join(LOSSES)}, got {show(self.loss)}")
        if type(self.optimizer) not in OPTIMIZERS.values():
            raise fail("optimizer", f"must be one of {', '.join(OPTIMIZERS)}, got {show(self.optimizer)}")
        metrics = tuple(self.metrics) if isinstance(self.metrics, (list, tuple)) else (self.metrics,)
        for m in metrics:
            if type(m) not in METRICS.values():
                raise fail("metrics", f"each must be one of {', '.join(METRICS)}, got {show(m)}")
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise fail("metrics", f"a metric is listed twice: {names}")
        object.__setattr__(self, "metrics", metrics)
        if self.regularization is not None and not isinstance(self.regularization, Regularization):
            raise fail("regularization", f"must be a Regularization or None, got {show(self.regularization)}")
        for field in ("clip_norm", "clip_value"):
            if getattr(self, field) is not None:
                object.__setattr__(
                    self, field, number("TrainingSpec", field, getattr(self, field), low=0, low_open=True)
                )
        if self.clip_norm is not None and self.clip_value is not None:
            raise fail("TrainingSpec", "give clip_norm or clip_value, not both")
        integer("TrainingSpec", "batch_size", self.batch_size)
        integer("TrainingSpec", "epochs", self.epochs)
        integer("TrainingSpec", "seed", self.seed, low=0)
        flag("TrainingSpec", "shuffle", self.shuffle)
        flag("TrainingSpec", "parity", self.parity)

    def to_dict(self) -> dict:
        """The spec as JSON-ready data (every item as ``{"kind": ..., fields}``)."""
        return {
            "loss": to_entry(self.loss),
            "optimizer": to_entry(self.optimizer),
            "metrics": [to_entry(m) for m in self.metrics],
            "regularization": None if self.regularization is None else to_entry(self.regularization),
            "clip_norm": self.clip_norm,
            "clip_value": self.clip_value,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "parity": self.parity,
        }

    @classmethod
    def from_dict(cls, data) -> TrainingSpec:
        """Rebuild a spec from :meth:`to_dict` output, checking every field (SchemaError / ConfigError)."""
        if not isinstance(data, dict):
            raise SchemaError(f"training spec: must be an object, got {type(data).__name__}")
        known = {"loss", "optimizer", "metrics", "regularization", "clip_norm", "clip_value"}
        known |= {"batch_size", "epochs", "seed", "shuffle", "parity"}
        extra = sorted(set(data) - known)
        if extra:
            raise SchemaError(f"training spec: unknown field(s) {', '.join(map(show, extra))}")
        for need in ("loss", "optimizer"):
            if need not in data:
                raise SchemaError(f"training spec: missing field {need!r}")
        metrics = data.get("metrics", [])
        if not isinstance(metrics, list):
            raise SchemaError(f"training spec: 'metrics' must be a list, got {type(metrics).__name__}")
        reg = data.get("regularization")
        plain = {k: data[k] for k in known - {"loss", "optimizer", "metrics", "regularization"} if k in data}
        return cls(
            loss=from_entry(data["loss"], LOSSES, "loss"),
            optimizer=from_entry(data["optimizer"], OPTIMIZERS, "optimizer", (SCHEDULES, "schedule")),
            metrics=tuple(from_entry(m, METRICS, "metric") for m in metrics),
            regularization=None
            if reg is None
            else from_entry(reg, {"Regularization": Regularization}, "regularization"),
            **plain,
        )


def training_spec(model, training) -> TrainingSpec | None:
    """What a compiler's ``training=`` argument means: a spec, ``True`` for ``model.training``, or None."""
    if training is None or training is False:
        return None
    if training is True:
        if getattr(model, "training", None) is None:
            raise fail("training=True", f"model {model.name!r} carries no training spec (model.training is None)")
        return model.training
    if not isinstance(training, TrainingSpec):
        raise fail("training", f"must be a TrainingSpec, True or None, got {type(training).__name__}")
    return training
