"""Keras losses for :mod:`twinnet.ir.training.losses`.

MSE, MAE and Huber are Keras's own classes. Every cross-entropy is twinnet's
:class:`Crossentropy`, written with keras.ops: Keras's own, on TensorFlow,
look behind a softmax or sigmoid output for its logits and use those instead,
whatever ``from_logits`` says (skipping the clip from probabilities, and
skipping the softmax when told the output is logits), which the rule and
torch never do.
"""

from __future__ import annotations

import keras
from keras import ops

from ....ir.training import losses as L


class Crossentropy(keras.losses.Loss):
    """The rule's cross-entropy (``kind``: binary, categorical, sparse), on probabilities clipped to
    ``[EPSILON, 1 - EPSILON]``, or on logits."""

    def __init__(self, kind: str, from_logits: bool = False, name: str | None = None):
        super().__init__(name=name or f"{kind}_crossentropy")
        self.kind, self.from_logits = kind, from_logits

    def call(self, y_true, y_pred):
        eps = L.EPSILON
        if self.kind == "binary":
            y = ops.cast(y_true, y_pred.dtype)
            if self.from_logits:
                x = y_pred
                return ops.mean(ops.relu(x) - x * y + ops.log1p(ops.exp(-ops.abs(x))), axis=-1)
            p = ops.clip(y_pred, eps, 1.0 - eps)
            return ops.mean(-(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p)), axis=-1)
        if self.from_logits:
            logp = ops.log_softmax(y_pred, axis=-1)
        else:
            logp = ops.log(ops.clip(y_pred / ops.sum(y_pred, axis=-1, keepdims=True), eps, 1.0 - eps))
        if self.kind == "sparse":
            index = ops.cast(y_true, "int32")
            if len(index.shape) == len(y_pred.shape):
                index = ops.squeeze(index, axis=-1)
            y = ops.one_hot(index, y_pred.shape[-1], dtype=y_pred.dtype)
        else:
            y = ops.cast(y_true, y_pred.dtype)
        return -ops.sum(y * logp, axis=-1)

    def get_config(self):
        return {"kind": self.kind, "from_logits": self.from_logits, "name": self.name}


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
    return Crossentropy(kind, loss.from_logits)
