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
