"""from_onnx, one ONNX op (or pattern) at a time, on small hand-built graphs: dense, activations, norms, shapes.

Each case is imported, compiled to torch and compared with onnxruntime on the
original graph at two batch sizes. The spatial and sequence families have
their own files (``test_ops_spatial.py``, ``test_ops_sequence.py``); with the
op-tier cases (``test_tier.py``) they exercise every entry of ONNX_TABLE
(checked by ``test_every_table_entry_is_exercised``), and this file's checks
that span the families read them all (``every_case``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto
from onnx_check import assert_matches_onnxruntime, make, rand
from onnx_check import node as n
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


def typed(proto):
    """Give output y the input's type and shape (ONNX's shape inference leaves a function op's output untyped)."""
    proto.graph.output[0].type.CopyFrom(proto.graph.input[0].type)
    return proto


CASES = {
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


def every_case() -> dict:
    """This file's cases and the other layer families', by name."""
    families = [sibling(f"backends/importers/onnx/test_ops_{family}.py").CASES for family in ("spatial", "sequence")]
    cases = dict(CASES)
    for family in families:
        assert not set(family) & set(cases), "a case name used twice"
        cases.update(family)
    return cases


def test_every_table_entry_is_exercised():
    """By these cases or by the op-tier ones (test_tier.py)."""
    seen = set()
    for proto in [*every_case().values(), *sibling("backends/importers/onnx/test_tier.py").CASES.values()]:
        graph = Graph(load(proto))
        fold_shapes(graph)
        run_rules(graph)
        seen.update(op.op_type for op in graph.ops)
    assert sorted(set(ONNX_TABLE) - seen) == []


def test_importer_produces_every_ir_layer():
    from twinnet.backends.importers.onnx.table import SPELLED_OTHERWISE
    from twinnet.ir.layers import LAYERS
    from twinnet.ir.ops import OPS

    produced = {node.layer.kind for proto in every_case().values() for node in from_onnx(proto).layers}
    assert sorted(set(LAYERS) - set(OPS) - produced - set(SPELLED_OTHERWISE)) == []


def test_layouts_follow_the_consumers():
    """An image read by Conv is NCHW, a sequence read by a layout=0 LSTM is TNC, token ids are NT."""
    assert from_onnx(CASES["transpose"]).inputs[0].layout == "NCHW"
    assert from_onnx(CASES["transpose"]).outputs[0].layout == "NHWC"
    assert from_onnx(every_case()["gru_reset_before_state"]).inputs[0].layout == "TNC"
    assert from_onnx(CASES["embedding"]).inputs[0].layout == "NT"


def test_weights_come_from_the_file():
    """Gemm's alpha/beta are folded into the stored kernel and bias; nothing is re-initialised."""
    model = from_onnx(CASES["gemm"])
    (node,) = model.layers
    weights = model.layer_weights(node)
    np.testing.assert_array_equal(weights["kernel"], GEMM_W * np.float32(0.5))
    np.testing.assert_array_equal(weights["bias"], GEMM_C.reshape(-1) * np.float32(2.0))


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
