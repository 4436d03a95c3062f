"""Weights in shards: ``ir.save(model, "m.json", max_shard_size=...)`` and loading them back."""

import json
import mmap

import numpy as np
import pytest

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import safetensors_io, shards


def _model(seed=0):
    """A small decoder-like stack: an embedding, dense layers and a norm (21 weights, ~38 KB)."""
    ids = ir.Input((7,), dtype="int32", name="ids")
    h = L.Embedding(50, 16)(ids)
    for _ in range(3):
        h = L.LayerNorm()(L.Add()([h, L.Dense(16)(L.Dense(64, activation="gelu")(h))]))
    out = L.Dense(50)(h)
    return ir.Model(ids, out, name="tiny_lm").randomize(seed)


def _root(array):
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array.obj if isinstance(array, memoryview) else array


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def _shard_names(folder):
    return [n for n in _files(folder) if n.endswith(".safetensors")]


def test_sharded_save_lists_every_shard_and_loads_as_memory_maps(tmp_path):
    m = _model()
    path = ir.save(m, tmp_path / "m.json", max_shard_size=8_000)
    entry = json.loads(path.read_text())["weights"]
    names = [s["file"] for s in entry["shards"]]
    assert len(names) >= 4 and sorted(names) == _shard_names(tmp_path)
    assert names[0].startswith(f"m-00001-of-{len(names):05d}.")
    assert set(entry["weight_map"]) == set(m.weight_specs()) and set(entry["weight_map"].values()) == set(names)
    for shard in entry["shards"]:  # each at most the limit, unless one weight alone is larger
        with open(tmp_path / shard["file"], "rb") as f:
            header, _, _ = safetensors_io.read_header(f, shard["bytes"], shard["file"])
        data = sum(e["data_offsets"][1] - e["data_offsets"][0] for e in header.values())
        assert data <= 8_000 or len(header) == 1
        assert {k for k, v in entry["weight_map"].items() if v == shard["file"]} == set(header)
    back = ir.load(path)
    assert list(back.weights) == list(m.weights)  # in the architecture's order
    for key, value in m.weights.items():
        assert np.array_equal(back.weights[key], value)
        assert not back.weights[key].flags.writeable and isinstance(_root(back.weights[key]), mmap.mmap)
    assert ir.to_dict(back) == ir.to_dict(m)


def test_one_shard_keeps_the_one_file_form_and_a_large_weight_gets_its_own_shard(tmp_path):
    m = _model()
    entry = json.loads(ir.save(m, tmp_path / "one.json").read_text())["weights"]
    assert set(entry) == {"file", "sha256"}  # the default limit (2 GiB) is far above 38 KB
    entry = json.loads(ir.save(m, tmp_path / "each.json", max_shard_size=1).read_text())["weights"]
    assert len(entry["shards"]) == len(m.weight_specs())  # every weight is larger than 1 byte: one shard each
    assert shards.plan({"a": np.zeros(4), "b": np.zeros(1), "c": np.zeros(3)}, 40) == [["a", "b"], ["c"]]


def test_resaves_replace_the_shard_set_and_leave_no_strays(tmp_path):
    path = tmp_path / "m.json"
    ir.save(_model(0), path, max_shard_size=8_000)
    first = _files(tmp_path)
    ir.save(_model(0), path, max_shard_size=8_000)
    assert _files(tmp_path) == first  # same weights: same content-addressed names, same bytes
    ir.save(_model(1), path, max_shard_size=8_000)  # new weights: the old shards go
    assert not set(first) & set(_shard_names(tmp_path)) and len(_shard_names(tmp_path)) >= 4
    ir.save(_model(1), path)  # back to one file: every shard goes
    assert len(_shard_names(tmp_path)) == 1
    ir.save(_model(2), path, max_shard_size=20_000)
    assert all(np.array_equal(ir.load(path).weights[k], v) for k, v in _model(2).weights.items())
    assert not [n for n in _files(tmp_path) if n.endswith(".tmp")]


def test_a_failed_save_keeps_the_previous_model_and_removes_its_own_shards(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    ir.save(_model(0), path, max_shard_size=8_000)
    before = {n: (tmp_path / n).read_bytes() for n in _files(tmp_path)}
    real, calls = safetensors_io.write_to, []

    def fail_on_third(f, tensors, metadata=None):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(f, tensors, metadata)

    monkeypatch.setattr(safetensors_io, "write_to", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        ir.save(_model(1), path, max_shard_size=8_000)
    assert {n: (tmp_path / n).read_bytes() for n in _files(tmp_path)} == before
    assert ir.load(path).name == "tiny_lm"


def _saved(tmp_path):
    path = ir.save(_model(), tmp_path / "m.json", max_shard_size=8_000)
    return path, json.loads(path.read_text())


def _rewrite(path, data):
    path.write_text(json.dumps(data))
    return path


def test_a_missing_or_altered_shard_is_refused_by_name(tmp_path):
    path, data = _saved(tmp_path)
    second = data["weights"]["shards"][1]["file"]
    content = (tmp_path / second).read_bytes()
    (tmp_path / second).unlink()
    with pytest.raises(ir.WeightError, match=f"weights file .*{second} \\(named by .*m.json\\) is missing"):
        ir.load(path)
    (tmp_path / second).write_bytes(content[:-4] + b"\0\0\0\0")
    with pytest.raises(ir.WeightError, match=f"{second}: contents do not match the sha256 recorded in"):
        ir.load(path)
    (tmp_path / second).write_bytes(content[:-4])
    with pytest.raises(ir.SchemaError, match=f"{second}: .*(truncated|stray bytes)"):
        ir.load(path)


def test_a_bad_index_is_refused(tmp_path):
    path, data = _saved(tmp_path)
    ws = data["weights"]
    first, second = ws["shards"][0]["file"], ws["shards"][1]["file"]
    key = next(k for k, v in ws["weight_map"].items() if v == first)
    cases = [
        ({"shards": [], "weight_map": {}}, ir.SchemaError, "'weights.shards' must list between 1 and"),
        ({"shards": "x", "weight_map": {}}, ir.SchemaError, "'weights.shards' must list between 1 and"),
        ({**ws, "shards": [{"file": first}]}, ir.SchemaError, r"weights.shards\[0\] must give a 'file' and its hex"),
        ({**ws, "shards": [*ws["shards"], ws["shards"][0]]}, ir.SchemaError, f"shard '{first}' is listed twice"),
        ({**ws, "weight_map": None}, ir.SchemaError, "'weights.weight_map' must map each weight to its shard"),
        ({**ws, "weight_map": {**ws["weight_map"], key: "other.safetensors"}}, ir.SchemaError, "not a listed shard"),
        ({**ws, "weight_map": {**ws["weight_map"], "ghost/kernel": first}}, ir.WeightError, "unexpected weight"),
        ({**ws, "weight_map": {k: v for k, v in ws["weight_map"].items() if k != key}}, ir.WeightError, "no shard"),
        ({**ws, "weight_map": {**ws["weight_map"], key: second}}, ir.WeightError, "safetensors: unexpected weight"),
        ({**ws, "shards": [{**ws["shards"][0], "file": "../x.safetensors"}, *ws["shards"][1:]]}, ir.IRError, "plain"),
        ({"file": first}, ir.SchemaError, "'weights' must name the weights file and its sha256, or list its shards"),
    ]
    for weights, error, message in cases:
        with pytest.raises(error, match=message):
            ir.load(_rewrite(path, {**data, "weights": weights}))


def test_bad_shard_sizes_and_the_one_file_form(tmp_path):
    for bad in (0, -1, True, "1", 1.5):
        with pytest.raises(ir.SchemaError, match="max_shard_size must be a positive number of bytes"):
            ir.save(_model(), tmp_path / "m.json", max_shard_size=bad)
    with pytest.raises(ir.SchemaError, match="a .safetensors model file is one file: save to a .json name"):
        ir.save(_model(), tmp_path / "m.safetensors", max_shard_size=8_000)
    assert ir.load(ir.save(_model(), tmp_path / "m.safetensors", max_shard_size=10**9)).name == "tiny_lm"
    assert _files(tmp_path) == ["m.safetensors"]


def test_a_version_3_file_with_one_weights_file_loads(tmp_path):
    path = ir.save(_model(), tmp_path / "m.json")
    data = json.loads(path.read_text())
    assert data["format_version"] == 4
    back = ir.load(_rewrite(path, {**data, "format_version": 3}))
    assert all(np.array_equal(back.weights[k], v) for k, v in _model().weights.items())
