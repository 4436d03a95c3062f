"""Every argument a layer refuses when it is built: its error type, its whole message, the layer it names.

``ConfigError``, raised in ``__post_init__``, by family. Each case builds
layers named ``n`` where the layer is named, so the message must start with
``<Kind> 'n': ``; unnamed layers are called by their kind. Inputs refused when
a layer is called are in test_call_errors.py; cases already in
test_ir_errors.py are not repeated.
"""

import re

import pytest

from twinnet import ir
from twinnet.ir import layers as L


def case(make, error, message, id):
    return pytest.param(make, error, message, id=id)


HUGE = 10**5000  # Python refuses to print this int: messages must still come out
BITS = "<int of 16610 bits>"

CONSTRUCTION = [
    # -- arguments shared by every layer (ir/layers/base.py helpers), shown on a few layers --
    case(
        lambda: L.Dense(3, name=5),
        ir.ConfigError,
        "Dense: layer name must be an identifier (letters, digits, _; at most 128), got 5",
        "name-not-str",
    ),
    case(
        lambda: L.Dense(3, name="a" * 129), ir.ConfigError, "Dense: layer name must be an identifier", "name-too-long"
    ),
    case(lambda: L.Dense(True, name="n"), ir.ConfigError, "Dense 'n': units must be an int, got True", "int-bool"),
    case(
        lambda: L.Dense(2**31 + 1, name="n"),
        ir.ConfigError,
        "Dense 'n': units is out of range (at most 2**31), got 2147483649",
        "int-range",
    ),
    case(
        lambda: L.Dense(HUGE, name="n"),
        ir.ConfigError,
        f"Dense 'n': units is out of range (at most 2**31), got {BITS}",
        "int-unprintable",
    ),
    case(
        lambda: L.Dense(-HUGE, name="n"),
        ir.ConfigError,
        "Dense 'n': units must be >= 1, got <negative int of 16610 bits>",
        "int-unprintable-negative",
    ),
    case(
        lambda: L.Conv2D(3, 3, strides=(1, 2, 3), name="n"),
        ir.ConfigError,
        "Conv2D 'n': strides must be an int or 2 ints, got (1, 2, 3)",
        "ints-length",
    ),
    case(
        lambda: L.Conv2D(3, 3, dilation_rate=0, name="n"),
        ir.ConfigError,
        "Conv2D 'n': dilation_rate must be >= 1, got 0",
        "ints-minimum",
    ),
    case(
        lambda: L.Dropout(float("nan"), name="n"),
        ir.ConfigError,
        "Dropout 'n': rate must be a finite number, got nan",
        "float-nan",
    ),
    case(
        lambda: L.Dropout("0.5", name="n"),
        ir.ConfigError,
        "Dropout 'n': rate must be a finite number, got '0.5'",
        "float-str",
    ),
    case(
        lambda: L.Dropout(HUGE, name="n"),
        ir.ConfigError,
        f"Dropout 'n': rate must be a finite number of modest size, got {BITS}",
        "float-huge-int",
    ),
    case(lambda: L.Dropout(-0.1, name="n"), ir.ConfigError, "Dropout 'n': rate must be >= 0.0, got -0.1", "float-low"),
    case(
        lambda: L.BatchNorm(momentum=1.5, name="n"),
        ir.ConfigError,
        "BatchNorm 'n': momentum must be <= 1.0, got 1.5",
        "float-high",
    ),
    case(
        lambda: L.Dense(3, use_bias=1, name="n"),
        ir.ConfigError,
        "Dense 'n': use_bias must be True or False, got 1",
        "bool",
    ),
    case(
        lambda: L.Conv2DTranspose(2, 3, padding="causal", name="n"),
        ir.ConfigError,
        "Conv2DTranspose 'n': padding must be one of 'valid', 'same', got 'causal'",
        "choice",
    ),
    case(
        lambda: L.MaxPool2D(padding="causal", name="n"),
        ir.ConfigError,
        "MaxPool2D 'n': padding must be one of 'valid', 'same' or explicit pads, got 'causal'",
        "pool-pad-causal",
    ),
    case(
        lambda: L.MaxPool2D(2, padding=(0, 2), name="n"),
        ir.ConfigError,
        "MaxPool2D 'n': explicit pads ((0, 0), (2, 2)) must each be smaller than pool_size (2, 2)",
        "pool-pad-window",
    ),
    case(
        lambda: L.Concatenate(axis="XY", name="n"),
        ir.ConfigError,
        "Concatenate 'n': axis must be a layout letter (one of 'NCTDHW') or an int, got 'XY'",
        "axis-letter",
    ),
    case(
        lambda: L.Concatenate(axis=1.5, name="n"),
        ir.ConfigError,
        "Concatenate 'n': axis must be a layout letter or an int axis (|axis| <= 8), got 1.5",
        "axis-float",
    ),
    case(
        lambda: L.Concatenate(axis=HUGE, name="n"),
        ir.ConfigError,
        f"Concatenate 'n': axis must be a layout letter or an int axis (|axis| <= 8), got {BITS}",
        "axis-huge",
    ),
    # -- activations ---------------------------------------------------------------------------------
    case(
        lambda: L.Dense(3, activation=5, name="n"),
        ir.ConfigError,
        "Dense 'n': activation must be a name, got 5",
        "activation-not-str",
    ),
    case(
        lambda: L.Conv2D(3, 3, activation="relu7", name="n"),
        ir.ConfigError,
        "Conv2D 'n': unknown activation 'relu7'; known: elu, gelu, hard_sigmoid",
        "activation-unknown",
    ),
    case(
        lambda: L.Activation("gelu", approximate="yes", name="n"),
        ir.ConfigError,
        "Activation 'n': approximate must be True or False, got 'yes'",
        "activation-approximate",
    ),
    case(
        lambda: L.Activation("elu", alpha="x", name="n"),
        ir.ConfigError,
        "Activation 'n': alpha must be a finite number, got 'x'",
        "activation-alpha",
    ),
    case(
        lambda: L.Activation("leaky_relu", negative_slope=float("inf"), name="n"),
        ir.ConfigError,
        "Activation 'n': negative_slope must be a finite number, got inf",
        "activation-slope",
    ),
    case(
        lambda: L.Activation("softmax", axis="X", name="n"),
        ir.ConfigError,
        "Activation 'n': axis must be a layout letter (one of 'NCTDHW') or an int, got 'X'",
        "activation-axis",
    ),
    case(
        lambda: L.Activation("gelu", alpha=1.0, name="n"),
        ir.ConfigError,
        "Activation 'n': activation 'gelu' takes no 'alpha' parameter (it takes: approximate)",
        "activation-param",
    ),
    # -- convolutions --------------------------------------------------------------------------------
    case(
        lambda: L.Conv1D(3, 3, padding="full", name="n"),
        ir.ConfigError,
        "Conv1D 'n': padding must be one of 'valid', 'same', 'causal' or explicit pads, got 'full'",
        "pad-1d-word",
    ),
    case(
        lambda: L.Conv2D(3, 3, padding="causal", name="n"),
        ir.ConfigError,
        "Conv2D 'n': padding must be one of 'valid', 'same' or explicit pads, got 'causal'",
        "pad-causal-2d",
    ),
    case(
        lambda: L.Conv2D(3, 3, padding=-1, name="n"),
        ir.ConfigError,
        "Conv2D 'n': padding must be >= 0, got -1",
        "pad-negative",
    ),
    case(
        lambda: L.Conv2D(3, 3, padding=((1, -1), (0, 0)), name="n"),
        ir.ConfigError,
        "Conv2D 'n': padding must be >= 0, got -1",
        "pad-pair-negative",
    ),
    case(
        lambda: L.Conv2D(3, 3, padding=((1, 2), (1,)), name="n"),
        ir.ConfigError,
        "Conv2D 'n': padding must be 'valid', 'same', an int, 2 int(s) or 2 (before, after) pair(s), "
        "got ((1, 2), (1,))",
        "pad-shape",
    ),
    case(
        lambda: L.Conv1D(3, 3, padding=1.5, name="n"),
        ir.ConfigError,
        "Conv1D 'n': padding must be 'valid', 'same', an int, 1 int(s) or 1 (before, after) pair(s), got 1.5",
        "pad-float",
    ),
    case(
        lambda: L.Conv2D(4, 3, groups=0, name="n"), ir.ConfigError, "Conv2D 'n': groups must be >= 1, got 0", "groups"
    ),
    # -- core ----------------------------------------------------------------------------------------
    case(
        lambda: L.Reshape("abc", name="n"),
        ir.ConfigError,
        "Reshape 'n': target_shape must be a non-empty tuple of ints, got 'abc'",
        "reshape-str",
    ),
    case(
        lambda: L.Reshape((), name="n"),
        ir.ConfigError,
        "Reshape 'n': target_shape must be a non-empty tuple of ints, got ()",
        "reshape-empty",
    ),
    case(
        lambda: L.Reshape((2, -2), name="n"),
        ir.ConfigError,
        "Reshape 'n': target_shape must be >= -1, got -2",
        "reshape-negative",
    ),
    case(
        lambda: L.Reshape((-1, 0), name="n"),
        ir.ConfigError,
        "Reshape 'n': target_shape may hold positive sizes and at most one -1, got (-1, 0)",
        "reshape-zero",
    ),
    case(
        lambda: L.Reshape((-1, -1), name="n"),
        ir.ConfigError,
        "Reshape 'n': target_shape may hold positive sizes and at most one -1, got (-1, -1)",
        "reshape-two-wildcards",
    ),
    case(
        lambda: L.Reshape((2, 3), layout="NTCH", name="n"),
        ir.LayoutError,
        "Reshape 'n': layout 'NTCH' has 4 axes but the tensor has rank 3",
        "reshape-layout-rank",
    ),
    case(
        lambda: L.Permute([], name="n"),
        ir.ConfigError,
        "Permute 'n': dims must be a layout string or a tuple of 1-based axes, got []",
        "permute-empty",
    ),
    case(lambda: L.Permute((0, 1), name="n"), ir.ConfigError, "Permute 'n': dims must be >= 1, got 0", "permute-zero"),
    case(
        lambda: L.Permute((1, 3), name="n"),
        ir.ConfigError,
        "Permute 'n': dims must be a permutation of 1..2, got (1, 3)",
        "permute-gap",
    ),
    case(
        lambda: L.Permute("Nxy", name="n"),
        ir.LayoutError,
        "Permute 'n': layout 'Nxy' has unknown axis letter(s) 'xy'; known: capitals A-Z "
        "('NCTDHW' have a meaning to layers)",
        "permute-letters",
    ),
    # -- normalisation, pooling, merge ---------------------------------------------------------------
    case(
        lambda: L.LayerNorm(axis=(), name="n"),
        ir.ConfigError,
        "LayerNorm 'n': axis must name at least one axis",
        "layernorm-empty",
    ),
    case(
        lambda: L.LayerNorm(axis="HWX", name="n"),
        ir.ConfigError,
        "LayerNorm 'n': axis must be a layout letter (one of 'NCTDHW') or an int, got 'X'",
        "layernorm-letter",
    ),
    case(
        lambda: L.BatchNorm(center="yes", name="n"),
        ir.ConfigError,
        "BatchNorm 'n': center must be True or False",
        "batchnorm-center",
    ),
    case(lambda: L.AvgPool1D(0, name="n"), ir.ConfigError, "AvgPool1D 'n': pool_size must be >= 1, got 0", "pool-size"),
    case(
        lambda: L.GlobalMaxPool2D(keepdims="no", name="n"),
        ir.ConfigError,
        "GlobalMaxPool2D 'n': keepdims must be True or False, got 'no'",
        "global-keepdims",
    ),
    # -- sequences -----------------------------------------------------------------------------------
    case(
        lambda: L.Embedding(0, 3, name="n"), ir.ConfigError, "Embedding 'n': input_dim must be >= 1, got 0", "embedding"
    ),
    case(
        lambda: L.GRU(3, reset_after="x", name="n"),
        ir.ConfigError,
        "GRU 'n': reset_after must be True or False, got 'x'",
        "gru-reset-after",
    ),
    case(
        lambda: L.LSTM(3, return_sequences=1, name="n"),
        ir.ConfigError,
        "LSTM 'n': return_sequences must be True or False, got 1",
        "lstm-return-sequences",
    ),
    case(
        lambda: L.Bidirectional(5, name="n"),
        ir.ConfigError,
        "Bidirectional 'n': layer must be a SimpleRNN, LSTM or GRU, got int",
        "bidirectional-not-layer",
    ),
    case(
        lambda: L.Bidirectional({"kind": "Dense", "config": {"units": 2}}, name="n"),
        ir.ConfigError,
        "Bidirectional 'n': layer must be a SimpleRNN, LSTM or GRU, got {'kind': 'Dense', 'config': {'units': 2}}",
        "bidirectional-dict-kind",
    ),
    case(
        lambda: L.Bidirectional({"kind": "LSTM", "config": {}}, name="n"),
        ir.ConfigError,
        "Bidirectional 'n': bad configuration for the wrapped LSTM: missing argument(s) 'units'",
        "bidirectional-dict-missing",
    ),
    case(
        lambda: L.Bidirectional({"kind": "GRU", "config": {"units": 2, "foo": 1}}, name="n"),
        ir.ConfigError,
        "Bidirectional 'n': bad configuration for the wrapped GRU: unknown argument(s) 'foo'; GRU takes units",
        "bidirectional-dict-unknown",
    ),
    case(
        lambda: L.Bidirectional({"kind": "LSTM", "config": {"units": 0}}, name="n"),
        ir.ConfigError,
        "Bidirectional 'n': wrapped LSTM: units must be >= 1, got 0",
        "bidirectional-dict-value",
    ),
    case(
        lambda: L.Bidirectional(L.LSTM(3), merge_mode="sum", name="n"),
        ir.ConfigError,
        "Bidirectional 'n': merge_mode must be one of 'concat', got 'sum'",
        "bidirectional-merge-mode",
    ),
]


@pytest.mark.parametrize("make,error,message", CONSTRUCTION)
def test_bad_arguments_are_refused_when_the_layer_is_built(make, error, message):
    with pytest.raises(error, match="^" + re.escape(message)) as info:
        make()
    assert str(info.value).startswith(info.value.layer + ": ")  # names the layer
    assert isinstance(info.value, ir.IRError)
