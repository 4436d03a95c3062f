"""from_onnx on the small forms real exporters write (found on the models of test_import_onnx_real.py),
each on a hand-built graph, compiled to torch and compared with onnxruntime at two batch sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_check import assert_matches_onnxruntime, make, rand
from onnx_check import node as n

from twinnet import ir
from twinnet.backends import from_onnx


def test_squeeze_excitation_gate_broadcasts():
    """x * sigmoid(conv(global_pool(x))): a (N, C, 1, 1) gate times (N, C, H, W) (torch's MobileNetV3 and
    tf2onnx's EfficientNet write it so) -> one Multiply stretching the size-1 axes."""
    proto = make(
        [
            n("GlobalAveragePool", ["x"], ["p"]),
            n("Conv", ["p", "w", "b"], ["c"]),
            n("Sigmoid", ["c"], ["g"]),
            n("Mul", ["g", "x"]),
        ],
        {"x": ["N", 4, 5, 6]},
        {"w": rand(4, 4, 1, 1), "b": rand(4, seed=1)},
    )
    model = from_onnx(proto)
    assert [node.layer.kind for node in model.layers][-1] == "Multiply"
    assert_matches_onnxruntime(proto, model)


def test_broadcast_of_different_ranks_is_refused():
    """numpy-style broadcasting of a rank-2 and a rank-3 tensor lines the batch axis up with another: refused."""
    proto = make([n("Add", ["x", "z"])], {"x": ["N", 4, 5], "z": ["N", 5]})
    with pytest.raises(ir.UnsupportedError, match=r"\(Add\): broadcasts a rank-2 input against a rank-3 one"):
        from_onnx(proto)


def test_rescaled_nhwc_input_before_transpose_is_nhwc():
    """tf2onnx's Rescaling + Normalization on an NHWC input: x * 1/255 + shift, * scale (per channel, last
    axis), then Transpose to NCHW for the Conv. The constant arithmetic becomes twinnet.Affine ops, which
    layout inference must see through to find the input's letters."""
    proto = make(
        [
            n("Mul", ["x", "s"], ["a"]),
            n("Add", ["a", "shift"], ["b"]),
            n("Mul", ["b", "scale"], ["c"]),
            n("Transpose", ["c"], ["t"], perm=[0, 3, 1, 2]),
            n("Conv", ["t", "w"]),
        ],
        {"x": ["N", 5, 6, 3]},
        {
            "s": np.float32(1 / 255),
            "shift": rand(1, 1, 1, 3, seed=1),
            "scale": rand(1, 1, 1, 3, seed=2),
            "w": rand(2, 3, 3, 3),
        },
    )
    model = from_onnx(proto)
    assert model.inputs[0].layout == "NHWC"
    assert_matches_onnxruntime(proto, model)


def test_sliced_zero_initial_state():
    """torch's dynamo export: initial_h = Slice(Expand(0, [2, N, hidden])) of a bidirectional GRU -- zeros
    sliced are zeros, i.e. the IR GRU's default state."""
    hidden = 3
    proto = make(
        [
            n("Shape", ["x"], ["s"], start=1, end=2),
            n("Concat", ["two", "s", "hid"], ["shape"], axis=0),
            n("Expand", ["zero", "shape"], ["z"]),
            n("Slice", ["z", "start", "stop", "axis"], ["h0"]),
            n(
                "GRU",
                ["x", "w", "r", "b", "", "h0"],
                ["", "yh"],
                hidden_size=hidden,
                direction="bidirectional",
                linear_before_reset=1,
            ),
            n("Gather", ["yh", "i0"], ["f"], axis=0),
            n("Gather", ["yh", "i1"], ["b_"], axis=0),
            n("Concat", ["f", "b_"], axis=1),
        ],
        {"x": ["T", "N", 4]},
        {
            "two": np.array([2], np.int64),
            "hid": np.array([hidden], np.int64),
            "zero": np.float32(0),
            "i0": np.array(0, np.int64),
            "i1": np.array(1, np.int64),
            "start": np.array([0], np.int64),
            "stop": np.array([2], np.int64),
            "axis": np.array([0], np.int64),
            "w": rand(2, 3 * hidden, 4),
            "r": rand(2, 3 * hidden, hidden, seed=1),
            "b": rand(2, 6 * hidden, seed=2),
        },
    )
    model = from_onnx(proto)
    assert [node.layer.kind for node in model.layers] == ["Bidirectional"]  # of a GRU, no state input
    assert_matches_onnxruntime(proto, model)
