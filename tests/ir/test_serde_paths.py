"""Errors from loading a file name the file's path, not "model file" (the user has several files open)."""

import json

import numpy as np
import pytest

from twinnet import ir


def _saved(tmp_path, suffix):
    m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,)), name="m").initialize(0)
    return ir.save(m, tmp_path / f"m{suffix}")


def test_bad_json_names_the_path(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(ir.SchemaError, match="not valid JSON") as e:
        ir.load(p)
    assert str(e.value).startswith(f"{p}: ")
    assert "model file" not in str(e.value)


def test_bad_architecture_names_the_path(tmp_path):
    p = _saved(tmp_path, ".json")
    data = json.loads(p.read_text())
    data["format"] = "something-else"
    p.write_text(json.dumps(data))
    with pytest.raises(ir.SchemaError, match="'format' must be") as e:
        ir.load(p)
    assert str(e.value).startswith(f"{p}: ")


def test_bad_layer_names_the_path_and_keeps_the_layer(tmp_path):
    p = _saved(tmp_path, ".json")
    data = json.loads(p.read_text())
    data["layers"][0]["config"]["units"] = -1
    p.write_text(json.dumps(data))
    with pytest.raises(ir.ConfigError, match="units must be >= 1") as e:
        ir.load(p)
    assert f"{p}: " in str(e.value) and e.value.layer


def test_missing_weights_file_names_both_paths(tmp_path):
    p = _saved(tmp_path, ".json")
    weights = tmp_path / json.loads(p.read_text())["weights"]["file"]
    weights.unlink()
    with pytest.raises(ir.WeightError, match="is missing") as e:
        ir.load(p)
    assert str(weights) in str(e.value) and str(p) in str(e.value)


def test_truncated_safetensors_names_the_path(tmp_path):
    p = _saved(tmp_path, ".safetensors")
    p.write_bytes(p.read_bytes()[:4])
    with pytest.raises(ir.SchemaError, match="shorter than 8 bytes") as e:
        ir.load(p)
    assert str(e.value).startswith(f"{p}: ")


def test_safetensors_with_bad_architecture_names_the_path(tmp_path):
    from twinnet.ir import safetensors_io

    p = tmp_path / "odd.safetensors"
    safetensors_io.atomic_write(
        p, safetensors_io.dumps({"w": np.zeros(2, np.float32)}, {"twinnet.architecture": "{oops"})
    )
    with pytest.raises(ir.SchemaError) as e:
        ir.load(p)
    assert str(e.value).startswith(f"{p}: ")
