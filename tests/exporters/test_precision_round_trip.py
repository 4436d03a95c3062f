"""The done-when of half precision: float16/bfloat16 models go torch -> IR -> Keras -> IR -> ONNX -> IR -> torch
with the same values at every step, verify in every framework, and convert to a half emitted file."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import twinnet
from twinnet.exporters import convert
from twinnet.exporters.cli import main
from twinnet.ir.precision import round_to


def source(dtype):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 16, 4)
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 1.5)
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.5, 0.5)
    return net.eval().to(dtype)


def values(model):
    return sorted(float(v) for w in model.weights.values() for v in np.ravel(w))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_round_trip_through_every_framework_keeps_the_values_and_verifies(dtype):
    net = source(getattr(torch, dtype))
    x = torch.randn(2, 3, 8, 8).to(getattr(torch, dtype))
    first = twinnet.from_torch(net, (x,))
    assert first.dtype == dtype
    via_keras = twinnet.from_keras(twinnet.to_keras(first))
    assert via_keras.dtype == dtype and values(via_keras) == values(first)
    via_onnx = twinnet.from_onnx(twinnet.to_onnx(via_keras))
    assert via_onnx.dtype == dtype
    assert all(np.array_equal(round_to(w, dtype), w) for w in via_onnx.weights.values())  # still on the grid
    back = twinnet.to_torch(via_onnx)
    assert next(back.parameters()).dtype == getattr(torch, dtype)
    for model in (first, via_keras, via_onnx):
        report = twinnet.verify(model)
        assert report.ok, report.table()
    with torch.no_grad():  # the source module and the module after three imports, both in half precision
        want = net(x).float().numpy()
        got = back(x).float().numpy()
    assert np.abs(got - want).max() <= 1e-2 * np.abs(want).max()


def test_convert_writes_a_half_emitted_file_and_checks_it_against_the_float32_source(tmp_path):
    net = source(torch.float32)
    result = convert((net, (torch.randn(2, 3, 8, 8),)), "torch", tmp_path / "out", dtype="bfloat16")
    assert result.ok and result.report.dtype == "bfloat16", result.report.table()
    assert any(r.pair.startswith("source-torch vs emitted-torch") for r in result.report.rows)
    header = json.loads((tmp_path / "out" / "Sequential.safetensors").read_bytes()[8:].split(b"}}")[0] + b"}}")
    assert {e["dtype"] for k, e in header.items() if k != "__metadata__" and "num_batches" not in k} == {"BF16"}


def test_the_command_line_takes_dtype_and_refuses_an_unknown_device(tmp_path, capsys):
    model = twinnet.from_torch(source(torch.float32), (torch.randn(2, 3, 8, 8),))
    saved = twinnet.save(model, tmp_path / "m.safetensors")
    assert main(["verify", str(saved), "--dtype", "float16", "--paths", "torch,onnx-ir"]) == 0
    assert "dtype=float16" in capsys.readouterr().out
    assert main(["verify", str(saved), "--device", "tpu9"]) == 2
    assert "not a device torch knows" in capsys.readouterr().err


def test_a_half_model_exports_through_torch_as_a_half_file(tmp_path):
    import onnx
    import onnxruntime as ort

    model = twinnet.from_torch(source(torch.float16), (torch.randn(2, 3, 8, 8).half(),))
    path = twinnet.export_onnx(model, tmp_path / "m.onnx", via="torch")
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float16)
    want = twinnet.exporters.targets.TARGETS["torch"].runner(twinnet.to_torch(model), model)([x.astype(np.float32)])
    got = session.run(None, {session.get_inputs()[0].name: x})[0].astype(np.float32)
    assert np.abs(got - want[0]).max() <= 1e-2 * np.abs(want[0]).max()
