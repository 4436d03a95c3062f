"""``KERAS_TABLE``: Keras 3 layer class -> the function that turns one layer into IR.

Each entry takes ``(keras_layer, ir_inputs)`` and returns ``(ir layer, weights)``:
an unnamed IR layer (the importer names it) and the layer's weights by short
name (``"kernel"``, ``"forward_bias"``, ...) in the IR's layout. Options the IR
cannot represent raise :class:`twinnet.ir.UnsupportedError`; the importer collects
those for every layer before giving up.

Two facts make most entries one-liners:
  * IR weights are stored in Keras's own layout and Keras's weight names, so
    weights copy over by name (``weights_of``), checked against the IR's specs
    by the importer.
  * Every imported tensor is declared in Keras's own order (batch first,
    channels last: ``NC``, ``NTC``, ``NHWC``), so a Keras axis index is a
    position in the IR layout; entries turn it into a layout letter (``letter``).

Options are read from ``get_config()`` (Keras's public description of a layer);
activations are matched by function identity, never by name.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np
from keras import layers as K

from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layers.preprocessing import NORMALIZATION_EPSILON
from ....ir.layout import past_convention
from ....ir.tensor import Tensor
from ...tables import join_tables
from . import layers_ops, ops_elementwise, ops_reduction, ops_shape
from .attention import multi_head_attention
from .convert_helpers import Converted, _config, _plain, activation, letter, weights_of
from .ops_helpers import keras_layout, view_shape
from .recurrent import bidirectional, embedding, rnn

# -- core ------------------------------------------------------------------------


def dense(layer, inputs) -> Converted:
    _plain(layer)
    cfg = _config(layer)
    return L.Dense(cfg["units"], activation=activation(layer.activation), use_bias=cfg["use_bias"]), weights_of(layer)


def conv(ir_class) -> Callable:
    def convert(layer, inputs) -> Converted:
        _plain(layer)
        cfg = _config(layer, data_format="channels_last")
        return ir_class(
            cfg["filters"],
            cfg["kernel_size"],
            strides=cfg["strides"],
            padding=cfg["padding"],
            dilation_rate=cfg["dilation_rate"],
            groups=cfg["groups"],
            activation=activation(layer.activation),
            use_bias=cfg["use_bias"],
        ), weights_of(layer)

    return convert


_WINDOW = ("kernel_size", "strides", "padding", "dilation_rate", "use_bias")


def same_names(ir_class, *fields) -> Callable:
    """Converter for a windowed layer whose IR arguments are Keras config keys of the same names."""

    def convert(layer, inputs) -> Converted:
        cfg = _config(layer, data_format="channels_last")
        args = {f: cfg[f] for f in fields}
        return ir_class(**args, activation=activation(layer.activation)), weights_of(layer)

    return convert


def pool(ir_class) -> Callable:
    def convert(layer, inputs) -> Converted:
        cfg = _config(layer, data_format="channels_last")
        return ir_class(cfg["pool_size"], strides=cfg["strides"], padding=cfg["padding"]), {}

    return convert


def global_pool(ir_class) -> Callable:
    def convert(layer, inputs) -> Converted:
        cfg = _config(layer, data_format="channels_last")
        return ir_class(keepdims=cfg["keepdims"]), {}

    return convert


def batch_norm(layer, inputs) -> Converted:
    cfg = _config(layer, renorm=False)
    return L.BatchNorm(
        axis=letter(cfg["axis"], inputs[0]),
        momentum=cfg["momentum"],
        epsilon=cfg["epsilon"],
        center=cfg["center"],
        scale=cfg["scale"],
    ), weights_of(layer)


def layer_norm(layer, inputs) -> Converted:
    cfg = _config(layer, rms_scaling=False)
    axes = cfg["axis"] if isinstance(cfg["axis"], (list, tuple)) else [cfg["axis"]]
    letters = {letter(a, inputs[0]) for a in axes}
    ordered = "".join(a for a in inputs[0].layout if a in letters)  # the IR keeps gamma in declared order
    ir_layer = L.LayerNorm(axis=ordered, epsilon=cfg["epsilon"], center=cfg["center"], scale=cfg["scale"])
    # Keras broadcasts gamma/beta with a row-major reshape over the sorted axes, so a reshape
    # to the sizes in declared order is exactly what Keras computes.
    shape = tuple(inputs[0].spec.dim(a) for a in ordered)
    return ir_layer, {k: w.reshape(shape) for k, w in weights_of(layer).items()}


def group_norm(layer, inputs) -> Converted:
    cfg = _config(layer)
    return L.GroupNorm(
        cfg["groups"],
        axis=letter(cfg["axis"], inputs[0]),
        epsilon=cfg["epsilon"],
        center=cfg["center"],
        scale=cfg["scale"],
    ), weights_of(layer)


# -- spatial and preprocessing ------------------------------------------------------


def spatial(ir_class, field: str) -> Callable:
    """ZeroPadding / Cropping: the same argument under the same name."""

    def convert(layer, inputs) -> Converted:
        cfg = _config(layer, data_format="channels_last")
        return ir_class(cfg[field]), {}

    return convert


def upsampling(layer, inputs) -> Converted:
    cfg = _config(layer)
    if isinstance(layer, K.UpSampling1D):
        return L.UpSampling1D(cfg["size"]), {}
    _config(layer, data_format="channels_last")
    if cfg["interpolation"] not in ("nearest", "bilinear"):
        raise UnsupportedError(f"interpolation={cfg['interpolation']!r} is not supported ('nearest' or 'bilinear')")
    return L.UpSampling2D(tuple(cfg["size"]), interpolation=cfg["interpolation"]), {}


def _constants(value, what: str):
    """A Keras constant (number, list or array) as a number or a flat list; refuse other shapes."""
    array = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)
    if array.ndim > 1:
        raise UnsupportedError(
            f"{what} of shape {array.shape} is not supported (a number or one per entry of one axis)"
        )
    return array.tolist()


def rescaling(layer, inputs) -> Converted:
    return L.Rescaling(_constants(layer.scale, "scale"), offset=_constants(layer.offset, "offset")), {}


def normalization(layer, inputs) -> Converted:
    cfg = _config(layer)
    if keras.config.epsilon() != NORMALIZATION_EPSILON:
        raise UnsupportedError(
            f"keras.config.epsilon() is {keras.config.epsilon()}; the IR's Normalization uses "
            f"Keras's default {NORMALIZATION_EPSILON}"
        )
    axes = tuple(cfg["axis"])
    if len(axes) > 1:
        raise UnsupportedError(f"statistics over several axes {axes} are not supported (one axis, or axis=None)")
    if layer.input_mean is not None:  # given to the constructor
        mean, variance = layer.input_mean, layer.input_variance
    else:  # adapted: the IR holds them as configuration. Keras computes with the copies finalize_state()
        # made of its adapt_* variables (broadcast to the input's rank), not with the variables: read those.
        mean, variance = (np.ravel(keras.ops.convert_to_numpy(t)) for t in (layer.mean, layer.variance))
    axis = letter(axes[0], inputs[0]) if axes else None
    # Keras computes with the statistics as float32 tensors (a given mean of 123.675 is 123.67500305...): hold
    # those numbers, which is also what a torch module's float32 buffers read back as
    mean, variance = (np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float32) for v in (mean, variance))
    return L.Normalization(
        mean=_constants(mean, "mean"), variance=_constants(variance, "variance"), axis=axis, invert=cfg["invert"]
    ), {}


def dropout(layer, inputs) -> Converted:
    return L.Dropout(_config(layer)["rate"]), {}  # noise_shape and seed matter only in training


def flatten(layer, inputs) -> Converted:
    _config(layer, data_format="channels_last")
    return L.Flatten(), {}


def reshape(layer, inputs) -> Converted:
    target = tuple(_config(layer)["target_shape"])
    if inputs[0].dtype.startswith("int"):  # integer ids (layers take floats): the op tier's View, same data
        return O.View(view_shape(target), layout=keras_layout(len(target) + 1, True)), {}
    if len(target) + 1 > 5:  # no convention past rank 5 (a window partition): the letters a reshape op gets
        return L.Reshape(target, layout=past_convention(inputs[0].layout, len(target) + 1)), {}
    return L.Reshape(target), {}


def permute(layer, inputs) -> Converted:
    # The importer relabels the result to Keras's axis convention (see importer.py).
    return L.Permute(tuple(_config(layer)["dims"])), {}


def identity(layer, inputs) -> Converted:
    return L.Identity(), {}


# -- activation layers --------------------------------------------------------------


def activation_layer(layer, inputs) -> Converted:
    return L.Activation(activation(layer.activation)), {}


def relu(layer, inputs) -> Converted:
    cfg = _config(layer)
    return L.ReLU(max_value=cfg["max_value"], negative_slope=cfg["negative_slope"], threshold=cfg["threshold"]), {}


def softmax(layer, inputs) -> Converted:
    axis = _config(layer)["axis"]
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise UnsupportedError(f"softmax over several axes {tuple(axis)} is not supported")
        axis = axis[0]
    return L.Activation("softmax", axis=letter(axis, inputs[0])), {}


def leaky_relu(layer, inputs) -> Converted:
    # Passed explicitly: the Keras layer's default slope (0.3) is not the IR's (0.2).
    return L.Activation("leaky_relu", negative_slope=_config(layer)["negative_slope"]), {}


def elu(layer, inputs) -> Converted:
    return L.Activation("elu", alpha=_config(layer)["alpha"]), {}


# -- sequences ------------------------------------------------------------------------


def merge(ir_class) -> Callable:
    def convert(layer, inputs) -> Converted:
        return ir_class(), {}

    return convert


def concatenate(layer, inputs: Sequence[Tensor]) -> Converted:
    return L.Concatenate(axis=letter(_config(layer)["axis"], inputs[0])), {}


def dot(layer, inputs: Sequence[Tensor]) -> Converted:
    config = _config(layer)
    axes = config["axes"] if isinstance(config["axes"], (list, tuple)) else (config["axes"],) * 2
    return L.Dot(axes=tuple(letter(a, x, "axes") for a, x in zip(axes, inputs)), normalize=config["normalize"]), {}


#: Keras layer class -> converter; keyed by the exact class (a subclass may override ``call``).
LAYER_TABLE: dict[type, Callable] = {
    K.Dense: dense,
    K.Conv1D: conv(L.Conv1D),
    K.Conv2D: conv(L.Conv2D),
    K.Conv3D: conv(L.Conv3D),
    K.DepthwiseConv1D: same_names(L.DepthwiseConv1D, *_WINDOW, "depth_multiplier"),
    K.DepthwiseConv2D: same_names(L.DepthwiseConv2D, *_WINDOW, "depth_multiplier"),
    K.SeparableConv1D: same_names(L.SeparableConv1D, "filters", *_WINDOW, "depth_multiplier"),
    K.SeparableConv2D: same_names(L.SeparableConv2D, "filters", *_WINDOW, "depth_multiplier"),
    K.Conv1DTranspose: same_names(L.Conv1DTranspose, "filters", *_WINDOW, "output_padding"),
    K.Conv2DTranspose: same_names(L.Conv2DTranspose, "filters", *_WINDOW, "output_padding"),
    K.MaxPooling1D: pool(L.MaxPool1D),
    K.MaxPooling2D: pool(L.MaxPool2D),
    K.AveragePooling1D: pool(L.AvgPool1D),
    K.AveragePooling2D: pool(L.AvgPool2D),
    K.GlobalAveragePooling1D: global_pool(L.GlobalAvgPool1D),
    K.GlobalAveragePooling2D: global_pool(L.GlobalAvgPool2D),
    K.GlobalMaxPooling1D: global_pool(L.GlobalMaxPool1D),
    K.GlobalMaxPooling2D: global_pool(L.GlobalMaxPool2D),
    K.BatchNormalization: batch_norm,
    K.LayerNormalization: layer_norm,
    K.GroupNormalization: group_norm,
    K.ZeroPadding1D: spatial(L.ZeroPadding1D, "padding"),
    K.ZeroPadding2D: spatial(L.ZeroPadding2D, "padding"),
    K.Cropping1D: spatial(L.Cropping1D, "cropping"),
    K.Cropping2D: spatial(L.Cropping2D, "cropping"),
    K.UpSampling1D: upsampling,
    K.UpSampling2D: upsampling,
    K.Rescaling: rescaling,
    K.Normalization: normalization,
    K.Dropout: dropout,
    K.Flatten: flatten,
    K.Reshape: reshape,
    K.Permute: permute,
    K.Identity: identity,
    K.Activation: activation_layer,
    K.ReLU: relu,
    K.Softmax: softmax,
    K.LeakyReLU: leaky_relu,
    K.ELU: elu,
    K.Embedding: embedding,
    K.SimpleRNN: rnn,
    K.LSTM: rnn,
    K.GRU: rnn,
    K.Bidirectional: bidirectional,
    K.Add: merge(L.Add),
    K.Subtract: merge(L.Subtract),
    K.Multiply: merge(L.Multiply),
    K.Average: merge(L.Average),
    K.Maximum: merge(L.Maximum),
    K.Concatenate: concatenate,
    K.Dot: dot,
    K.MultiHeadAttention: multi_head_attention,
}

#: Every Keras class the importer converts: the layers above, then the ``keras.ops`` operations
#: (entries taking ``(node, inputs)``, see ``ops_helpers.py``).
KERAS_TABLE: dict[type, Callable] = join_tables(
    LAYER_TABLE,
    layers_ops.TABLE,
    ops_elementwise.TABLE,
    ops_reduction.TABLE,
    ops_shape.TABLE,
    what="Keras importer table",
)
