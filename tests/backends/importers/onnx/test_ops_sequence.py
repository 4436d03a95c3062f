"""from_onnx of the sequence ops, one op (or pattern) at a time: LSTM, GRU, RNN and attention.

Each case is imported, compiled to torch and compared with onnxruntime on the
original graph at two batch sizes; test_ops.py checks that these cases,
the other families' and the op tier's exercise every entry of ONNX_TABLE.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx_check import assert_matches_onnxruntime, make, rand
from onnx_check import node as n

from twinnet.backends.importers.onnx.importer import from_onnx

SEQ = {"x": ["N", "T", 4]}
LSTM_W, LSTM_R, LSTM_B = rand(1, 12, 4), rand(1, 12, 3, seed=1), rand(1, 24, seed=2)


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
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime(case):
    proto = CASES[case]
    assert_matches_onnxruntime(proto, from_onnx(proto))


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
