"""from_onnx, one ONNX op (or pattern) at a time, on small hand-built graphs.

Each case is imported, compiled to torch and compared with onnxruntime on the
original graph at two batch sizes. Together with the op-tier cases
(``test_tier.py``) they exercise every entry of ONNX_TABLE (checked by
``test_every_table_entry_is_exercised``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto
from onnx import helper as h
from onnx_check import assert_matches_onnxruntime, make, rand
from siblings import sibling

from twinnet import ir
from twinnet.backends.importers.onnx.graph import Graph, load
from twinnet.backends.importers.onnx.importer import from_onnx
from twinnet.backends.importers.onnx.passes.fold import fold_shapes
from twinnet.backends.importers.onnx.patterns.rules import run_rules
from twinnet.backends.importers.onnx.table import ONNX_TABLE

IMG = {"x": ["N", 3, 9, 10]}
VEC = {"x": ["N", 6]}
SEQ = {"x": ["N", "T", 4]}
W3 = rand(4, 3, 3, 3)
GEMM_W, GEMM_C = rand(6, 3), rand(1, 3, seed=1)
INT64_MAX = np.iinfo(np.int64).max
LSTM_W, LSTM_R, LSTM_B = rand(1, 12, 4), rand(1, 12, 3, seed=1), rand(1, 24, seed=2)


def n(op, inputs, outputs=("y",), **attrs):
    return h.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_{outputs[0]}", **attrs)


def composed_layer_norm(x_shape, axes, square, weights, opset=18):
    """ReduceMean, Sub, square, ReduceMean, Add eps, Sqrt, Div, then ``weights`` ({"Mul": gamma, "Add": beta},
    either optional): the layer norm twinnet's backend (square ``"Mul"``: d * d, axes an input) and TorchScript
    below opset 17 (``"Pow"``: d ** 2, axes an attribute) compose."""

    def mean(src, out):
        return n("ReduceMean", [src, "axes"], [out]) if opset >= 18 else n("ReduceMean", [src], [out], axes=axes)

    square_op = n("Mul", ["d", "d"], ["sq"]) if square == "Mul" else n("Pow", ["d", "two"], ["sq"])
    nodes = [
        mean("x", "m"),
        n("Sub", ["x", "m"], ["d"]),
        square_op,
        mean("sq", "v"),
        n("Add", ["v", "eps"], ["ve"]),
        n("Sqrt", ["ve"], ["s"]),
        n("Div", ["d", "s"], ["normed"]),
    ]
    for op, value in weights.items():
        nodes.append(n(op, [nodes[-1].output[0], op.lower()], [op.lower() + "_out"]))
    nodes[-1].output[0] = "y"
    inits = {
        "eps": np.float32(1e-5),
        "two": np.float32(2.0),
        "axes": np.array(axes, np.int64),
        **{op.lower(): value for op, value in weights.items()},
    }
    return make(nodes, {"x": x_shape}, inits, opset=opset)


def unary(op, opset=17, **attrs):
    return make([n(op, ["x"], **attrs)], VEC, opset=opset)


def repeat_indices(sizes, factors):
    """GatherND indices that repeat each position of ``sizes`` ``factors`` times (torch's nearest upsampling)."""
    ranges = [np.arange(n * f) // f for n, f in zip(sizes, factors)]
    return np.stack(np.meshgrid(*ranges, indexing="ij"), -1).astype(np.int64)


def typed(proto):
    """Give output y the input's type and shape (ONNX's shape inference leaves a function op's output untyped)."""
    proto.graph.output[0].type.CopyFrom(proto.graph.input[0].type)
    return proto


def two_dirs(shape):
    return rand(*shape, seed=3)


def attention(scale: float = 1 / math.sqrt(2)):
    """Two heads of size 2 on (N, T, 4): projections, heads split by Reshape + Transpose, the scores
    divided by a constant (1/scale), softmax, heads merged, output projection (the twinnet.MultiHeadAttention rule)."""
    heads = np.array([0, 0, 2, 2], np.int64)
    nodes = [
        n("MatMul", ["x", "wq"], ["q0"]),
        n("Add", ["q0", "bq"], ["q1"]),
        n("Reshape", ["q1", "heads"], ["q2"]),
        n("Transpose", ["q2"], ["q"], perm=[0, 2, 1, 3]),
        n("MatMul", ["x", "wk"], ["k0"]),
        n("Reshape", ["k0", "heads"], ["k1"]),
        n("Transpose", ["k1"], ["kt"], perm=[0, 2, 3, 1]),
        n("MatMul", ["x", "wv"], ["v0"]),
        n("Add", ["v0", "bv"], ["v1"]),
        n("Reshape", ["v1", "heads"], ["v2"]),
        n("Transpose", ["v2"], ["v"], perm=[0, 2, 1, 3]),
        n("MatMul", ["q", "kt"], ["s0"]),
        n("Div", ["s0", "d"], ["s1"]),
        n("Softmax", ["s1"], ["p"], axis=-1),
        n("MatMul", ["p", "v"], ["o0"]),
        n("Transpose", ["o0"], ["o1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["o1", "merge"], ["o2"]),
        n("MatMul", ["o2", "wo"], ["o3"]),
        n("Add", ["o3", "bo"]),
    ]
    inits = {
        "wq": rand(4, 4),
        "bq": rand(4, seed=1),
        "wk": rand(4, 4, seed=2),
        "wv": rand(4, 4, seed=3),
        "bv": rand(4, seed=4),
        "wo": rand(4, 4, seed=5),
        "bo": rand(4, seed=6),
        "heads": heads,
        "merge": np.array([0, 0, 4], np.int64),
        "d": np.array(1 / scale, np.float32),
    }
    return make(nodes, SEQ, inits)


CASES = {
    "attention": attention(),
    "conv2d_pad_fold": make(
        [n("Pad", ["x", "p"], ["xp"]), n("Conv", ["xp", "w", "b"], strides=[2, 1])],
        IMG,
        {"p": np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64), "w": W3, "b": rand(4)},
    ),
    "conv1d_same_upper": make(
        [n("Conv", ["x", "w"], auto_pad="SAME_UPPER", strides=[2], dilations=[1], group=3)],
        {"x": ["N", 3, 11]},
        {"w": rand(6, 1, 3)},
    ),
    "maxpool_same_pads": make([n("MaxPool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], IMG),
    "avgpool_valid_ceil": make([n("AveragePool", ["x"], kernel_shape=[3, 2], strides=[3, 2], ceil_mode=1)], IMG),
    "avgpool_same": make([n("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")], IMG),
    "pools_1d": make(
        [
            n("MaxPool", ["x"], ["m"], kernel_shape=[2], strides=[2]),
            n("AveragePool", ["m"], ["a"], kernel_shape=[3], strides=[1], auto_pad="SAME_UPPER"),
            n("GlobalAveragePool", ["a"]),
        ],
        {"x": ["N", 3, 11]},
    ),
    "maxpool_torch_pads": make([n("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], IMG),
    "maxpool_asym_pads": make([n("MaxPool", ["x"], kernel_shape=[3, 2], strides=[2, 1], pads=[2, 1, 0, 1])], IMG),
    "avgpool_pads_counted": make(
        [n("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)], IMG
    ),
    "avgpool_pads_not_counted": make(
        [n("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 1], pads=[2, 0, 0, 1])], IMG
    ),
    "avgpool_same_upper_counted": make(
        [n("AveragePool", ["x"], kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER", count_include_pad=1)], IMG
    ),
    "avgpool_1d_pads": make([n("AveragePool", ["x"], kernel_shape=[3], strides=[2], pads=[1, 2])], {"x": ["N", 3, 11]}),
    "maxpool_pad_fold_minus_inf": make(
        [n("Pad", ["x", "p", "v"], ["xp"]), n("MaxPool", ["xp"], kernel_shape=[3, 3])],
        IMG,
        {"p": np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "v": np.float32(-np.inf)},
    ),
    "avgpool_pad_fold_counted": make(
        [n("Pad", ["x", "p"], ["xp"]), n("AveragePool", ["xp"], kernel_shape=[2, 2], strides=[1, 1])],
        IMG,
        {"p": np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64)},
    ),
    "reduce_max_1d": make([n("ReduceMax", ["x"], axes=[2], keepdims=0)], {"x": ["N", 3, 11]}),
    "gap_flatten": make([n("GlobalAveragePool", ["x"], ["g"]), n("Flatten", ["g"])], IMG),
    "gmp_squeeze": make(
        [n("GlobalMaxPool", ["x"], ["g"]), n("Squeeze", ["g", "a"])], IMG, {"a": np.array([2, 3], np.int64)}
    ),
    "reduce_mean_keepdims": make([n("ReduceMean", ["x"], axes=[2, 3], keepdims=1)], IMG),
    "reduce_max_axes_input": make(
        [n("ReduceMax", ["x", "a"], keepdims=0)], IMG, {"a": np.array([-1, -2], np.int64)}, opset=18
    ),
    "batchnorm_2d": make(
        [n("BatchNormalization", ["x", "g", "b", "m", "v"], epsilon=1e-3)],
        VEC,
        {"g": rand(6), "b": rand(6, seed=1), "m": rand(6, seed=2), "v": np.abs(rand(6, seed=4)) + 0.5},
    ),
    "layernorm_two_axes": make(
        [n("LayerNormalization", ["x", "g", "b"], axis=1, epsilon=1e-5)],
        {"x": ["N", 5, 4]},
        {"g": rand(5, 4), "b": rand(5, 4, seed=1)},
    ),
    "matmul_add_dense": make(
        [n("MatMul", ["x", "w"], ["m"]), n("Add", ["bias", "m"])], SEQ, {"w": rand(4, 5), "bias": rand(5, seed=1)}
    ),
    "matmul": make([n("MatMul", ["x", "w"])], VEC, {"w": rand(6, 2)}),
    "gemm": make([n("Gemm", ["x", "w", "c"], alpha=0.5, beta=2.0)], VEC, {"w": GEMM_W, "c": GEMM_C}),
    "relu": unary("Relu"),
    "sigmoid": unary("Sigmoid"),
    "tanh": unary("Tanh"),
    "softplus": unary("Softplus"),
    "hard_swish": unary("HardSwish"),
    "elu": unary("Elu", alpha=0.7),
    "selu": unary("Selu"),
    "leaky_relu": unary("LeakyRelu"),
    "hard_sigmoid": unary("HardSigmoid", alpha=1 / 6, beta=0.5),
    "identity": unary("Identity"),
    "gelu": unary("Gelu", opset=20, approximate="tanh"),
    "softmax_time": make([n("Softmax", ["x"], axis=1)], SEQ),
    "log_softmax": unary("LogSoftmax", axis=-1),
    "silu": make([n("Sigmoid", ["x"], ["s"]), n("Mul", ["s", "x"])], VEC),
    "gelu_erf": make(
        [
            n("Div", ["x", "r2"], ["d"]),
            n("Erf", ["d"], ["e"]),
            n("Add", ["e", "one"], ["a"]),
            n("Mul", ["x", "a"], ["m"]),
            n("Mul", ["m", "half"]),
        ],
        VEC,
        {"r2": np.float32(math.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)},
    ),
    "dropout": make([n("Dropout", ["x", "r"])], VEC, {"r": np.float32(0.3)}, opset=13),
    "transpose": make(
        [n("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]), n("Transpose", ["c"], perm=[0, 2, 3, 1])], IMG, {"w": W3}
    ),
    "flatten": make([n("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]), n("Flatten", ["c"])], IMG, {"w": W3}),
    "squeeze": make([n("Squeeze", ["x", "a"])], {"x": ["N", 3, 1]}, {"a": np.array([-1], np.int64)}),
    "reshape": make([n("Reshape", ["x", "s"])], IMG, {"s": np.array([0, 3, -1], np.int64)}),
    "unsqueeze": make([n("Unsqueeze", ["x", "a"])], VEC, {"a": np.array([2], np.int64)}),
    "concat_add_sub": make(
        [
            n("Relu", ["x"], ["r"]),
            n("Sub", ["x", "r"], ["s"]),
            n("Add", ["s", "x"], ["a"]),
            n("Concat", ["a", "r"], axis=-1),
        ],
        VEC,
    ),
    "affine_per_channel": make(
        [n("Mul", ["x", "s"], ["m"]), n("Add", ["m", "b"])], IMG, {"s": rand(3, 1, 1), "b": rand(1, 3, 1, 1, seed=1)}
    ),
    "affine_scalar_sub": make(
        [n("Div", ["x", "s"], ["d"]), n("Sub", ["d", "b"])], SEQ, {"s": np.float32(4.0), "b": rand(4, seed=1)}
    ),
    "mul_max": make([n("Tanh", ["x"], ["t"]), n("Mul", ["x", "t"], ["m"]), n("Max", ["m", "t"])], VEC),
    "sum_mean": make([n("Relu", ["x"], ["r"]), n("Sum", ["x", "r", "x"], ["s"]), n("Mean", ["s", "r"])], VEC),
    "embedding": make([n("Gather", ["table", "ids"])], {"ids": (["N", 7], TensorProto.INT64)}, {"table": rand(5, 3)}),
    "lstm_sequence": make(
        [n("LSTM", ["x", "w", "r", "b"], ["yy"], hidden_size=3), n("Squeeze", ["yy", "a"])],
        {"x": ["T", "N", 4]},
        {"w": LSTM_W, "r": LSTM_R, "b": LSTM_B, "a": np.array([1], np.int64)},
    ),
    "gru_reset_before_state": make(
        [n("GRU", ["x", "w", "r", "b"], ["", "yh"], hidden_size=3), n("Squeeze", ["yh", "a"])],
        {"x": ["T", "N", 4]},
        {"w": rand(1, 9, 4), "r": rand(1, 9, 3, seed=1), "b": rand(1, 18, seed=2), "a": np.array([0], np.int64)},
    ),
    "rnn_sequence": make(
        [n("RNN", ["x", "w", "r"], ["yy"], hidden_size=3), n("Squeeze", ["yy", "a"])],
        {"x": ["T", "N", 4]},
        {"w": rand(1, 3, 4), "r": rand(1, 3, 3, seed=1) * 0.5, "a": np.array([1], np.int64)},
    ),
    "rnn_relu_bidirectional_state": make(
        [
            n(
                "RNN",
                ["x", "w", "r", "b"],
                ["", "yh"],
                hidden_size=3,
                direction="bidirectional",
                activations=["Relu", "Relu"],
            ),
            n("Gather", ["yh", "i0"], ["f"], axis=0),
            n("Gather", ["yh", "i1"], ["bw"], axis=0),
            n("Concat", ["f", "bw"], axis=1),
        ],
        {"x": ["T", "N", 4]},
        {
            "w": two_dirs((2, 3, 4)),
            "r": rand(2, 3, 3, seed=1) * 0.5,
            "b": rand(2, 6, seed=2),
            "i0": np.array(0, np.int64),
            "i1": np.array(1, np.int64),
        },
    ),
    "conv3d": make(
        [n("Conv", ["x", "w", "b"], pads=[1, 0, 1, 1, 2, 1], strides=[1, 2, 1])],
        {"x": ["N", 2, 4, 5, 6]},
        {"w": rand(3, 2, 3, 3, 3), "b": rand(3, seed=1)},
    ),
    "conv_transpose_same_dilated": make(
        [n("ConvTranspose", ["x", "w", "b"], strides=[2, 1], dilations=[1, 2], pads=[0, 2, 1, 2])],
        IMG,
        {"w": rand(3, 4, 3, 3), "b": rand(4, seed=1)},
    ),
    "conv_transpose_1d_output_padding": make(
        [n("ConvTranspose", ["x", "w"], strides=[3], output_padding=[2])], {"x": ["N", 3, 11]}, {"w": rand(3, 2, 4)}
    ),
    "conv_transpose_then_slices": make(
        [
            n("ConvTranspose", ["x", "w"], ["c"], strides=[2, 2]),
            n("Slice", ["c", "s0", "e0", "a0"], ["h"]),
            n("Slice", ["h", "s0", "e1", "a1"]),
        ],
        IMG,
        {
            "w": rand(3, 2, 3, 3),
            "s0": np.array([0], np.int64),
            "e0": np.array([-1], np.int64),
            "e1": np.array([-1], np.int64),
            "a0": np.array([2], np.int64),
            "a1": np.array([3], np.int64),
        },
    ),
    "conv_transpose_torch_window": make(
        [n("ConvTranspose", ["x", "w", "b"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])],
        IMG,
        {"w": rand(3, 2, 3, 3), "b": rand(2, seed=1)},
    ),
    "upsample_gather_nd": make(
        [
            n("Transpose", ["x"], ["t"], perm=[2, 3, 0, 1]),
            n("GatherND", ["t", "i"], ["g"]),
            n("Transpose", ["g"], perm=[2, 3, 0, 1]),
        ],
        IMG,
        {"i": repeat_indices((9, 10), (2, 3))},
    ),
    "pad_zero_2d": make(
        [n("Pad", ["x", "p", "v"])], IMG, {"p": np.array([0, 0, 1, 0, 0, 0, 2, 3], np.int64), "v": np.float32(0)}
    ),
    "pad_1d_axes": make(
        [n("Pad", ["x", "p", "", "a"])],
        SEQ,  # NTC: pads T
        {"p": np.array([1, 2], np.int64), "a": np.array([1], np.int64)},
        opset=18,
    ),
    "slice_crop_2d": make(
        [n("Slice", ["x", "s", "e", "a"])],
        IMG,
        {"s": np.array([1, 2], np.int64), "e": np.array([-2, 8], np.int64), "a": np.array([2, -1], np.int64)},
    ),
    "slice_crop_1d_to_end": make(
        [n("Slice", ["x", "s", "e", "a", "st"])],
        {"x": ["N", 11, 3]},  # NTC: crops T
        {
            "s": np.array([2], np.int64),
            "e": np.array([INT64_MAX], np.int64),
            "a": np.array([1], np.int64),
            "st": np.array([1], np.int64),
        },
    ),
    "slice_channels": make(
        [n("Slice", ["x", "s", "e", "a"])],
        IMG,
        {
            "s": np.array([1], np.int64),  # NCHW: slices C
            "e": np.array([INT64_MAX], np.int64),
            "a": np.array([1], np.int64),
        },
    ),
    "slice_features_ntc": make(
        [n("Slice", ["x", "s", "e", "a"])],
        SEQ,
        {"s": np.array([-3], np.int64), "e": np.array([-1], np.int64), "a": np.array([2], np.int64)},
    ),
    "slice_bounds_from_shape": make(  # TorchScript's chunk: the bound is (size + 1) / 2 of the feature axis
        [
            n("Shape", ["x"], ["s"]),
            n("Gather", ["s", "i"], ["g"]),
            n("Add", ["g", "one"], ["g1"]),
            n("Div", ["g1", "two"], ["half"]),
            n("Unsqueeze", ["half", "zero"], ["end"]),
            n("Slice", ["x", "zero", "end", "ax"]),
        ],
        {"x": ["N", "T", 7]},
        {
            "i": np.array(2, np.int64),
            "one": np.array(1, np.int64),
            "two": np.array(2, np.int64),
            "zero": np.array([0], np.int64),
            "ax": np.array([2], np.int64),
        },
        opset=13,
    ),
    "split_channels_sizes": make(
        [n("Split", ["x", "sp"], ["a", "b"], axis=1), n("Concat", ["b", "a"], axis=1)],
        IMG,
        {"sp": np.array([1, 2], np.int64)},
        opset=13,
    ),
    "split_num_outputs": make(
        [
            n("Split", ["x"], ["a", "b", "c"], axis=-1, num_outputs=3),  # 7 in parts of 3, 3, 1
            n("Concat", ["c", "a", "b"], axis=-1),
        ],
        {"x": ["N", "T", 7]},
        opset=18,
    ),
    "split_equal_attr": make([n("Split", ["x"], ["a", "b"], axis=1), n("Add", ["a", "b"])], VEC, opset=11),
    "matmul_activations": make([n("MatMul", ["a", "b"])], {"a": ["N", 5, 4], "b": ["N", 4, 3]}),
    "matmul_transposed_b": make(
        [n("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), n("MatMul", ["q", "kt"])], {"q": ["N", 5, 4], "k": ["N", 6, 4]}
    ),
    "matmul_transposed_a": make(
        [n("Transpose", ["a"], ["at"], perm=[0, 2, 1]), n("MatMul", ["at", "b"])], {"a": ["N", 4, 5], "b": ["N", 4, 3]}
    ),
    "resize_nearest_asymmetric": make(
        [
            n(
                "Resize",
                ["x", "", "sc"],
                mode="nearest",
                nearest_mode="floor",
                coordinate_transformation_mode="asymmetric",
            )
        ],
        IMG,
        {"sc": np.array([1, 1, 2, 3], np.float32)},
        opset=13,
    ),
    "resize_nearest_half_pixel_1d": make(
        [n("Resize", ["x", "", "sc"], mode="nearest")],
        {"x": ["N", 3, 11]},
        {"sc": np.array([1, 1, 3], np.float32)},
        opset=13,
    ),
    "resize_bilinear_sizes": make(
        [n("Resize", ["x", "", "", "sz"], mode="linear", axes=[2, 3])],
        IMG,
        {"sz": np.array([18, 30], np.int64)},
        opset=18,
    ),
    "upsample_opset9": make(
        [n("Upsample", ["x", "sc"], mode="nearest")], IMG, {"sc": np.array([1, 1, 3, 2], np.float32)}, opset=9
    ),
    "resize_opset10": make(
        [n("Resize", ["x", "sc"], mode="nearest")], IMG, {"sc": np.array([1, 1, 2, 2], np.float32)}, opset=10
    ),
    "clip_relu6": make([n("Clip", ["x", "lo", "hi"])], VEC, {"lo": np.float32(0), "hi": np.float32(6)}, opset=13),
    "clip_attrs_no_max": make([n("Clip", ["x"], min=0.0)], VEC, opset=6),
    "group_norm_per_channel": typed(
        make(
            [n("GroupNormalization", ["x", "g", "b"], num_groups=2, epsilon=1e-3)],
            {"x": ["N", 6, 5, 4]},
            {"g": rand(6), "b": rand(6, seed=1)},
            opset=21,
        )
    ),
    "group_norm_1d": typed(
        make(
            [n("GroupNormalization", ["x", "g", "b"], num_groups=3)],
            {"x": ["N", 6, 7]},
            {"g": rand(6), "b": rand(6, seed=1)},
            opset=21,
        )
    ),
    "instance_norm_1d": make(
        [n("InstanceNormalization", ["x", "s", "b"], epsilon=1e-3)],
        {"x": ["N", 3, 11]},
        {"s": rand(3), "b": rand(3, seed=1)},
    ),
    # stored tensors with a leading 1 combined with computed ones: LearnedConstant (a positional embedding)
    "learned_position_add": make(
        [n("Relu", ["x"], ["r"]), n("Add", ["r", "pos"])], {"x": ["N", 5, 4]}, {"pos": rand(1, 5, 4)}
    ),
    "learned_map_times_image": make([n("Mul", ["gain", "x"])], IMG, {"gain": rand(1, 3, 9, 10)}),
    "learned_minus_sequence": make([n("Sub", ["bias", "x"])], {"x": ["N", 5, 4]}, {"bias": rand(1, 5, 4)}),
    "learned_token_expand_concat": make(  # torch's ViT embedding: cat([cls.expand(b, -1, -1), x], 1) + pos
        [
            n("Shape", ["x"], ["s"]),
            n("Gather", ["s", "zero"], ["b"]),
            n("Concat", ["b", "ones"], ["to"], axis=0),
            n("Expand", ["cls", "to"], ["e"]),
            n("Relu", ["x"], ["r"]),
            n("Concat", ["e", "r"], ["c"], axis=1),
            n("Add", ["c", "pos"]),
        ],
        {"x": ["N", 5, 4]},
        {
            "zero": np.array([0], np.int64),
            "ones": np.array([1, 1], np.int64),
            "cls": rand(1, 1, 4),
            "pos": rand(1, 6, 4, seed=1),
        },
    ),
    # twinnet's backend over a non-trailing axis (ViT tokens held NCT), weights shaped to broadcast
    "layer_norm_composed_channels_first": composed_layer_norm(
        ["N", 6, 5], [1], "Mul", {"Mul": rand(1, 6, 1), "Add": rand(1, 6, 1, seed=1)}
    ),
    # TorchScript at opset 16 over the last two axes, weights shaped as those axes; gamma only
    "layer_norm_composed_pow_two_axes": composed_layer_norm(
        ["N", 5, 4], [-2, -1], "Pow", {"Mul": rand(5, 4)}, opset=16
    ),
    "group_norm_torch_form": make(
        [
            n("Reshape", ["x", "to_groups"], ["r"]),
            n("InstanceNormalization", ["r", "s", "b"], ["i"], epsilon=1e-5),
            n("Reshape", ["i", "back"], ["rb"]),
            n("Mul", ["rb", "gamma"], ["m"]),
            n("Add", ["m", "beta"]),
        ],
        {"x": ["N", 6, 5, 4]},
        {
            "to_groups": np.array([0, 2, -1], np.int64),
            "s": rand(2),
            "b": rand(2, seed=1),
            "back": np.array([-1, 6, 5, 4], np.int64),
            "gamma": rand(6, 1, 1, seed=2),
            "beta": rand(6, 1, 1, seed=3),
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime(case):
    proto = CASES[case]
    assert_matches_onnxruntime(proto, from_onnx(proto))


def test_every_table_entry_is_exercised():
    """By these cases or by the op-tier ones (test_tier.py)."""
    seen = set()
    for proto in [*CASES.values(), *sibling("backends/importers/onnx/test_tier.py").CASES.values()]:
        graph = Graph(load(proto))
        fold_shapes(graph)
        run_rules(graph)
        seen.update(op.op_type for op in graph.ops)
    assert sorted(set(ONNX_TABLE) - seen) == []


def test_importer_produces_every_ir_layer():
    from twinnet.backends.importers.onnx.table import SPELLED_OTHERWISE
    from twinnet.ir.layers import LAYERS
    from twinnet.ir.ops import OPS

    produced = {node.layer.kind for proto in CASES.values() for node in from_onnx(proto).layers}
    assert sorted(set(LAYERS) - set(OPS) - produced - set(SPELLED_OTHERWISE)) == []


def test_layouts_follow_the_consumers():
    """An image read by Conv is NCHW, a sequence read by a layout=0 LSTM is TNC, token ids are NT."""
    assert from_onnx(CASES["transpose"]).inputs[0].layout == "NCHW"
    assert from_onnx(CASES["transpose"]).outputs[0].layout == "NHWC"
    assert from_onnx(CASES["gru_reset_before_state"]).inputs[0].layout == "TNC"
    assert from_onnx(CASES["embedding"]).inputs[0].layout == "NT"


def test_weights_come_from_the_file():
    """Gemm's alpha/beta are folded into the stored kernel and bias; nothing is re-initialised."""
    model = from_onnx(CASES["gemm"])
    (node,) = model.layers
    weights = model.layer_weights(node)
    np.testing.assert_array_equal(weights["kernel"], GEMM_W * np.float32(0.5))
    np.testing.assert_array_equal(weights["bias"], GEMM_C.reshape(-1) * np.float32(2.0))


def test_batch_first_lstm():
    """ONNX layout=1 (onnxruntime runs only layout=0): compared with the layout=0 file plus transposes."""
    batch_first = make(
        [n("LSTM", ["x", "w", "r", "b"], ["yy"], hidden_size=3, layout=1), n("Squeeze", ["yy", "a"])],
        SEQ,
        {"w": LSTM_W, "r": LSTM_R, "b": LSTM_B, "a": np.array([2], np.int64)},
    )
    oracle = make(
        [
            n("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
            n("LSTM", ["xt", "w", "r", "b"], ["yy"], hidden_size=3),
            n("Squeeze", ["yy", "a"], ["ys"]),
            n("Transpose", ["ys"], perm=[1, 0, 2]),
        ],
        SEQ,
        {"w": LSTM_W, "r": LSTM_R, "b": LSTM_B, "a": np.array([1], np.int64)},
    )
    model = from_onnx(batch_first)
    assert model.inputs[0].layout == "NTC" and model.outputs[0].layout == "NTC"
    assert_matches_onnxruntime(oracle, model)


def test_fixed_batch_size_becomes_symbolic():
    proto = make(
        [n("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]), n("Reshape", ["c", "s"], ["r"]), n("Gemm", ["r", "d"])],
        {"x": [1, 3, 9, 10]},
        {"w": W3, "s": np.array([1, 224], np.int64), "d": rand(224, 2)},
    )
    model = from_onnx(proto)
    assert model.inputs[0].shape == (None, 3, 9, 10)
    assert_matches_onnxruntime(proto, model, batches=(1,))


def test_a_refused_pattern_names_every_node_in_it():
    """Pad(-inf) then a max pool in ceil mode with a partial last window: no IR pool says that; both nodes named."""
    proto = make(
        [n("Pad", ["x", "p", "v"], ["xp"]), n("MaxPool", ["xp"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)],
        IMG,
        {"p": np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64), "v": np.float32(-np.inf)},
    )
    with pytest.raises(ir.UnsupportedError) as info:
        from_onnx(proto)
    (problem,) = info.value.problems
    assert (problem.where, problem.what) == ("pad_xp, maxpool_y", "Pad+MaxPool")


def test_unused_inputs_are_kept():
    """The file's contract: every input it declares, in order, even one no output depends on."""
    proto = make([n("Relu", ["b"])], {"a": ["N", 2], "b": ["N", 3]})
    model = from_onnx(proto)
    assert [t.shape for t in model.inputs] == [(None, 2), (None, 3)]
    assert_matches_onnxruntime(proto, model)
