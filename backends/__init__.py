"""Compilers from the IR to live Keras and PyTorch models, source emitters, and importers.

Frameworks are imported on first use, so ``import twinnet`` is cheap and a
torch-only user never loads TensorFlow.

>>> from twinnet import ir
>>> from twinnet.backends import to_torch
>>> m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,))).initialize(0)
>>> type(to_torch(m)).__name__
'Sequential'
"""

from __future__ import annotations

import sys

from .emit import emit
from .importers import from_keras, from_onnx, from_torch


def to_keras(model, *, native_io: bool = False, expose: bool = False, training=None, dtype=None):
    """Compile an IR model to a ``keras.Model`` built from standard ``keras.layers``.

    Inputs and outputs keep the declared layout, except that Keras always puts
    the batch axis first (a ``TNC`` input is fed as ``NTC``). With
    ``training=spec`` (a :class:`twinnet.ir.training.TrainingSpec`) the model
    comes back compiled for it. ``dtype`` (default ``model.dtype``) is the precision it computes in.
    See :func:`twinnet.backends.keras.to_keras`.
    """
    from .keras import to_keras as compile_keras

    return compile_keras(model, native_io=native_io, expose=expose, training=training, dtype=dtype)


def fit(module, spec, data, *, validation_data=None, epochs=None, callbacks=(), device="auto", verbose=None):
    """Train a torch module (``to_torch(model)``) by a :class:`twinnet.ir.training.TrainingSpec`; returns a History.

    The loop applies the spec's rules exactly as the Keras model ``to_keras(model, training=spec)`` does in
    ``fit``. See :func:`twinnet.backends.torch.training.fit`.
    """
    from .torch.training import fit as torch_fit

    return torch_fit(
        module,
        spec,
        data,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=callbacks,
        device=device,
        verbose=verbose,
    )


def to_torch(model, *, native_io: bool = False, expose: bool = False, dtype=None, device=None):
    """Compile an IR model to a ``torch.nn.Module`` (eval mode), in ``dtype`` (default ``model.dtype``:
    ``"float32"``, ``"float16"`` or ``"bfloat16"``) on ``device`` (default ``"cpu"``; ``"cuda"``, ...).
    See :func:`twinnet.backends.torch.to_torch`."""
    from .torch import to_torch as compile_torch

    return compile_torch(model, native_io=native_io, expose=expose, dtype=dtype, device=device)


def to_onnx(model, *, native_io: bool = False, expose: bool = False, dtype=None):
    """Write an IR model as an ``onnx.ModelProto`` straight from the IR (only ``onnx`` is imported), its float
    tensors in ``dtype`` (default ``model.dtype``).

    See :func:`twinnet.backends.onnx.to_onnx`.
    """
    from .onnx import to_onnx as compile_onnx

    return compile_onnx(model, native_io=native_io, expose=expose, dtype=dtype)


def load_weights_from(model, trained):
    """A copy of ``model`` holding the weights of ``trained``, a torch module, Keras model or ONNX model compiled
    from it.

    The exact inverse of the compile-time weight transfer (layouts, gate
    orders, folded Flatten orders, torch's second recurrent bias), so a model
    trained in one framework compiles to the other with the trained weights.
    ``trained`` may be what ``to_torch``/``to_keras`` returned or what the
    emitted file loads; optimizer state is not read. ``model`` is left as it
    was. See :mod:`twinnet.backends.lowering.weights_back`.

    Raises:
        WeightError: ``trained`` is neither, or does not match ``model`` (the message names the layer).

    >>> from twinnet import ir
    >>> m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,))).initialize(0)
    >>> net = to_torch(m)
    >>> _ = net.dense.bias.data.fill_(0.5)  # as if trained
    >>> float(load_weights_from(m, net).weights["dense/bias"][0])
    0.5
    """
    torch, keras = sys.modules.get("torch"), sys.modules.get("keras")
    if torch is not None and isinstance(trained, torch.nn.Module):
        from .torch.weights_back import load_weights_from as from_torch_module

        return from_torch_module(model, trained)
    if keras is not None and isinstance(trained, keras.Model):
        from .keras.weights_back import load_weights_from as from_keras_model

        return from_keras_model(model, trained)
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(trained, onnx.ModelProto):
        from .onnx.weights_back import load_weights_from as from_onnx_model

        return from_onnx_model(model, trained)
    from ..ir.errors import WeightError

    raise WeightError(
        f"load_weights_from takes the torch.nn.Module, keras.Model or onnx.ModelProto compiled from the model, got "
        f"{type(trained).__module__}.{type(trained).__name__}"
    )


__all__ = ["to_keras", "to_torch", "to_onnx", "emit", "from_keras", "from_onnx", "from_torch", "load_weights_from"]
