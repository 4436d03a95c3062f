"""to_torch(model, dtype=..., device=...): the precision and the device of the compiled module."""

import numpy as np
import pytest
import torch

import twinnet
from twinnet import ir
from twinnet.backends.torch.placement import check_device
from twinnet.exporters.targets import TARGETS
from twinnet.ir import layers as L
from twinnet.ir.precision import round_to

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")


def convnet(dtype="float32"):
    x = ir.Input((8, 8, 3), layout="NHWC", name="image")
    y = L.Dense(5)(L.Flatten()(L.Activation("relu")(L.BatchNorm()(L.Conv2D(4, 3, padding="same")(x)))))
    m = ir.Model(x, y, name="convnet").randomize(0)
    m.dtype = dtype
    return m


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_dtype_casts_floating_parameters_and_buffers_only(dtype):
    net = twinnet.to_torch(convnet(), dtype=dtype)
    want = getattr(torch, dtype)
    for name, t in [*net.named_parameters(), *net.named_buffers()]:
        assert t.dtype == (want if "num_batches" not in name else torch.int64), name
    kernel = next(t for n, t in net.named_parameters() if n.endswith("weight") and t.dim() == 4)
    ir_kernel = convnet().weights["conv2d/kernel"].transpose(3, 2, 0, 1)
    assert np.array_equal(kernel.detach().float().numpy(), round_to(ir_kernel, dtype))  # rounded once, to nearest even


def test_the_model_precision_is_the_default_and_dtype_overrides_it():
    assert next(twinnet.to_torch(convnet("bfloat16")).parameters()).dtype == torch.bfloat16
    assert next(twinnet.to_torch(convnet("bfloat16"), dtype="float32").parameters()).dtype == torch.float32


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_half_module_runs_on_float32_numpy_through_the_runner(dtype):
    m = convnet(dtype)
    xs = [np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)]
    out = TARGETS["torch"].runner(twinnet.to_torch(m), m)(xs)[0]
    assert out.dtype == np.float32 and out.shape == (2, 5)


@pytest.mark.parametrize(
    "device, message",
    [
        ("tpu9", "not a device torch knows"),
        ("cuda:banana", "not a device torch knows"),
        (3, "must be a string"),
        ("meta", "twinnet runs torch on 'cpu', 'cuda' or 'mps'"),
    ],
)
def test_an_unknown_device_is_refused_with_a_clear_error(device, message):
    with pytest.raises(ir.ConfigError, match=message):
        twinnet.to_torch(convnet(), device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_is_refused_before_compiling():
    with pytest.raises(ir.ConfigError, match="no CUDA GPU"):
        twinnet.to_torch(convnet(), device="cuda")
    with pytest.raises(ir.ConfigError, match="no CUDA GPU"):
        twinnet.verify(convnet(), device="cuda")


def test_cpu_is_the_default_device():
    assert check_device(None) == "cpu" and check_device("cpu") == "cpu"
    net = twinnet.to_torch(convnet(), device="cpu")
    assert net.twinnet_device == "cpu" and next(net.parameters()).device.type == "cpu"


@GPU
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_on_the_gpu_the_module_agrees_with_the_cpu(dtype):
    m = convnet(dtype)
    net = twinnet.to_torch(m, device="cuda")
    assert next(net.parameters()).device.type == "cuda"
    report = twinnet.verify(m, device="cuda", paths=("torch", "onnx-ir"))
    assert report.ok and report.device.startswith("cuda"), report.table()
