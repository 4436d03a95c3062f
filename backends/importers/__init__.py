"""Importers: models from other frameworks into the IR.

``from_keras`` reads a Keras 3 functional or Sequential model's graph and
weights (it never calls the model or runs code from it) and returns an
``twinnet.Model`` that compiles back to Keras and to PyTorch with the same numerics.

>>> import keras
>>> from twinnet.backends.importers import from_keras
>>> km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="relu", name="head")])
>>> model = from_keras(km)
>>> [node.name for node in model.layers], model.count_params()
(['head'], 10)

``from_onnx`` reads an ONNX file (parsed, never executed) into an ``twinnet.Model``
declared in the file's own axis order, weights included.

``from_torch`` captures a PyTorch ``nn.Module`` with ``torch.export`` (running only
that module, on the example inputs) and returns an ``twinnet.Model`` declared in
torch's axis order, so ``to_torch`` reproduces it without transposes.

Every importer then runs the rewrites of ``common/rewrites.py`` (``rewrites=False`` skips them): exact
changes towards what a person would write (``padding="same"``, an activation fused into its layer), listed
in ``model.rewrites``. Each takes ``converters=``, the user's own entries for its table
(``common/converters.py``, docs/extending.md); :func:`override` marks one that replaces a built-in entry.

Keras, onnx and torch are imported on first use, so ``import twinnet.backends.importers`` stays cheap.
"""

from __future__ import annotations

from .common.converters import override
from .common.rewrites import apply_rewrites


def _rewritten(model, rewrites: bool):
    if rewrites:
        return apply_rewrites(model)
    model.rewrites = []
    return model


def from_keras(
    keras_model, *, name: str | None = None, blocks: bool = True, converters=None, rewrites: bool = True, layouts=None
):
    """Import a Keras 3 functional or Sequential model, weights included, into an ``twinnet.Model``.

    The model is read, never called; anything the IR cannot represent is listed
    in one ``ir.UnsupportedError``. ``blocks=True`` marks repeated blocks named as
    ``keras.applications`` name them (``conv2_block1_...``), so emitted source writes
    each kind once. ``converters={LayerClass: fn}`` maps your own layers (docs/extending.md);
    ``rewrites=False`` skips the exact rewrites towards idiomatic IR (``model.rewrites`` lists what fired).
    ``layouts={"tokens": "TN"}`` declares the axis order a batch-first Keras tensor stands for (default: what
    ``to_keras`` recorded on a model it built).
    See :func:`twinnet.backends.importers.keras.importer.from_keras`.

    >>> import keras
    >>> km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="head")])
    >>> from_keras(km).count_params()
    10
    """
    from .keras.importer import from_keras as import_keras

    model = import_keras(keras_model, name=name, blocks=blocks, converters=converters, layouts=layouts)
    return _rewritten(model, rewrites)


def from_onnx(source, *, name: str | None = None, converters=None, rewrites: bool = True):
    """Import an ONNX model (a path, its bytes or an ``onnx.ModelProto``), weights included, into an ``twinnet.Model``.

    The file is parsed, never executed; the model keeps the file's axis order
    (an ONNX file from torch imports as ``NCHW``) and anything the IR cannot
    represent is listed in one ``ir.UnsupportedError``. ``converters={("domain", "OpType"): fn}`` maps
    your own ops (docs/extending.md); ``rewrites=False`` skips the rewrites. See
    :func:`twinnet.backends.importers.onnx.importer.from_onnx`.

    >>> # model = from_onnx("model.onnx"); print(model.inputs[0].layout)
    """
    from .onnx.importer import from_onnx as import_onnx

    return _rewritten(import_onnx(source, name=name, converters=converters), rewrites)


def from_torch(
    module,
    example_inputs,
    *,
    example_kwargs: dict | None = None,
    name: str | None = None,
    fixed_lengths: bool = False,
    dynamic_images: bool = False,
    converters=None,
    rewrites: bool = True,
):
    """Import a PyTorch ``nn.Module`` (captured with ``torch.export`` on ``example_inputs``), weights included.

    Anything the IR cannot represent is listed in one ``ir.UnsupportedError``.
    The batch axis and, where the module allows it, each input's sequence
    length become symbolic (``fixed_lengths=True`` keeps the example's lengths).
    ``converters={ModuleClass: fn}`` maps your own modules (docs/extending.md); ``rewrites=False``
    skips the rewrites. See :func:`twinnet.backends.importers.torch.importer.from_torch`.

    A float16/bfloat16 module, or one on a GPU, is imported from a float32 CPU copy and the model's ``dtype``
    is set to its precision (:mod:`twinnet.backends.importers.torch.precision`).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    >>> from_torch(net, (torch.zeros(1, 3, 5, 5),)).inputs[0].layout
    'NCHW'
    """
    from .torch.importer import from_torch as import_torch
    from .torch.precision import as_float32_cpu

    dtype, module, example_inputs, example_kwargs = as_float32_cpu(module, example_inputs, example_kwargs)
    model = import_torch(
        module,
        example_inputs,
        example_kwargs=example_kwargs,
        name=name,
        fixed_lengths=fixed_lengths,
        dynamic_images=dynamic_images,
        converters=converters,
    )
    model.dtype = dtype
    return _rewritten(model, rewrites)


__all__ = ["from_keras", "from_onnx", "from_torch", "override", "apply_rewrites"]
