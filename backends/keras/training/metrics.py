"""Keras metrics for :mod:`twinnet.ir.training.metrics`: Keras's own classes, which define them."""

from __future__ import annotations

import keras

from ....ir.training import metrics as M


def build_metric(metric) -> keras.metrics.Metric:
    """The Keras metric computing ``metric``, under the same name (its ``history`` key)."""
    if isinstance(metric, M.BinaryAccuracy):
        return keras.metrics.BinaryAccuracy(threshold=metric.threshold, name=metric.name)
    if isinstance(metric, M.AUC):
        return keras.metrics.AUC(num_thresholds=metric.num_thresholds, name=metric.name)
    own = {
        M.CategoricalAccuracy: keras.metrics.CategoricalAccuracy,
        M.SparseCategoricalAccuracy: keras.metrics.SparseCategoricalAccuracy,
        M.MeanSquaredError: keras.metrics.MeanSquaredError,
        M.MeanAbsoluteError: keras.metrics.MeanAbsoluteError,
    }[type(metric)]
    return own(name=metric.name)
