"""Losses, each with its per-sample formula; a batch's loss is the mean over its samples.

``y`` is the target, ``p`` the model's output; sums and means run over the
last axis of one sample. Cross-entropies read ``p`` as probabilities unless
``from_logits=True``; probabilities are clipped to ``[EPSILON, 1 - EPSILON]``
before the log (categorical ones first divided by their sum), as Keras does.

One difference is Keras's alone and twinnet removes it: on the TensorFlow
backend, Keras's own cross-entropies look behind an output made by a softmax
or sigmoid and use that activation's input (skipping the clip from
probabilities, and skipping the activation when told ``from_logits=True``).
twinnet's Keras loss computes the formula below on the tensor it is given.

>>> Huber(delta=2.0).delta
2.0
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import flag, number

#: The clip applied to probabilities before a log (Keras's ``backend.epsilon()``).
EPSILON = 1e-7


@dataclass(frozen=True)
class BinaryCrossentropy:
    """``mean(-(y * log(q) + (1 - y) * log(1 - q)))``, ``q = clip(p)``; from logits ``x``:
    ``mean(max(x, 0) - x * y + log(1 + exp(-|x|)))``."""

    from_logits: bool = False

    def __post_init__(self):
        flag("BinaryCrossentropy", "from_logits", self.from_logits)


@dataclass(frozen=True)
class CategoricalCrossentropy:
    """``-sum(y * log(clip(p / sum(p))))`` for one-hot (or soft) ``y``; from logits: ``-sum(y * log_softmax(x))``."""

    from_logits: bool = False

    def __post_init__(self):
        flag("CategoricalCrossentropy", "from_logits", self.from_logits)


@dataclass(frozen=True)
class SparseCategoricalCrossentropy:
    """:class:`CategoricalCrossentropy` with ``y`` an integer class index instead of a one-hot vector."""

    from_logits: bool = False

    def __post_init__(self):
        flag("SparseCategoricalCrossentropy", "from_logits", self.from_logits)


@dataclass(frozen=True)
class MeanSquaredError:
    """``mean((p - y) ** 2)``."""


@dataclass(frozen=True)
class MeanAbsoluteError:
    """``mean(|p - y|)``."""


@dataclass(frozen=True)
class Huber:
    """``mean(h(p - y))`` with ``h(e) = e * e / 2`` where ``|e| <= delta``, else ``delta * (|e| - delta / 2)``."""

    delta: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "delta", number("Huber", "delta", self.delta, low=0, low_open=True))


Loss = (
    BinaryCrossentropy
    | CategoricalCrossentropy
    | SparseCategoricalCrossentropy
    | MeanSquaredError
    | MeanAbsoluteError
    | Huber
)

#: Every loss by its class name (the ``kind`` in a model file).
LOSSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
        Huber,
    )
}
