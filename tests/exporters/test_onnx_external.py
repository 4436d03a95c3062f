"""ONNX files past the external data threshold, whichever exporter writes them (``export_onnx(via=...)``):
the weights go to one ``<stem>.<sha256[:16]>.onnx.data`` beside the file, onnxruntime runs it with the same
outputs as the file holding its weights inside, and what cannot be written so is refused before any work.
The threshold is lowered to 0 here: a real 2 GiB model is ``benchmarks/large_model.py``'s."""

import copy
import re

import numpy as np
import onnx
import pytest

import twinnet
from twinnet import layers as L
from twinnet.backends.onnx import files
from twinnet.exporters import onnx as onnx_export
from twinnet.exporters.inputs import model_inputs
from twinnet.exporters.memory import onnx_session
from twinnet.exporters.verify import _layer_outputs
from twinnet.ir.errors import ConfigError, UnsupportedError

DATA = re.compile(r"m\.[0-9a-f]{16}\.onnx\.data")


def model():
    x = twinnet.Input(shape=(6, 32), layout="NTC", name="tokens")
    h = L.Dense(64, activation="gelu", name="up")(L.LayerNorm(name="norm")(x))
    y = L.Add(name="res")([x, L.Dense(32, name="down")(h)])
    return twinnet.Model(inputs=x, outputs=y, name="m").randomize(0)  # random biases and norm scales too


def run(path, xs):
    session = onnx_session(str(path))
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})


def external_tensors(path) -> int:
    proto = onnx.load(str(path), load_external_data=False)
    return sum(t.data_location == onnx.TensorProto.EXTERNAL for t in onnx_export._tensors(proto.graph))


@pytest.mark.parametrize("via", ["ir", "torch", "keras"])
def test_weights_past_the_threshold_go_beside_the_file_and_it_runs_the_same(tmp_path, via):
    m = model()
    inside = onnx_export.export_onnx(m, tmp_path / "inside" / "m.onnx", via=via)
    assert external_tensors(inside) == 0 and [p.name for p in inside.parent.iterdir()] == ["m.onnx"]
    path = onnx_export.export_onnx(m, tmp_path / "beside" / "m.onnx", via=via, external_data_threshold=0)
    names = sorted(p.name for p in path.parent.iterdir())
    assert len(names) == 2 and DATA.fullmatch(names[0]) and names[1] == "m.onnx", names
    assert external_tensors(path) >= 2  # the two kernels at least
    layouts = [onnx_export.keras_layout(t.layout) for t in m.inputs] if via == "keras" else None
    for batch in (1, 3):
        xs = model_inputs(m, batch, 6, seed=batch, layouts=layouts)
        for a, b in zip(run(path, xs), run(inside, xs)):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


def test_a_re_export_replaces_the_data_file(tmp_path):
    first, second = model(), copy.copy(model())
    second.weights = {k: v + 1.0 for k, v in second.weights.items()}
    path = onnx_export.export_onnx(first, tmp_path / "m.onnx", via="torch", external_data_threshold=0)
    before = sorted(p.name for p in tmp_path.iterdir())
    onnx_export.export_onnx(second, path, via="torch", external_data_threshold=0)
    after = sorted(p.name for p in tmp_path.iterdir())
    assert len(after) == 2 and after != before  # the new data file, named by its content; the old one gone
    xs = model_inputs(second, 2, 6, seed=0)
    expected = run(onnx_export.export_onnx(second, tmp_path / "in" / "m.onnx", via="ir"), xs)
    np.testing.assert_allclose(run(path, xs)[0], expected[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("via", ["ir", "torch"])
def test_a_half_model_that_would_pass_2_gib_is_refused_before_any_work(tmp_path, monkeypatch, via):
    monkeypatch.setattr(onnx_export, "PROTOBUF_LIMIT", 1024)  # this model's float16 weights are past it
    m = copy.copy(model())
    m.dtype = "float16"
    with pytest.raises(UnsupportedError, match=rf"ONNX export via {via} of float16 model 'm'.*2 GiB"):
        onnx_export.export_onnx(m, tmp_path / "m.onnx", via=via)
    assert not list(tmp_path.iterdir())


def test_expose_is_for_the_ir_writer_only(tmp_path):
    with pytest.raises(ConfigError, match="expose"):
        onnx_export.export_onnx(model(), tmp_path / "m.onnx", via="torch", expose=True)


def test_localising_against_onnx_ir_reads_a_file_with_external_data(monkeypatch):
    m = model()
    xs = model_inputs(m, 2, 6, seed=0)
    inside = _layer_outputs(m, "onnx-ir", xs)
    monkeypatch.setattr(files, "EXTERNAL_DATA_THRESHOLD", 0)
    beside = _layer_outputs(m, "onnx-ir", xs)
    assert len(beside) == len(m.layers) == len(inside)
    for a, b in zip(beside, inside):
        np.testing.assert_array_equal(a, b)
