"""The weights-back engine (backends/lowering/weights_back.py): tracing a transfer and copying back.

The per-layer bit-for-bit check through both real backends runs in every ``check_layer`` line
(tests/layer_check.py); here the engine's own contract: what it refuses, positions past one 22-bit
digit, duplicated copies, constants, and that every layer kind with weights has a way back.
"""

import importlib

import numpy as np
import pytest

from twinnet import ir
from twinnet.backends.lowering.weights_back import pull_back, trace
from twinnet.ir.layers import LAYERS
from twinnet.ir.layers.base import Layer

L = ir.layers


def dense(units: int = 3, inputs: int = 4) -> ir.Model:
    return ir.Sequential([L.Dense(units)], input=ir.Input((inputs,)), name="d").randomize(0)


def unit_of(key: str) -> tuple[str, str]:
    return tuple(key.split("."))


def transposed(m: ir.Model) -> dict:
    """A compiler that transposes the kernel and writes a zero second bias (as torch's RNNs get)."""
    w = m.weights
    return {
        "dense.weight": w["dense/kernel"].T.copy(),
        "dense.bias": w["dense/bias"],
        "dense.bias2": np.zeros_like(w["dense/bias"]),
        "dense.count": np.array([0], dtype=np.int64),
    }


def test_inverse_of_a_rearrangement_is_exact():
    m = dense()
    moves = trace(m, transposed, unit_of)
    assert moves.origins["dense.bias2"].source.max() == -1  # a constant, recognised as such
    back = pull_back(m, moves, transposed(m), {L.Dense: None}, "test")
    assert back is not m and back.weights is not m.weights
    for key, value in m.weights.items():
        assert np.array_equal(back.weights[key], value)


def test_positions_beyond_one_digit():
    """More than 2**22 elements: the position takes two passes, and still comes back exactly."""
    m = dense(units=1025, inputs=4100)  # 4 203 525 weights > 4 194 304
    back = pull_back(m, trace(m, transposed, unit_of), transposed(m), {L.Dense: None}, "test")
    assert np.array_equal(back.weights["dense/kernel"], m.weights["dense/kernel"])
    assert np.array_equal(back.weights["dense/bias"], m.weights["dense/bias"])


def test_computed_parameter_is_refused():
    def scaled(m):
        return {"dense.weight": m.weights["dense/kernel"] * 2, "dense.bias": m.weights["dense/bias"]}

    with pytest.raises(ir.UnsupportedError, match=r"Dense 'dense'.*'dense\.weight' is computed from the weights"):
        trace(dense(), scaled, unit_of)


def test_weight_reaching_nothing_is_refused():
    with pytest.raises(ir.UnsupportedError, match=r"weight 'dense/bias' reaches no compiled parameter"):
        trace(dense(), lambda m: {"dense.weight": m.weights["dense/kernel"]}, unit_of)


def test_mismatches_name_the_layer():
    m = dense()
    moves = trace(m, transposed, unit_of)
    good = transposed(m)
    missing = {k: v for k, v in good.items() if k != "dense.bias"}
    with pytest.raises(ir.WeightError, match=r"Dense 'dense'.*no parameter 'dense\.bias'"):
        pull_back(m, moves, missing, {L.Dense: None}, "test")
    with pytest.raises(ir.WeightError, match=r"Dense 'dense'.*'dense\.weight' has shape \(4, 3\), expected \(3, 4\)"):
        pull_back(m, moves, {**good, "dense.weight": good["dense.weight"].T}, {L.Dense: None}, "test")
    with pytest.raises(ir.WeightError, match=r"Dense 'dense'.*'dense\.bias2' moved off the constant"):
        pull_back(m, moves, {**good, "dense.bias2": good["dense.bias2"] + 1}, {L.Dense: None}, "test")
    with pytest.raises(ir.WeightError, match=r"Dense 'dense'.*parameters that compiling 'd' does not make: dense\.x"):
        pull_back(m, moves, {**good, "dense.x": good["dense.bias"]}, {L.Dense: None}, "test")
    with pytest.raises(ir.UnsupportedError, match=r"Dense 'dense'.*no way back from test"):
        pull_back(m, moves, good, {}, "test")


def test_a_fold_moves_a_constant_back_into_its_weight():
    m = dense()
    moves = trace(m, transposed, unit_of)
    trained = transposed(m)
    trained["dense.bias2"] = np.full(3, 0.25, dtype=np.float32)

    def fold(layer, params):
        return {**params, "bias": params["bias"] + params["bias2"], "bias2": np.zeros_like(params["bias2"])}

    back = pull_back(m, moves, trained, {L.Dense: fold}, "test")
    assert np.array_equal(back.weights["dense/bias"], m.weights["dense/bias"] + np.float32(0.25))


def test_two_copies_trained_apart_are_refused():
    def twice(m):
        return {**transposed(m), "dense.again": m.weights["dense/bias"]}

    m = dense()
    trained = twice(m)
    trained["dense.again"] = trained["dense.again"] + 1
    with pytest.raises(ir.WeightError, match="disagrees with another copy"):
        pull_back(m, trace(m, twice, unit_of), trained, {L.Dense: None}, "test")


@pytest.mark.parametrize("backend", ["torch", "keras", "onnx"])
def test_every_kind_with_weights_has_a_way_back(backend):
    BACK = importlib.import_module(f"twinnet.backends.{backend}.weights_back").BACK
    with_weights = {name for name, cls in LAYERS.items() if cls.weights is not Layer.weights}
    assert with_weights >= {"Dense", "Conv2D", "LSTM", "MultiHeadAttention", "BatchNorm", "LearnedConstant"}
    missing = sorted(name for name in with_weights if LAYERS[name] not in BACK)
    assert not missing, f"{backend} has no way back for {missing}"
    assert all(LAYERS[cls.__name__] is cls for cls in BACK), "BACK is keyed by registered IR classes"
