"""from_onnx of float16/bfloat16 files: read as float32 (exactly), the precision recorded."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import twinnet
from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir.precision import round_to


def convnet():
    x = ir.Input((3, 8, 8), layout="NCHW", name="image")
    y = L.Dense(4)(L.Flatten()(L.Activation("relu")(L.BatchNorm()(L.Conv2D(5, 3)(x)))))
    return ir.Model(x, y, name="convnet").randomize(0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_half_file_imports_with_its_precision_and_the_rounded_weights(dtype):
    m = convnet()
    m.dtype = dtype
    back = twinnet.from_onnx(twinnet.to_onnx(m))
    assert back.dtype == dtype
    assert back.count_params() == m.count_params()
    for key, value in back.weights.items():  # float32 arrays holding the file's half values, exactly
        assert value.dtype == np.float32 and np.array_equal(round_to(value, dtype), value), key
    report = twinnet.verify(back, paths=("torch", "onnx-ir"))
    assert report.ok, report.table()


def test_a_file_with_both_half_types_is_refused():
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT16, [1, 2])
    b = helper.make_tensor_value_info("b", TensorProto.BFLOAT16, [1, 2])
    cast = helper.make_node("Cast", ["a"], ["b"], to=TensorProto.BFLOAT16)
    graph = helper.make_graph([cast], "g", [a], [b])
    with pytest.raises(ir.UnsupportedError, match="both float16 and bfloat16"):
        twinnet.from_onnx(helper.make_model(graph))
    assert onnx.__version__
