"""The reference examples verify end to end; emitted sources run standalone."""

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from convert_check import run_standalone

from twinnet import ir
from twinnet.backends import emit, to_keras, to_torch
from twinnet.exporters import verify

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(file: str, fn: str = "build") -> ir.Model:
    spec = importlib.util.spec_from_file_location(file.replace(".py", ""), EXAMPLES / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, fn)()


@pytest.mark.parametrize(
    "file,fn",
    [
        ("mnist_convnet.py", "build"),
        ("mnist_convnet.py", "build_variant"),
        ("vgg_block.py", "build"),
        ("fasttext_sentiment.py", "build"),
        ("lstm_sentiment.py", "build"),
        ("lstm_sentiment.py", "build_sequence_first"),
    ],
)
def test_example_verifies(file, fn):
    model = load_example(file, fn)
    report = verify(model, paths="all")
    assert report.ok, report.table()
    assert not report.failures()


def _imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0])
    return names


def test_emitted_torch_runs_standalone(tmp_path):
    model = load_example("mnist_convnet.py")
    code = emit(model, "torch", out_dir=tmp_path)
    assert _imports(code) <= {"json", "struct", "torch"}
    x = np.random.default_rng(0).standard_normal((2, 28, 28, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    got = run_standalone(
        tmp_path,
        (
            "import numpy as np, torch, mnist_convnet as m\n"
            "net = m.load_weights(m.MnistConvnet(), 'mnist_convnet.safetensors').eval()\n"
            "np.save('out.npy', net(torch.from_numpy(np.load('x.npy'))).detach().numpy())\n"
        ),
    )
    import torch

    want = to_torch(model)(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_emitted_keras_runs_standalone(tmp_path):
    model = load_example("lstm_sentiment.py")
    code = emit(model, "keras", out_dir=tmp_path)
    assert _imports(code) <= {"keras"}
    x = np.random.default_rng(0).integers(0, 20000, size=(3, 42)).astype(np.int32)
    np.save(tmp_path / "x.npy", x)
    got = run_standalone(
        tmp_path,
        (
            "import numpy as np, lstm_sentiment as m\n"
            "net = m.build_lstm_sentiment()\nnet.load_weights('lstm_sentiment.weights.h5')\n"
            "np.save('out.npy', np.asarray(net(np.load('x.npy'))))\n"
        ),
    )
    want = np.asarray(to_keras(model)(x))
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_keras_model_saves_and_reloads_without_custom_objects(tmp_path):
    import keras

    model = load_example("mnist_convnet.py")
    km = to_keras(model)
    km.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(1).standard_normal((2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(km(x)))
