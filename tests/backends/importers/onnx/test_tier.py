"""from_onnx onto the op tier: standard-domain ops no layer says, on small hand-built graphs.

Each case is imported, compiled to torch and compared with onnxruntime on the
original graph at two batch sizes (and two lengths where one is symbolic).
Where an IR layer says the op (``test_ops.py``), the layer is still what the
import makes; these cases are what is left over.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto
from onnx_check import assert_matches_onnxruntime, make, rand
from onnx_check import node as n
from siblings import sibling

from twinnet.backends.importers.onnx.importer import from_onnx
from twinnet.ir.layers import LAYERS
from twinnet.ir.ops import OPS

INT64 = TensorProto.INT64
BIG = np.iinfo(np.int64).max
SEQ = {"x": ["N", "T", 4]}


def i64(*values):
    return np.array(values, np.int64)


CASES = {
    "unary_math": make(
        [
            n("Abs", ["x"], ["a"]),
            n("Add", ["a", "one"], ["b"]),
            n("Log", ["b"], ["c"]),
            n("Sqrt", ["b"], ["d"]),
            n("Reciprocal", ["b"], ["e"]),
            n("Neg", ["x"], ["f"]),
            n("Exp", ["f"], ["g"]),
            n("Sin", ["x"], ["s"]),
            n("Cos", ["x"], ["co"]),
            n("Erf", ["x"], ["er"]),
            n("Floor", ["x"], ["fl"]),
            n("Ceil", ["x"], ["ce"]),
            n("Sign", ["x"], ["sg"]),
            n("Sum", ["c", "d", "e", "g", "s", "co", "er", "fl", "ce", "sg"], ["t"]),
            n("Div", ["t", "d"], ["u"]),
            n("Pow", ["b", "half"]),
        ],
        {"x": ["N", 6]},
        {"one": np.float32(1.0), "half": np.float32(0.5)},
    ),
    "compare_logic_where": make(
        [
            n("Greater", ["x", "z"], ["gt"]),
            n("Less", ["x", "cut"], ["lt"]),
            n("LessOrEqual", ["z", "x"], ["le"]),
            n("GreaterOrEqual", ["z", "cut"], ["ge"]),
            n("And", ["gt", "lt"], ["a"]),
            n("Or", ["a", "le"], ["o"]),
            n("Xor", ["o", "ge"], ["xo"]),
            n("Not", ["xo"], ["no"]),
            n("Where", ["no", "x", "z"], ["w"]),
            n("Where", ["a", "w", "zero"]),
        ],
        {"x": ["N", 6], "z": ["N", 6]},
        {"cut": np.float32(0.25), "zero": np.float32(0.0)},
    ),
    "integer_arithmetic": make(
        [
            n("Add", ["a", "b"], ["s"]),
            n("Mul", ["s", "three"], ["m"]),
            n("Max", ["m", "b", "a"], ["mx"]),
            n("Min", ["mx", "seven"], ["mn"]),
            n("Equal", ["a", "b"], ["eq"]),
            n("Where", ["eq", "mn", "s"], ["w"]),
            n("Cast", ["w"], to=TensorProto.FLOAT),
        ],
        {"a": (["N", 5], INT64), "b": (["N", 5], INT64)},
        {"three": np.int64(3), "seven": np.int64(7)},
    ),
    "clip_cast": make(
        [
            n("Clip", ["x", "lo", "hi"], ["c"]),
            n("Mul", ["c", "ten"], ["m"]),
            n("Cast", ["m"], ["i"], to=TensorProto.INT32),
            n("Cast", ["i"], to=TensorProto.FLOAT),
        ],
        {"x": ["N", 6]},
        {"lo": np.float32(-0.5), "hi": np.float32(0.7), "ten": np.float32(10.0)},
    ),
    "reduce_sum_min_keepdims": make(
        [n("ReduceSum", ["x", "ax"], ["s"], keepdims=0), n("ReduceMin", ["x"], ["m"], axes=[1], keepdims=0)]
        + [n("Sub", ["s", "m"])],
        {"x": ["N", 4, 4]},
        {"ax": i64(2)},
        opset=17,
    ),
    "softmax_before_opset13": make([n("Softmax", ["x"], axis=1)], {"x": ["N", 3, 4]}, opset=11),
    "matmul_rank4_by_stored": make([n("MatMul", ["x", "w"])], {"x": ["N", 2, 3, 4]}, {"w": rand(2, 4, 5)}),
    "transpose_integers": make(
        [n("Transpose", ["a"], ["t"], perm=[1, 0, 2]), n("Cast", ["t"], to=TensorProto.FLOAT)],
        {"a": (["N", 3, 4], INT64)},
    ),
    "reshape_integers": make(
        [n("Reshape", ["a", "s"], ["r"]), n("Cast", ["r"], to=TensorProto.FLOAT)],
        {"a": (["N", 2, 6], INT64)},
        {"s": i64(0, 3, 2, 2)},
    ),
    "concat_integers": make(
        [n("Concat", ["a", "b"], ["c"], axis=-1), n("Cast", ["c"], to=TensorProto.FLOAT)],
        {"a": (["N", 3, 2], INT64), "b": (["N", 3, 4], INT64)},
    ),
    "slice_steps": make(
        [
            n("Slice", ["x", "s", "e", "a", "st"], ["p"]),
            n("Slice", ["p", "s2", "e2", "a2", "st2"]),
        ],
        {"x": ["N", 10, 4]},
        {
            **{"s": i64(1), "e": i64(9), "a": i64(1), "st": i64(2)},
            **{"s2": i64(-1), "e2": i64(-BIG), "a2": i64(2), "st2": i64(-1)},
        },
    ),
    "gather_stored_indices": make(
        [n("Gather", ["x", "i"], ["g"], axis=2), n("Gather", ["g", "k"], axis=1)],
        {"x": ["N", 3, 4]},
        {"i": i64(3, 0, 3), "k": np.array(-1, np.int64)},
    ),
    "gather_elements": make(
        [n("GatherElements", ["x", "i"], axis=1)], {"x": ["N", 6], "i": (["N", 3], INT64)}, opset=13
    ),
    "expand_tile": make(
        [n("Expand", ["x", "shape"], ["e"]), n("Tile", ["e", "r"])],
        {"x": ["N", 1, 4]},
        {"shape": i64(1, 3, 4), "r": i64(1, 1, 2)},
    ),
    "pad_channels": make([n("Pad", ["x", "p"])], {"x": ["N", 3, 4, 5]}, {"p": i64(0, 1, 0, 0, 0, 0, 0, 0)}),
    "slice_channels_and_space": make(
        [n("Slice", ["x", "s", "e", "a"])], {"x": ["N", 3, 9, 5]}, {"s": i64(1, 1), "e": i64(3, 8), "a": i64(1, 2)}
    ),
    "pad_constant_value": make(
        [n("Pad", ["x", "p", "v"])], {"x": ["N", 3, 4]}, {"p": i64(0, 1, 0, 0, 2, 1), "v": np.float32(1.5)}
    ),
    "roll": make(  # torch.roll(x, 2, 1) as torch exports it
        [
            n("Slice", ["x", "m2", "end", "one"], ["tail"]),
            n("Slice", ["x", "zero", "m2", "one"], ["head"]),
            n("Concat", ["tail", "head"], axis=1),
        ],
        {"x": ["N", 5, 4]},
        {"m2": i64(-2), "end": i64(BIG), "one": i64(1), "zero": i64(0)},
    ),
    "positions": make(  # arange(x.shape[1]).unsqueeze(0), read as floats
        [
            n("Shape", ["x"], ["shape"]),
            n("Gather", ["shape", "one"], ["t"], axis=0),
            n("Range", ["zero", "t", "step"], ["r"]),
            n("Unsqueeze", ["r", "axes"], ["p"]),
            n("Cast", ["p"], ["pf"], to=TensorProto.FLOAT),
            n("ReduceSum", ["x", "axes2"], ["m"], keepdims=0),
            n("Add", ["m", "pf"]),
        ],
        SEQ,
        {"one": np.array(1, np.int64), "zero": np.array(0, np.int64), "step": np.array(1, np.int64)}
        | {"axes": i64(0), "axes2": i64(2)},
        opset=18,
    ),
    "rms_norm": make([n("RMSNormalization", ["x", "g"], epsilon=1e-3)], SEQ, {"g": rand(4)}, opset=23),
    "attention_causal": make(
        [n("Attention", ["q", "k", "v"], is_causal=1)],
        {"q": ["N", 2, 5, 4], "k": ["N", 2, 5, 4], "v": ["N", 2, 5, 3]},
        opset=23,
    ),
    "layer_norm_statistics": make(
        [n("LayerNormalization", ["x", "g", "b"], ["y", "mean", "inv"], axis=-1, epsilon=1e-3)],
        SEQ,
        {"g": rand(4), "b": rand(4, seed=1)},
        outputs=("y", "mean", "inv"),
    ),
    "hard_sigmoid_selu_any_constants": make(
        [n("HardSigmoid", ["x"], ["hs"], alpha=0.3, beta=0.4), n("Selu", ["hs"], alpha=2.0, gamma=1.5)],
        {"x": ["N", 6]},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime(case):
    proto = CASES[case]
    assert_matches_onnxruntime(proto, from_onnx(proto))


def test_roll_and_positions_are_one_op_each():
    """The pattern rules read torch's spelling of roll and of position ids as the op they are."""
    assert [node.layer.kind for node in from_onnx(CASES["roll"]).layers] == ["Roll"]
    kinds = [node.layer.kind for node in from_onnx(CASES["positions"]).layers]
    assert "Positions" in kinds and "View" not in kinds, kinds


def test_importer_produces_every_op():
    """Standard-domain ONNX nodes the op tier expresses import as IR ops."""
    both = list(CASES.values()) + list(sibling("backends/importers/onnx/test_ops.py").every_case().values())
    produced = {node.layer.kind for proto in both for node in from_onnx(proto).layers}
    assert sorted(set(OPS) - produced) == []
    assert set(OPS) <= set(LAYERS)
