"""Weights back from ONNX (backends/onnx/weights_back.py): the initializers of a model ``to_onnx`` wrote,
changed as training or editing would, come back into the IR and compile to torch and Keras with the
predictions onnxruntime gives for the changed file. Bit-for-bit identity per layer kind runs in check_layer."""

import numpy as np
import onnxruntime as ort
import pytest
from gaps import known_gap
from onnx import numpy_helper
from weights_back_check import assert_same_predictions, block_model, image_model, run_keras, run_torch, sequence_model

from twinnet import ir, load_weights_from, to_keras, to_onnx, to_torch
from twinnet.backends.onnx.weights_back import load_weights_from as from_onnx_model
from twinnet.backends.onnx.weights_back import transfer

L = ir.layers


def perturb(model: ir.Model, proto, seed: int = 0) -> None:
    """Move every initializer element that holds an IR weight (shapes, indices and constants stay)."""
    rng = np.random.default_rng(seed)
    origins = transfer(model).origins
    for i, init in enumerate(proto.graph.initializer):
        array = numpy_helper.to_array(init).copy()
        copied = origins[init.name].source >= 0
        if not copied.any():
            continue
        moved = array + 0.2 * rng.standard_normal(array.shape).astype(array.dtype)
        if "moving_variance" in init.name or "var" in init.name.lower():
            moved = np.abs(moved) + 0.1
        array[copied] = moved[copied]
        proto.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, init.name))


def run_onnx(proto):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


MODELS = {
    "nchw": lambda: image_model("NCHW"),
    "nhwc": lambda: image_model("NHWC"),
    "sequence": sequence_model,
    "blocks": block_model,
}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_changed_initializers_compile_to_torch_and_keras(case):
    model = MODELS[case]()
    proto = to_onnx(model)
    perturb(model, proto)
    back = load_weights_from(model, proto)
    assert not any(np.array_equal(back.weights[k], v) for k, v in model.weights.items())  # all moved
    net, km = to_torch(back), to_keras(back)
    assert_same_predictions(model, run_onnx(proto), lambda x: run_torch(net, x), seeds=(0, 1))
    assert_same_predictions(model, run_onnx(proto), lambda x: run_keras(km, x))


def test_recurrent_bias_folds_into_the_input_bias():
    """ONNX's LSTM adds Wb and Rb; the IR's one bias is their sum."""
    model = ir.Sequential([L.LSTM(3)], input=ir.Input((5, 4)), name="rnn").randomize(0)
    proto = to_onnx(model)
    (init,) = [i for i in proto.graph.initializer if i.name.endswith("_B")]
    b = numpy_helper.to_array(init).copy()
    b[..., 12:] = 0.5
    init.CopyFrom(numpy_helper.from_array(b, init.name))
    back = load_weights_from(model, proto)
    net = to_torch(back)
    assert_same_predictions(model, run_onnx(proto), lambda x: run_torch(net, x))


def test_mismatches_are_refused():
    model = image_model("NHWC")
    wider = ir.Sequential([L.Dense(3)], input=ir.Input((4,)), name="narrow").initialize(0)
    narrower = ir.Sequential([L.Dense(2)], input=ir.Input((4,)), name="narrow").initialize(0)
    with pytest.raises(ir.WeightError, match=r"Dense 'dense'.*has shape \(4, 3\), expected \(4, 2\)"):
        load_weights_from(narrower, to_onnx(wider))
    with pytest.raises(ir.WeightError, match=r"from ONNX take an onnx\.ModelProto, got dict"):
        from_onnx_model(model, {})


@known_gap("onnx-weights-back-folded-batchnorm")
def test_folded_batchnorm_comes_back():
    model = ir.Sequential([L.BatchNorm()], input=ir.Input((5, 4)), name="bn_sequence").randomize(0)
    back = load_weights_from(model, to_onnx(model))
    assert all(np.array_equal(back.weights[k], v) for k, v in model.weights.items())
