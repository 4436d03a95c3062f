"""ONNX straight from the IR (``backends.onnx``, ``export_onnx(via="ir")``): a valid file with symbolic sizes, no
transposes beyond the declared inputs/outputs, no framework needed, equal numbers, mismatches localised."""

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from twinnet import ir
from twinnet.backends import onnx as onnx_backend
from twinnet.backends.onnx import to_onnx
from twinnet.exporters import export_onnx, verify
from twinnet.exporters.cli import main
from twinnet.ir import layers as L


def small() -> ir.Model:
    x = ir.Input((8, 8, 2), name="x")
    h = L.Conv2D(4, 3, padding="same", name="conv")(x)
    h = L.Activation("gelu", name="act")(h)
    h = L.Dense(3, name="head")(L.Flatten(name="flat")(h))
    return ir.Model(x, h, name="small").randomize(0)


def image_out() -> ir.Model:
    """An NHWC model whose output is an image too: transposes at the input and at the output only."""
    x = ir.Input((9, 10, 3), name="image")
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    h = L.Dense(5, name="pointwise")(h)  # over C while held channels-first: a 1x1 Conv, no transpose
    h = L.Reshape((90, 5), name="flat")(h)  # H and W merge as a run: no transpose either
    h = L.Reshape((9, 10, 5), name="back")(h)
    return ir.Model(x, L.Add(name="join")([h, L.Conv2D(5, 1, name="c2")(x)]), name="image_out").randomize(1)


def run(proto, *xs):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})


def test_file_is_valid_with_a_symbolic_batch_and_named_io(tmp_path):
    path = export_onnx(small(), tmp_path / "small.onnx", via="ir")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == ("x", "head")
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["N", 8, 8, 2]
    assert {o.domain or "ai.onnx": o.version for o in proto.opset_import} == {"ai.onnx": onnx_backend.OPSET}
    assert sorted(os.listdir(tmp_path)) == ["small.onnx"]  # written whole, nothing left beside it


@pytest.mark.parametrize("native_io, transposes", [(False, 2), (True, 0)])
def test_transposes_only_at_the_declared_boundary(native_io, transposes):
    proto = to_onnx(image_out(), native_io=native_io)
    assert [n.op_type for n in proto.graph.node].count("Transpose") == transposes
    assert "Transpose" not in [n.op_type for n in proto.graph.node[1:-1]]  # never inside the graph


def test_numbers_equal_both_frameworks_and_their_files():
    for model in (small(), image_out()):
        report = verify(model, paths=("keras", "torch", "onnx-torch", "onnx-ir"))
        assert report.ok, report.table()


def test_native_io_takes_channels_first():
    model = small()
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 2)).astype(np.float32)
    (declared,) = run(to_onnx(model), x)
    (native,) = run(to_onnx(model, native_io=True), np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(native, declared, atol=1e-6)


def test_a_wrong_lowering_is_caught_and_localised(monkeypatch):
    """Fault injection into our own ONNX lowering table (onnxruntime and torch run for real)."""
    from twinnet.backends.onnx.compile import Op

    def wrong_gelu(ctx, node, inputs):  # the classic trap: tanh gelu where the exact one was asked for
        (x,) = inputs
        return ctx.let(node.name, Op("Gelu", (x.var,), {"approximate": "tanh"}), node.spec, x.phys, x.feat)

    monkeypatch.setitem(onnx_backend.TABLE, L.Activation, wrong_gelu)
    report = verify(small(), paths=("torch", "onnx-ir"))
    assert not report.ok
    assert {(r.output, r.pair) for r in report.failures()} == {("head", "torch vs onnx-ir")}
    assert report.divergence.startswith("Activation 'act'")


def test_no_framework_is_loaded_to_export(tmp_path):
    """The IR and its ONNX backend need onnx only: torch, Keras and TensorFlow are unimportable here."""
    script = (
        "import sys\n"
        "for m in ('torch', 'keras', 'tensorflow'): sys.modules[m] = None\n"
        "import numpy as np, onnxruntime as ort\n"
        "from twinnet import ir\n"
        "from twinnet.ir import layers as L\n"
        "from twinnet.exporters import export_onnx\n"
        "x = ir.Input((8, 8, 2), name='x')\n"
        "m = ir.Model(x, L.Dense(3)(L.Flatten()(L.Conv2D(4, 3)(x))), name='alone').randomize(0)\n"
        "p = export_onnx(m, 'alone.onnx', via='ir')\n"
        "s = ort.InferenceSession(str(p), providers=['CPUExecutionProvider'])\n"
        "print(s.run(None, {'x': np.zeros((3, 8, 8, 2), np.float32)})[0].shape)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "(3, 3)"


def test_cli_exports_straight_from_the_ir(tmp_path, capsys):
    saved = ir.save(small(), tmp_path / "small.json")
    assert main(["export", str(saved), "--via", "ir", "-o", str(tmp_path / "s.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out
    x = np.random.default_rng(1).standard_normal((3, 8, 8, 2)).astype(np.float32)
    (got,) = run(onnx.load(str(tmp_path / "s.onnx")), x)
    np.testing.assert_allclose(got, run(to_onnx(small()), x)[0], atol=0)
    assert main(["verify", str(saved), "--paths", "torch,onnx-ir"]) == 0


def test_the_file_imports_back_into_the_same_model(tmp_path):
    """from_onnx reads what twinnet writes: the imported model computes what the original does."""
    from twinnet.backends import from_onnx

    x = ir.Input((6, 4), name="x")
    h = L.Dense(5, activation="relu", name="d1")(x)
    h = L.Activation("softmax", axis=1, name="sm")(L.Activation("gelu", name="g")(h))
    model = ir.Model(x, L.Dense(3, activation="silu", name="d2")(L.Flatten(name="f")(h)), name="core").randomize(0)
    for m in (model, small()):
        again = from_onnx(export_onnx(m, tmp_path / f"{m.name}.onnx", via="ir"))
        xs = [np.random.default_rng(2).standard_normal((3, *t.shape[1:])).astype(np.float32) for t in m.inputs]
        np.testing.assert_allclose(run(to_onnx(again), *xs)[0], run(to_onnx(m), *xs)[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "example, function, inside",
    [
        ("mnist_convnet", "build", 0),
        ("vgg_block", "build", 0),
        ("fasttext_sentiment", "build", 0),
        ("lstm_sentiment", "build_sequence_first", 0),
        # onnxruntime runs ONNX's LSTM sequence-first only (layout=1 is refused): one Transpose before it
        ("lstm_sentiment", "build", 1),
    ],
)
def test_examples_transpose_only_where_documented(example, function, inside):
    """With native IO there is no boundary to transpose at: what is left is inside the graph."""
    import importlib

    model = getattr(importlib.import_module(f"examples.{example}"), function)()
    assert [n.op_type for n in to_onnx(model, native_io=True).graph.node].count("Transpose") == inside
