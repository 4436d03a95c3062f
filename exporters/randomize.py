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
   those become its statistics (the variance at least the squared mean, :func:`calibrate_keras`). Each
   normalisation then brings its output to the scale of its random ``gamma`` and ``beta``, so the signal
   reaches the outputs, and a dropped bias, a swapped mean and variance or a wrong epsilon changes them.
   (Statistics moved at random after calibration were tried: each BatchNorm then sees a shifted input its
   successors were not calibrated for, and at a 1x1 spatial size a few channels grew to hundreds, where
   float32 rounding alone broke the tolerance.)

Seeded: the same model and seed give the same copy. :func:`randomize_keras` randomises a Keras model
in place (``examples/keras_apps.py``), calibrating only on request.

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
    """Set each BatchNorm's moving statistics to those of what reaches it (:func:`calibrate_keras`)."""
    from ..backends import to_keras

    net = to_keras(model)
    calibrate_keras(net, inputs)
    layers = {layer.name: layer for layer in net.layers}
    for node in batch_norms:
        for name in ("moving_mean", "moving_variance"):
            key = f"{node.name}/{name}"
            model.weights[key] = np.asarray(getattr(layers[node.name], name).numpy()).astype(model.weights[key].dtype)


def calibrate_keras(net, inputs) -> None:
    """One training-mode pass of the Keras model ``net`` on ``inputs`` with momentum 0, so that each
    BatchNormalization's moving statistics become those of what reaches it, every earlier one already
    calibrated (Dropout is off for the pass; both are restored after).

    Subtracting a mean amplifies the relative rounding error of what comes in by ``|mean| / std``, and the
    amplification compounds from one BatchNorm to the next: the variance is floored at ``mean^2``, so no
    BatchNorm divides by less than its mean. (With a floor of ``(mean / 10)^2`` the calibrated
    ``mobilenet_v2`` of ``examples/keras_apps.py`` differed from its own float64 run by 3e-4, Keras and
    torch alike: rounding, but beyond float32's tolerance.)"""
    import keras

    changed = []
    for layer in net.layers:
        for kind, attr in ((keras.layers.BatchNormalization, "momentum"), (keras.layers.Dropout, "rate")):
            if isinstance(layer, kind):
                changed.append((layer, attr, getattr(layer, attr)))
                setattr(layer, attr, 0.0)
    from .segments import segmented

    # a segment at a time (a functional model holds every layer's output until its call returns), and under
    # the torch backend without an autograd record (it would hold them all again, for a backward never run)
    run, xs = segmented(net), list(inputs) if len(inputs) > 1 else inputs[0]
    try:
        if keras.backend.backend() == "torch":
            import torch

            with torch.no_grad():
                run(xs, training=True)
        else:
            run(xs, training=True)
    finally:
        for layer, attr, value in changed:
            setattr(layer, attr, value)
    for layer, attr, _ in changed:
        if attr == "momentum":
            mean = np.asarray(layer.moving_mean.numpy(), np.float64)
            var = np.maximum(np.asarray(layer.moving_variance.numpy(), np.float64), mean**2)
            layer.moving_variance.assign(var.astype(layer.moving_variance.dtype))


def randomize_keras(km, seed: int = 0, *, calibrate: bool = False, inputs=None):
    """Randomise a Keras model in place (a source to convert, as ``examples/keras_apps.py`` does); returns ``km``.

    Kernels keep their values; biases, offsets and means become N(0, 0.1), scales and variances U(0.5, 1.5).
    With ``calibrate``, BatchNorm statistics are then calibrated (:func:`calibrate_keras`) on ``inputs``, by
    default a seeded batch of 32 drawn as ``verify`` draws image inputs: uniform in ``[-1, 1]``, or over the
    range a Rescaling reading the input maps to ``[-1, 1]`` (:func:`keras_input_range`; statistics calibrated
    on ``[-1, 1]`` for an ``EfficientNetB0`` that is then fed ``[-255, 255]`` grow its outputs to 1e7). Not
    calibrating keeps deep networks' activations small: ``mobilenet_v2`` and ``efficientnet_b0`` of
    ``examples/keras_apps.py`` then barely vary with the input (docs/limits.md, ``keras-apps-uninformative``)."""
    import keras

    rng = np.random.default_rng(seed)
    for v in km.weights:
        name = v.path.rsplit("/", 1)[-1]
        if name in ("gamma", "moving_variance", "variance"):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(v.dtype))
        elif name in ("beta", "moving_mean", "bias", "mean"):
            v.assign(rng.normal(0.0, 0.1, v.shape).astype(v.dtype))
    for layer in km.layers:
        if isinstance(layer, keras.layers.Normalization):
            # Normalization computes with tensors copied from its variables when built; without this it
            # would keep using the old mean and variance (a saved and reloaded model would not).
            layer.finalize_state()
    if calibrate:
        if inputs is None:
            inputs = []
            for t in km.inputs:
                low, high = keras_input_range(km, t) or (-1.0, 1.0)
                shape = tuple(32 if d is None else d for d in t.shape)
                inputs.append((low + (high - low) * rng.random(shape)).astype("float32"))
        calibrate_keras(km, inputs)
    return km


def keras_input_range(km, t):
    """``(low, high)``, what the Rescaling layer that alone reads input ``t`` of the Keras model ``km`` maps to
    ``[-1, 1]`` (per channel where its scale is), or None where no such layer reads it (the rule of
    :func:`twinnet.exporters.inputs.image_range`, read off the Keras model)."""
    import keras

    readers = [layer for layer in km.layers if not isinstance(layer, keras.layers.InputLayer) and layer.input is t]
    if len(readers) != 1 or not isinstance(readers[0], keras.layers.Rescaling):
        return None
    scale = np.asarray(readers[0].scale, np.float64)
    offset = np.asarray(readers[0].offset, np.float64)
    if np.any(scale == 0):
        return None
    ends = ((-1.0 - offset) / scale, (1.0 - offset) / scale)
    return np.minimum(*ends), np.maximum(*ends)


def verify_randomized(report, model: Model, inputs, references=None, **options) -> None:
    """Verify :func:`randomized` ``model`` (calibrated on ``inputs`` when given) on ``inputs`` (None: seeded
    ones) with ``options`` of :func:`twinnet.exporters.verify`, and add its rows and errors to ``report``.

    ``references``: ``(copy) -> {path name: function}``, the reference paths to run with the copy."""
    from .verify import verify

    try:
        copy = randomized(model, options["seed"], inputs=inputs)
    except Exception as e:  # calibration runs Keras: a model Keras cannot build is reported, not raised
        report.errors["randomize"] = f"{type(e).__name__}: {e}"
        return
    again = verify(copy, inputs, references=references(copy) if references else None, **options)
    for row in again.rows:
        row.weights = "randomized"
    report.rows += again.rows
    report.errors.update({f"{path} (randomized)": e for path, e in again.errors.items()})
    if again.divergence and not report.divergence:
        report.divergence = f"{again.divergence} (randomized weights)"
