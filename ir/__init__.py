"""twinnet's framework-free intermediate representation.

>>> from twinnet import ir
>>> from twinnet.ir import layers as L
>>> x = ir.Input(shape=(28, 28, 1), layout="NHWC", name="image")
>>> y = L.Dense(10, activation="softmax")(L.Flatten()(L.Conv2D(8, 3)(x)))
>>> model = ir.Model(inputs=x, outputs=y, name="tiny").initialize(seed=0)
>>> model.outputs[0].shape
(None, 10)
"""

from . import layers, ops, training
from .blocks import block
from .errors import (
    ConfigError,
    FormatVersionError,
    GraphError,
    IRError,
    LayoutError,
    ResourceLimitError,
    SchemaError,
    ShapeError,
    UnsupportedError,
    WeightError,
)
from .graph import Input, Model, Node, Sequential
from .layout import AXES
from .serde import FORMAT_VERSION, VERSION, from_dict, from_json, load, save, to_dict, to_json
from .tensor import Tensor, TensorSpec

__version__ = VERSION
__all__ = [
    "block",
    "Input",
    "Model",
    "Sequential",
    "layers",
    "ops",
    "training",
    "save",
    "load",
    "to_json",
    "from_json",
    "to_dict",
    "from_dict",
    "Tensor",
    "TensorSpec",
    "Node",
    "IRError",
    "ConfigError",
    "ShapeError",
    "LayoutError",
    "GraphError",
    "SchemaError",
    "FormatVersionError",
    "WeightError",
    "UnsupportedError",
    "ResourceLimitError",
    "AXES",
]
