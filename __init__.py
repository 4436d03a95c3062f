"""twinnet: one neural network, written once, running identically in Keras 3 and PyTorch.

The package is the repository itself: ``ir/`` (the framework-free model
description), ``backends/`` (compilers to Keras, PyTorch and ONNX, source
emitters, importers) and ``exporters/`` (ONNX files, the verifier,
``convert`` and the command line) install as ``twinnet.ir``,
``twinnet.backends`` and ``twinnet.exporters``. This module gathers the public
API; frameworks are imported only when a function that needs one is called.

>>> import twinnet
>>> from twinnet import layers as L
>>> x = twinnet.Input(shape=(28, 28, 1), layout="NHWC", name="image")
>>> y = L.Dense(10, activation="softmax")(L.Flatten()(L.Conv2D(8, 3)(x)))
>>> model = twinnet.Model(inputs=x, outputs=y, name="tiny").initialize(seed=0)
>>> model.outputs[0].shape
(None, 10)
"""

from .backends import emit, fit, from_keras, from_onnx, from_torch, load_weights_from, to_keras, to_onnx, to_torch
from .exporters import convert, export_onnx, verify
from .exporters.quiet import quiet_by_default
from .ir import (
    AXES,
    ConfigError,
    FormatVersionError,
    GraphError,
    Input,
    IRError,
    LayoutError,
    Model,
    ResourceLimitError,
    SchemaError,
    Sequential,
    ShapeError,
    UnsupportedError,
    WeightError,
    block,
    layers,
    load,
    ops,
    save,
    training,
)
from .ir.serde import VERSION as __version__

quiet_by_default()  # TensorFlow's C++ logs stay off stderr unless the user set TF_CPP_MIN_LOG_LEVEL

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "layers",
    "ops",
    "block",
    "save",
    "load",
    "to_keras",
    "fit",
    "training",
    "to_torch",
    "to_onnx",
    "emit",
    "from_keras",
    "from_torch",
    "from_onnx",
    "load_weights_from",
    "export_onnx",
    "verify",
    "convert",
    "IRError",
    "ConfigError",
    "FormatVersionError",
    "GraphError",
    "LayoutError",
    "ResourceLimitError",
    "SchemaError",
    "ShapeError",
    "UnsupportedError",
    "WeightError",
    "AXES",
    "__version__",
]
