"""Keras losses for :mod:`twinnet.ir.training.losses`.

From logits, and for MSE, MAE and Huber, Keras's own classes apply the rule.
The cross-entropies from probabilities use :class:`ProbabilityCrossentropy`:
Keras's own would, on TensorFlow, swap a softmax or sigmoid output for its
logits and skip the clip, which the rule (and torch) never does.
"""

from __future__ import annotations

import keras
from keras import ops

from ....ir.training import losses as L


class ProbabilityCrossentropy(keras.losses.Loss):
    """Cross-entropy on probabilities, clipped to ``[EPSILON, 1 - EPSILON]`` (``kind``: binary, categorical, sparse)."""

    def __init__(self, kind: str, name: str | None = None):
        super().__init__(name=name or f"{kind}_crossentropy")
        self.kind = kind

    def call(self, y_true, y_pred):
        eps = L.EPSILON
        if self.kind == "binary":
            p = ops.clip(y_pred, eps, 1.0 - eps)
            y = ops.cast(y_true, y_pred.dtype)
            return ops.mean(-(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p)), axis=-1)
        p = ops.clip(y_pred / ops.sum(y_pred, axis=-1, keepdims=True), eps, 1.0 - eps)
        if self.kind == "sparse":
            index = ops.cast(y_true, "int32")
            if len(index.shape) == len(y_pred.shape):
                index = ops.squeeze(index, axis=-1)
            y = ops.one_hot(index, y_pred.shape[-1], dtype=y_pred.dtype)
        else:
            y = ops.cast(y_true, y_pred.dtype)
        return -ops.sum(y * ops.log(p), axis=-1)

    def get_config(self):
        return {"kind": self.kind, "name": self.name}


def build_loss(loss) -> keras.losses.Loss:
    """The Keras loss applying ``loss``'s rule."""
    if isinstance(loss, L.MeanSquaredError):
        return keras.losses.MeanSquaredError()
    if isinstance(loss, L.MeanAbsoluteError):
        return keras.losses.MeanAbsoluteError()
    if isinstance(loss, L.Huber):
        return keras.losses.Huber(delta=loss.delta)
    kind = {
        L.BinaryCrossentropy: "binary",
        L.CategoricalCrossentropy: "categorical",
        L.SparseCategoricalCrossentropy: "sparse",
    }[type(loss)]
    if not loss.from_logits:
        return ProbabilityCrossentropy(kind)
    own = {
        "binary": keras.losses.BinaryCrossentropy,
        "categorical": keras.losses.CategoricalCrossentropy,
        "sparse": keras.losses.SparseCategoricalCrossentropy,
    }[kind]
    return own(from_logits=True)
