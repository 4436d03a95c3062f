"""to_onnx(model, dtype=...): every float32 tensor of the file in float16 or bfloat16."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto

import twinnet
from twinnet import ir
from twinnet.exporters.verify import float32_reference
from twinnet.ir import layers as L


def mlp(dtype="float32"):
    x = ir.Input((6,), name="v")
    m = ir.Model(x, L.Dense(3, activation="tanh")(L.Dense(8, activation="relu")(x)), name="mlp").randomize(0)
    m.dtype = dtype
    return m


@pytest.mark.parametrize("dtype, elem", [("float16", TensorProto.FLOAT16), ("bfloat16", TensorProto.BFLOAT16)])
def test_every_float_tensor_takes_the_precision(dtype, elem):
    proto = twinnet.to_onnx(mlp(dtype))
    onnx.checker.check_model(proto)
    graph = proto.graph
    assert {i.type.tensor_type.elem_type for i in [*graph.input, *graph.output]} == {elem}
    assert {t.data_type for t in graph.initializer} <= {elem, TensorProto.INT64}
    assert twinnet.to_onnx(mlp(dtype), dtype="float32").graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT


def test_a_float16_file_runs_in_onnxruntime_and_agrees_with_the_float32_reference():
    m = mlp("float16")
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float16)
    half = ort.InferenceSession(twinnet.to_onnx(m).SerializeToString(), providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(
        twinnet.to_onnx(float32_reference(m)).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    a = half.run(None, {"v": x})[0]
    b = ref.run(None, {"v": x.astype(np.float32)})[0]
    assert a.dtype == np.float16
    assert np.abs(a.astype(np.float32) - b).max() <= 1e-2 * np.abs(b).max()


def test_resize_scales_stay_float32():
    x = ir.Input((4, 4, 2), layout="NHWC", name="image")
    m = ir.Model(x, L.UpSampling2D(2, interpolation="bilinear")(x), name="up")
    proto = twinnet.to_onnx(m, dtype="float16")
    onnx.checker.check_model(proto)
    resize = next(n for n in proto.graph.node if n.op_type == "Resize")
    scales = next(t for t in proto.graph.initializer if t.name == resize.input[2])
    assert scales.data_type == TensorProto.FLOAT
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"image": np.ones((1, 4, 4, 2), np.float16)})[0].shape == (1, 8, 8, 2)


def test_an_unknown_dtype_is_refused():
    with pytest.raises(ir.ConfigError, match="dtype must be one of"):
        twinnet.to_onnx(mlp(), dtype="float64")
