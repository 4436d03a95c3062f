"""What a compiled Keras model changes for training by a spec: dropout in parity mode, regularisation.

BatchNorm needs nothing here: twinnet keeps Keras's convention (running
variance from the biased batch variance, ``moving = momentum * moving + (1 - momentum) * batch``)
and the torch side follows it (``backends/torch/training/parity.py``).
"""

from __future__ import annotations

import keras


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model
            yield from _layers(layer)


def prepare(km: keras.Model, spec) -> list[str]:
    """Apply ``spec`` to ``km`` in place; returns the names of the dropout layers parity mode turned off."""
    off = []
    if spec.parity:
        for layer in _layers(km):
            if isinstance(layer, keras.layers.Dropout) and layer.rate > 0:
                layer.rate = 0.0
                off.append(layer.name)
    if spec.regularization is not None:
        reg = keras.regularizers.L1L2(l1=spec.regularization.l1, l2=spec.regularization.l2)
        for variable in km.trainable_variables:
            if len(variable.shape) >= 2:  # kernels, recurrent kernels, embeddings: the rule's "rank 2 or more"
                variable.regularizer = reg
    return off
