"""A copy of a model whose check is sensitive: random biases, scales and normalisation statistics.

A model's real weights can make a check prove nothing: ``keras.applications.MobileNetV2(weights=None)``
shrinks its input signal layer after layer (BatchNorm with mean 0 and variance 1 does not undo what
the random kernels take away) until its output is the same for every input, and then any two paths
agree whatever they compute. :func:`randomized` returns a copy that keeps the kernels (the part of the
model that carries the signal) and replaces every other weight:

1. Every weight whose initial value is a constant (biases, offsets, scales, normalisation means and
   variances: ``init`` of ``zeros``, ``ones`` or ``lstm_bias``) gets a random value
   (:func:`twinnet.ir.init.random_value`): offsets N(0, 0.3), scales and variances U(0.5, 1.5).
2. BatchNorm's moving statistics are then *calibrated*: the copy runs once in Keras in training mode on
   seeded inputs, so each BatchNorm records the mean and variance of what actually reaches it (with every
   BatchNorm before it already calibrated and the random scales and offsets of step 1 in place), and
   those become its statistics. Each normalisation then brings its output to the scale of its random
   ``gamma`` and ``beta``, so the signal reaches the outputs, and a dropped bias, a swapped mean and
   variance or a wrong epsilon changes them. (Statistics moved at random after calibration were tried:
   each BatchNorm then sees a shifted input its successors were not calibrated for, and at a 1x1 spatial
   size a few channels grew to hundreds, where float32 rounding alone broke the tolerance.)

Seeded: the same model and seed give the same copy.

>>> # sensitive = randomized(model, seed=0); verify(sensitive)
"""

from __future__ import annotations

import copy

import numpy as np

from ..ir.graph import Model
from ..ir.init import random_value

#: the ``init`` of weights that hold a constant at initialisation: biases, offsets, scales, statistics
CONSTANT_INITS = ("zeros", "ones", "lstm_bias")


def randomized(model: Model, seed: int = 0, inputs=None) -> Model:
    """A copy of ``model`` (same graph, new weights dict) with random biases, scales and statistics.

    Args:
        model: an initialised ``twinnet.Model``; it is not changed.
        seed: seeds every random value.
        inputs: the arrays (declared layouts) BatchNorm statistics are calibrated on; default
            seeded inputs of batch 8 (:func:`twinnet.exporters.inputs.model_inputs`).

    Returns:
        the copy; kernels are shared with ``model`` (not copied).
    """
    out = copy.copy(model)
    specs = model.weight_specs()
    out.weights = {
        key: random_value(spec, seed, key) if spec.init in CONSTANT_INITS else model.weights[key]
        for key, spec in specs.items()
    }
    batch_norms = [node for node in model.layers if node.layer.kind == "BatchNorm"]
    if batch_norms:
        if inputs is None:
            from .inputs import model_inputs

            inputs = model_inputs(model, 8, 7, seed=seed)
        _calibrate(out, batch_norms, inputs)
    return out


def _calibrate(model: Model, batch_norms, inputs) -> None:
    """Set each BatchNorm's moving statistics to those of what reaches it, in one Keras training-mode pass."""
    from ..backends import to_keras

    net = to_keras(model)
    layers = {layer.name: layer for layer in net.layers}
    for layer in net.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = 0.0  # the moving statistics become the batch's own
        elif type(layer).__name__ == "Dropout":
            layer.rate = 0.0  # training mode for BatchNorm only
    net(list(inputs) if len(inputs) > 1 else inputs[0], training=True)
    for node in batch_norms:
        layer = layers[node.name]
        mean = np.asarray(layer.moving_mean.numpy(), np.float64)
        # A channel nearly constant around a large mean would amplify float32 rounding by |mean| / std: its
        # variance is floored at (mean / 10)^2, so no BatchNorm divides by less than a tenth of its mean.
        var = np.maximum(np.asarray(layer.moving_variance.numpy(), np.float64), (0.1 * mean) ** 2)
        dtype = model.weights[f"{node.name}/moving_mean"].dtype
        model.weights[f"{node.name}/moving_mean"] = mean.astype(dtype)
        model.weights[f"{node.name}/moving_variance"] = var.astype(dtype)


def verify_randomized(report, model: Model, inputs, references=None, **options) -> None:
    """Verify :func:`randomized` ``model`` (calibrated on ``inputs`` when given) on ``inputs`` (None: seeded
    ones) with ``options`` of :func:`twinnet.exporters.verify`, and add its rows and errors to ``report``.

    ``references``: ``(copy) -> {path name: function}``, the reference paths to run with the copy."""
    from .verify import verify

    copy = randomized(model, options["seed"], inputs=inputs)
    again = verify(copy, inputs, references=references(copy) if references else None, **options)
    for row in again.rows:
        row.weights = "randomized"
    report.rows += again.rows
    report.errors.update({f"{path} (randomized)": e for path, e in again.errors.items()})
    if again.divergence and not report.divergence:
        report.divergence = f"{again.divergence} (randomized weights)"
