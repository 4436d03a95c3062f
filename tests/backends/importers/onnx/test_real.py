"""from_onnx on ONNX files of real models, exported the way their users export them.

* ``keras.applications`` (all eleven of ``examples/keras_apps.py``, randomised, BatchNorm
  statistics included), called once and exported with Keras's own
  ``km.export(path, format="onnx")`` (tf2onnx). The files keep a symbolic batch
  size (``unk__N``) and the Keras NHWC layout; the import is compiled to torch
  and to Keras and compared with the app itself at batch 1 and 3.
* The torch architectures of ``examples/torch_archs.py``, exported with
  ``torch.onnx.export`` (dynamo, and the TorchScript exporter at opset 17) and
  a dynamic batch axis; compared with the module at batch 1 and 3. The
  transformer imports through both exporters: its bool key-padding mask input
  (True = pad) becomes the IR's float mask (1 = attend), as from_torch
  declares it, and the import matches onnxruntime on the file. torch eager
  differs from the file (by ~1.1, |y| ~ 2.4) on masks padded at the end of
  rows: ``nn.TransformerEncoder``'s nested-tensor fast path then zeroes the
  padded steps before the mean, which the exported graph does not do; on masks
  with gaps eager takes the ordinary path and agrees with the file.

Tolerance: float32's ``atol=1e-5, rtol=1e-4``, ``atol`` scaled by the largest
output magnitude where that exceeds 1 (``convert_check.scaled_atol``).

tf2onnx writes EfficientNet's ``Normalization`` with its mean and variance
folded into constants, yet still declares the two tensors Keras captured as
extra graph inputs (``.../normalization_1/Sub/y:0``, ``.../Sqrt/x:0``, shape
(1, 1, 1, 3)) that no node reads. from_onnx keeps every declared input (the
file's contract, as onnxruntime does: it refuses to run without them), so the
imported model takes them too: fed random values here, they change nothing.

Cost, serial, measured on the shared 2-core machine (other jobs running; export
+ import + both compilations + 4 comparisons, the tf2onnx export dominating):
~55-80 s for the file: efficientnet_b0 12-17 s, vgg16 11 s (5 s of it
TensorFlow's start-up), mobilenet 3-6 s, mobilenet_v2 5 s; each torch architecture
4-8 s by dynamo, 1-3 s by TorchScript; the transformer 0.4-6 s (both exporters, 8 comparisons each). The
other seven apps pass too (max |diff| 3e-6 on resnet50, |y| ~ 3.4; 6e-5 on
nasnet_mobile, |y| ~ 48) but cost 9-63 s each (vgg19 9 s, densenet121 20 s,
xception 26 s, resnet50 32 s, resnet50_v2 35 s, inception_v3 39 s,
nasnet_mobile 63 s; 4 min together), so they are collected only with
``TWINNET_ONNX_ALL_APPS=1`` in the environment.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib  # noqa: E402
import io  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from convert_check import inputs_for, scaled_atol  # noqa: E402

from examples import keras_apps, torch_archs  # noqa: E402
from twinnet.backends import from_onnx, to_keras, to_torch  # noqa: E402

RTOL = 1e-4
BATCHES = (1, 3)
#: apps run in CI (the cheapest tf2onnx exports); EXPENSIVE: see the module docstring
APPS = ["vgg16", "mobilenet", "mobilenet_v2", "efficientnet_b0"]
EXPENSIVE = ["vgg19", "xception", "densenet121", "inception_v3", "resnet50_v2", "nasnet_mobile", "resnet50"]
if os.environ.get("TWINNET_ONNX_ALL_APPS"):
    APPS += EXPENSIVE
ARCHS = ["resnet", "mobilenet", "gru", "unet"]


@pytest.fixture(autouse=True)
def fresh_keras():
    yield
    import keras

    keras.backend.clear_session()


@contextlib.contextmanager
def _quiet():
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def _dims(path, i=0) -> list:
    return [d.dim_param or d.dim_value for d in onnx.load(str(path)).graph.input[i].type.tensor_type.shape.dim]


def _assert_close(got, want, atol, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol, err_msg=what)


@pytest.mark.parametrize("app", APPS)
def test_keras_app_exported_by_keras(app, tmp_path):
    km = keras_apps.build(app)
    km(inputs_for(km, 2))  # a user calls the model before exporting it
    path = tmp_path / f"{app}.onnx"
    with _quiet():
        km.export(str(path), format="onnx")
    dims = _dims(path)
    assert isinstance(dims[0], str) and dims[1:] == list(km.input_shape[1:]), dims  # tf2onnx keeps the batch free

    model = from_onnx(path)
    assert model.inputs[0].layout == "NHWC"
    extra = model.inputs[1:]  # the captured Normalization tensors tf2onnx declares (module docstring)
    assert [t.shape for t in extra] == ([(None, 1, 1, 3)] * 2 if app == "efficientnet_b0" else [])
    module, keras_model, atol = to_torch(model), to_keras(model), scaled_atol(km)
    for batch in BATCHES:
        x = inputs_for(km, batch, seed=batch)
        dead = np.random.default_rng(batch).standard_normal((batch, 1, 1, 3)).astype(np.float32)
        xs = [x] + [dead for _ in extra]  # any values: no node reads them
        want = np.asarray(km(x, training=False))
        with torch.no_grad():
            _assert_close(module(*map(torch.from_numpy, xs)), want, atol, f"{app} torch, batch {batch}")
        _assert_close(keras_model(xs if extra else x, training=False), want, atol, f"{app} keras, batch {batch}")


def _export_torch(name, path, dynamo=True):
    module, example = torch_archs.build(name), torch_archs.inputs(name, batch=2)
    names = [f"x{i}" for i in range(len(example))]
    with _quiet():
        if dynamo:
            shapes = tuple({0: torch.export.Dim.DYNAMIC} for _ in example)
            torch.onnx.export(module, example, str(path), dynamo=True, dynamic_shapes=shapes, input_names=names)
        else:
            axes = {n: {0: "batch"} for n in names}
            torch.onnx.export(
                module, example, str(path), dynamo=False, dynamic_axes=axes, input_names=names, opset_version=17
            )
    return module


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
@pytest.mark.parametrize("name", ARCHS)
def test_torch_arch_exported_by_torch_onnx(name, dynamo, tmp_path):
    path = tmp_path / f"{name}.onnx"
    source = _export_torch(name, path, dynamo)
    assert isinstance(_dims(path)[0], str)
    model = from_onnx(path)
    module, keras_model = to_torch(model), to_keras(model)
    for batch in BATCHES:
        xs = torch_archs.inputs(name, batch=batch, seed=batch)
        with torch.no_grad():
            want = source(*xs).numpy()
        atol = 1e-5 * max(1.0, float(np.abs(want).max()))
        with torch.no_grad():
            _assert_close(module(*xs), want, atol, f"{name} torch, batch {batch}")
        _assert_close(
            keras_model([x.numpy() for x in xs] if len(xs) > 1 else xs[0].numpy()),
            want,
            atol,
            f"{name} keras, batch {batch}",
        )


def _gaps(batch: int, steps: int, seed: int) -> torch.Tensor:
    """A bool key-padding mask (True = pad) with pads inside rows, key 0 never padded."""
    pad = torch.rand(batch, steps, generator=torch.Generator().manual_seed(seed)) < 0.4
    pad[:, 0] = False
    return pad


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_torch_transformer_imports_and_matches_the_file(dynamo, tmp_path):
    """The bool key-padding mask input (True = pad) becomes the IR's float mask (1 = attend, ``NT``), as from_torch
    declares it; each encoder layer's attention is one MultiHeadAttention. Fed ``(~mask).float()``, the import
    computes what onnxruntime computes on the file fed the bool mask, masks padded at row ends and with gaps.
    torch eager agrees with the file on the masks with gaps; padded at the ends it takes the nested-tensor fast
    path (zeros at padded steps, then the mean), which the file does not hold (module docstring)."""
    path = tmp_path / "transformer.onnx"
    source = _export_torch("transformer", path, dynamo)
    model = from_onnx(path)
    assert [n.layer.kind for n in model.layers].count("MultiHeadAttention") == 2
    tokens, mask = model.inputs
    assert (mask.dtype, mask.layout, mask.shape) == ("float32", "NT", (None, 7))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    module, keras_model = to_torch(model), to_keras(model)
    for batch in BATCHES:
        ids, at_ends = torch_archs.inputs("transformer", batch=batch, seed=batch)
        for pad in (at_ends, _gaps(batch, 7, batch)):
            want = session.run(None, {"x0": ids.numpy(), "x1": pad.numpy()})[0]
            atol = 1e-5 * max(1.0, float(np.abs(want).max()))
            xs = torch_archs.converted_inputs([ids, pad])
            what = f"batch {batch}, mask {pad.int().tolist()}"
            with torch.no_grad():
                _assert_close(module(*xs), want, atol, f"torch, {what}")
            _assert_close(keras_model([x.numpy() for x in xs]), want, atol, f"keras, {what}")
        with torch.no_grad():
            _assert_close(source(ids, pad), want, atol, f"torch eager (masks with gaps), {what}")
