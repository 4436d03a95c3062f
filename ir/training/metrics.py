"""Metrics reported per epoch (the mean over every sample seen, or AUC over all of them).

Each has the name Keras gives it, which is its key in ``history``.

>>> AUC().name
'auc'
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import integer, number


@dataclass(frozen=True)
class BinaryAccuracy:
    """The fraction of outputs on the target's side of ``threshold`` (``p > threshold`` counts as 1)."""

    threshold: float = 0.5
    name = "binary_accuracy"

    def __post_init__(self):
        object.__setattr__(self, "threshold", number("BinaryAccuracy", "threshold", self.threshold, low=0, high=1))


@dataclass(frozen=True)
class CategoricalAccuracy:
    """The fraction of samples whose largest output is at the target's one-hot position."""

    name = "categorical_accuracy"


@dataclass(frozen=True)
class SparseCategoricalAccuracy:
    """The fraction of samples whose largest output is at the target's class index."""

    name = "sparse_categorical_accuracy"


@dataclass(frozen=True)
class AUC:
    """Area under the ROC curve as Keras computes it: true- and false-positive rates at ``num_thresholds``
    thresholds (``-1e-7``, ``i / (num_thresholds - 1)`` for the ones between, ``1 + 1e-7``; ``p > threshold``
    is positive), joined by the trapezoid rule. An approximation of the exact AUC, the same on both sides."""

    num_thresholds: int = 200
    name = "auc"

    def __post_init__(self):
        integer("AUC", "num_thresholds", self.num_thresholds, low=3)


@dataclass(frozen=True)
class MeanSquaredError:
    """The mean of ``(p - y) ** 2``."""

    name = "mean_squared_error"


@dataclass(frozen=True)
class MeanAbsoluteError:
    """The mean of ``|p - y|``."""

    name = "mean_absolute_error"


Metric = BinaryAccuracy | CategoricalAccuracy | SparseCategoricalAccuracy | AUC | MeanSquaredError | MeanAbsoluteError

#: Every metric by its class name (the ``kind`` in a model file).
METRICS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        AUC,
        MeanSquaredError,
        MeanAbsoluteError,
    )
}
