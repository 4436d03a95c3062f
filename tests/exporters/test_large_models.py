"""Models past protobuf's 2 GiB limit, at CI size: the weights in shards, the ONNX file with external data.

The thresholds are parameters (``max_shard_size``, the ONNX external-data threshold), set tiny here so a
small decoder splits into several shards and its ONNX weights go to an external file; the ~2.5 GB run is
``benchmarks/large_model.py``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from siblings import sibling  # noqa: E402

import twinnet  # noqa: E402
from twinnet import ir  # noqa: E402
from twinnet.backends.onnx import files  # noqa: E402
from twinnet.exporters.cli import main  # noqa: E402

decoder = sibling("backends/onnx/test_files.py").decoder


@pytest.fixture
def sharded(tmp_path):
    (tmp_path / "model").mkdir()
    path = ir.save(decoder(), tmp_path / "model" / "decoder.json", max_shard_size=6_000)
    assert len(json.loads(path.read_text())["weights"]["shards"]) >= 4
    return path


@pytest.fixture
def external(monkeypatch):
    """Every ONNX file written from the IR puts its weights in an external data file."""
    monkeypatch.setattr(files, "EXTERNAL_DATA_THRESHOLD", 0)
    written = []
    real = files.write

    def write(*args, **kwargs):
        written.append(real(*args, **kwargs))
        return written[-1]

    monkeypatch.setattr(files, "write", write)  # the real writer, counted
    return written


@pytest.mark.parametrize("to", ["torch", "keras"])
def test_a_sharded_model_converts_and_verifies_with_external_onnx_data(sharded, external, tmp_path, to):
    result = twinnet.convert(sharded, to, tmp_path / "out")
    assert result.ok, result.report.table()
    assert external and all(len(names) == 1 for names in external)  # onnx-ir ran on an external data file
    pairs = {r.pair for r in result.report.rows}
    assert f"source-ir vs emitted-{to}" in pairs or f"emitted-{to} vs onnx-ir" in pairs
    assert {r.batch for r in result.report.rows} == {1, 2} and all(r.ok for r in result.report.rows)
    back = ir.load(tmp_path / "out" / "decoder.twinnet.safetensors")  # the IR file: one file, all weights
    model = ir.load(sharded)
    assert all(np.array_equal(back.weights[k], v) for k, v in model.weights.items())


def test_verify_streams_the_memory_mapped_weights_of_a_sharded_model(sharded, external):
    model = ir.load(sharded)
    assert all(not a.flags.writeable for a in model.weights.values())  # views of the shards, never copied
    report = twinnet.verify(model, paths=("torch", "keras", "onnx-ir"))
    assert report.ok and report.informative, report.table()
    assert {r.pair for r in report.rows} == {"torch vs keras", "keras vs onnx-ir", "torch vs onnx-ir"}
    module = twinnet.to_torch(model)  # the module owns writable copies: training it leaves the files alone
    assert all(p.data_ptr() and not p.is_meta for p in module.parameters())


def test_the_command_converts_a_sharded_model_and_names_a_missing_shard(sharded, tmp_path, capsys):
    assert main(["convert", str(sharded), "--to", "torch", "-o", str(tmp_path / "out"), "--quiet"]) == 0
    shard = json.loads(sharded.read_text())["weights"]["shards"][2]["file"]
    (sharded.parent / shard).unlink()
    capsys.readouterr()
    assert main(["convert", str(sharded), "--to", "torch", "-o", str(tmp_path / "again"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"weights file {sharded.parent / shard} (named by {sharded}) is missing" in err
    assert not (tmp_path / "again").exists()


def test_a_bad_index_is_refused_by_the_command(sharded, tmp_path, capsys):
    data = json.loads(sharded.read_text())
    data["weights"]["weight_map"].popitem()
    sharded.write_text(json.dumps(data))
    assert main(["verify", str(sharded), "--quiet"]) == 2
    assert "the weight map has no shard for" in capsys.readouterr().err


def test_every_path_writes_its_onnx_weights_beside_the_file_past_the_threshold(sharded, external, monkeypatch):
    """``--paths all``: the ONNX files exported through torch and through Keras put their weights in an
    external data file too (the threshold, 0 here, is the one the IR's writer uses), and the localisation
    against onnx-ir reads its exposed graph from a file, not from one in-memory message."""
    from twinnet.exporters import onnx as onnx_export
    from twinnet.exporters.verify import _layer_outputs

    adopted, adopt = [], onnx_export._adopt_data
    monkeypatch.setattr(onnx_export, "_adopt_data", lambda *a: adopted.append(adopt(*a)) or adopted[-1])
    large, keras_large = [], onnx_export._export_keras_large
    monkeypatch.setattr(onnx_export, "_export_keras_large", lambda *a: large.append(keras_large(*a)))
    model = ir.load(sharded)
    report = twinnet.verify(model, paths="all")
    assert report.ok and not report.errors, report.table()
    # onnx-keras went through tf2onnx's large-model storage (which keeps tensors of at most 1024 elements,
    # all of this decoder's, inside); onnx-torch's weights went to one data file
    assert len(large) == 1 and len(adopted) == 2 and sorted(map(len, adopted)) == [0, 1]
    assert len(external) == 1  # onnx-ir
    outputs = _layer_outputs(model, "onnx-ir", [np.zeros((2, 6), np.int32)])
    assert len(outputs) == len(model.layers) and len(external) == 2
