"""torch-side metrics for :mod:`twinnet.ir.training.metrics`, computed as Keras computes them.

torch has no metric classes of its own, so each is a small accumulator over
numpy copies of the batches: per-sample values averaged over every sample of
the epoch (Keras's ``MeanMetricWrapper``), and AUC from confusion counts at
Keras's thresholds joined by the trapezoid rule.
"""

from __future__ import annotations

import numpy as np

from ....ir.training import metrics as M


class SpecMetric:
    """One metric's running state over an epoch: :meth:`update` per batch, :meth:`result` at the end."""

    def __init__(self, metric):
        self.metric, self.name = metric, metric.name
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0
        if isinstance(self.metric, M.AUC):
            n = self.metric.num_thresholds
            self.thresholds = np.array([-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7], np.float32)
            self.counts = np.zeros((4, n))  # tp, fp, tn, fn per threshold

    def update(self, y_pred: np.ndarray, y_true: np.ndarray) -> None:
        m = self.metric
        if isinstance(m, M.AUC):
            label = (y_true.reshape(-1) > 0.5)[None, :]
            above = y_pred.reshape(-1)[None, :] > self.thresholds[:, None]
            self.counts += np.stack(
                [(above & label).sum(1), (above & ~label).sum(1), (~above & ~label).sum(1), (~above & label).sum(1)]
            )
            return
        if isinstance(m, M.BinaryAccuracy):
            values = ((y_pred > m.threshold) == (y_true > 0.5)).astype(np.float32).mean(axis=-1)
        elif isinstance(m, M.CategoricalAccuracy):
            values = (y_pred.argmax(-1) == y_true.argmax(-1)).astype(np.float32)
        elif isinstance(m, M.SparseCategoricalAccuracy):
            target = y_true.reshape(y_pred.shape[:-1]) if y_true.size == y_pred[..., 0].size else y_true
            values = (y_pred.argmax(-1) == target.astype(np.int64)).astype(np.float32)
        elif isinstance(m, M.MeanSquaredError):
            values = ((y_pred - y_true) ** 2).mean(axis=-1)
        else:
            values = np.abs(y_pred - y_true).mean(axis=-1)
        self.total += float(values.sum())
        self.count += values.size

    def result(self) -> float:
        if isinstance(self.metric, M.AUC):
            tp, fp, tn, fn = self.counts
            with np.errstate(invalid="ignore", divide="ignore"):
                tpr = np.nan_to_num(tp / (tp + fn))
                fpr = np.nan_to_num(fp / (fp + tn))
            return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))
        return self.total / max(self.count, 1)


def build_metric(metric) -> SpecMetric:
    """The accumulator computing ``metric`` (its ``name`` is the ``history`` key)."""
    return SpecMetric(metric)
