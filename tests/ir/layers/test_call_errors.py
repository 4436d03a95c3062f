"""Every input a layer refuses when it is called: its error type, its whole message, the layer it names.

Shape and layout rules, by family. Each case calls a layer named ``n``, so the
message names that layer and never a wrapped or neighbouring one. Arguments
refused when a layer is built are in test_config_errors.py; cases already in
test_ir_errors.py are not repeated.
"""

import re

import numpy as np
import pytest

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir.layers.base import Layer


def case(make, error, message, id):
    return pytest.param(make, error, message, id=id)


class Fragile(Layer):
    """A layer whose shape rule trips on its input (a stand-in for a buggy or third-party rule)."""

    def infer(self, inputs):
        return inputs[0].shape[99]


def img():
    return ir.Input((9, 10, 3), name="img")


def seq():
    return ir.Input((None, 4), name="seq")


def ids():
    return ir.Input((7,), dtype="int32", name="ids")


def nt():
    return ir.Input((5,), layout="NT", name="nt")


CALLS = [
    case(
        lambda: L.Dense(3, name="n")(np.zeros((1, 3))),
        ir.ShapeError,
        "Dense 'n': expects ir tensors as inputs, got ndarray",
        "not-a-tensor",
    ),
    case(lambda: L.Dense(3, name="n")(), ir.ShapeError, "Dense 'n': expects 1 input(s), got 0", "no-input"),
    case(
        lambda: L.Add(name="n")([img()]), ir.ShapeError, "Add 'n': expects two or more inputs, got 1", "merge-one-input"
    ),
    case(
        lambda: L.Dense(3, name="n")(ids()),
        ir.ConfigError,
        "Dense 'n': expects float32 inputs, got int32 (only Embedding takes integer ids)",
        "int-into-dense",
    ),
    case(
        lambda: Fragile(name="n")(img()),
        ir.ShapeError,
        "Fragile 'n': cannot infer the output shape: tuple index out of range",
        "shape-rule-trips",
    ),
    case(
        lambda: L.Dense(3, name="n")(nt()),
        ir.LayoutError,
        "Dense 'n': needs the feature axis 'C' but the input layout is 'NT'",
        "dense-without-C",
    ),
    case(
        lambda: L.Flatten(name="n")(seq()),
        ir.ShapeError,
        "Flatten 'n': needs every non-batch size to be known, got shape (None, None, 4)",
        "flatten-symbolic",
    ),
    case(
        lambda: L.Reshape((2, 4), name="n")(seq()),
        ir.ShapeError,
        "Reshape 'n': an input with an unknown size (None, None, 4) needs a -1 in target_shape, got (2, 4)",
        "reshape-symbolic-without-wildcard",
    ),
    case(
        lambda: L.Reshape((-1, 7), name="n")(img()),
        ir.ShapeError,
        "Reshape 'n': cannot reshape 270 elements into (-1, 7)",
        "reshape-wildcard",
    ),
    case(
        lambda: L.Reshape((1, 1, 1, 1, 1, 270), name="n")(img()),
        ir.LayoutError,
        "Reshape 'n': no default layout for a rank-7 float tensor; pass layout=",
        "reshape-no-default-layout",
    ),
    case(
        lambda: L.Permute("NCTW", name="n")(img()),
        ir.LayoutError,
        "Permute 'n': cannot permute layout 'NHWC' into 'NCTW'",
        "permute-other-axes",
    ),
    case(
        lambda: L.Permute((2, 1), name="n")(L.Permute("TNC")(seq())),
        ir.LayoutError,
        "Permute 'n': integer dims need the batch axis first, got layout 'TNC'; pass a target layout string",
        "permute-batch-not-first",
    ),
    case(
        lambda: L.Permute((2, 1), name="n")(img()),
        ir.ShapeError,
        "Permute 'n': dims (2, 1) do not fit a rank-4 input",
        "permute-rank",
    ),
    case(
        lambda: L.Activation("softmax", axis=5, name="n")(img()),
        ir.LayoutError,
        "Activation 'n': axis 5 is out of range for layout 'NHWC'",
        "softmax-axis-range",
    ),
    case(
        lambda: L.Conv1D(4, 3, name="n")(img()),
        ir.LayoutError,
        "Conv1D 'n': expects a rank-3 input with a channel axis C (e.g. NWC), got layout 'NHWC'",
        "conv1d-on-image",
    ),
    case(
        lambda: L.Conv2D(4, 3, groups=2, name="n")(img()),
        ir.ShapeError,
        "Conv2D 'n': input channels (3) must be divisible by groups (2)",
        "conv-groups-input",
    ),
    case(
        lambda: L.MaxPool2D(20, name="n")(img()),
        ir.ShapeError,
        "MaxPool2D 'n': axis 'H' of size 9 is too small for kernel 20 (dilation 1) with padding 'valid'",
        "pool-too-small",
    ),
    case(
        lambda: L.MaxPool1D(2, name="n")(nt()),
        ir.LayoutError,
        "MaxPool1D 'n': expects a rank-3 input with a channel axis C (e.g. NWC), got layout 'NT'",
        "pool-without-C",
    ),
    case(
        lambda: L.GlobalAvgPool2D(name="n")(L.Flatten()(img())),
        ir.LayoutError,
        "GlobalAvgPool2D 'n': expects a rank-4 input with a channel axis C (e.g. NHWC), got layout 'NC'",
        "global-pool-NC",
    ),
    case(
        lambda: L.Subtract(name="n")([img(), img(), img()]),
        ir.ShapeError,
        "Subtract 'n': expects exactly 2 inputs, got 3",
        "subtract-three",
    ),
    case(
        lambda: L.Concatenate(axis=7, name="n")([img(), img()]),
        ir.LayoutError,
        "Concatenate 'n': axis 7 is out of range for layout 'NHWC'",
        "concat-axis-range",
    ),
    case(
        lambda: (lambda x: L.Concatenate(axis="H", name="n")([x, L.Conv2D(4, 1)(x)]))(img()),
        ir.ShapeError,
        "Concatenate 'n': inputs differ off the concatenation axis 'H': (None, 9, 10, 3) vs (None, 9, 10, 4)",
        "concat-sizes",
    ),
    case(
        lambda: L.BatchNorm(axis="N", name="n")(img()),
        ir.ShapeError,
        "BatchNorm 'n': cannot normalise over the batch axis 'N' (its size is not known)",
        "batchnorm-batch-axis",
    ),
    case(
        lambda: L.BatchNorm(axis="T", name="n")(seq()),
        ir.ShapeError,
        "BatchNorm 'n': cannot normalise over axis 'T' of unknown size, got shape (None, None, 4)",
        "batchnorm-symbolic",
    ),
    case(
        lambda: L.BatchNorm(axis=-5, name="n")(img()),
        ir.LayoutError,
        "BatchNorm 'n': axis -5 is out of range for layout 'NHWC'",
        "batchnorm-axis-range",
    ),
    case(
        lambda: L.LayerNorm(axis=("C", -1), name="n")(img()),
        ir.ShapeError,
        "LayerNorm 'n': axis ('C', -1) names an axis twice",
        "layernorm-twice",
    ),
    case(
        lambda: L.LayerNorm(axis="T", name="n")(img()),
        ir.LayoutError,
        "LayerNorm 'n': axis 'T' is not in layout 'NHWC'",
        "layernorm-missing-axis",
    ),
    case(
        lambda: L.LayerNorm(axis="NC", name="n")(img()),
        ir.ShapeError,
        "LayerNorm 'n': cannot normalise over the batch axis 'N' (its size is not known)",
        "layernorm-batch-axis",
    ),
    case(
        lambda: L.Embedding(10, 3, name="n")(ir.Input((5, 2), dtype="int32")),
        ir.LayoutError,
        "Embedding 'n': expects token ids without a channel axis (e.g. 'NT'), got 'NTC'",
        "embedding-with-C",
    ),
    case(
        lambda: L.GRU(3, name="n")(ir.Input((4,))),
        ir.LayoutError,
        "GRU 'n': expects a sequence with axes N, T, C (e.g. 'NTC' or 'TNC'), got 'NC'",
        "gru-on-vector",
    ),
    case(
        lambda: L.Bidirectional(L.LSTM(3, name="inner"), name="n")(img()),
        ir.LayoutError,
        "Bidirectional 'n': expects a sequence with axes N, T, C (e.g. 'NTC' or 'TNC'), got 'NHWC'",
        "bidirectional-on-image",
    ),
]


@pytest.mark.parametrize("make,error,message", CALLS)
def test_inputs_a_layer_cannot_take_are_refused_when_it_is_called(make, error, message):
    with pytest.raises(error, match="^" + re.escape(message)) as info:
        make()
    assert info.value.layer.endswith("'n'")  # the layer called, never a wrapped or neighbouring one
