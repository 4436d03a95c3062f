"""ir/precision.py: rounding to float16/bfloat16 in pure numpy, storage codes, and model.dtype in files."""

import json

import ml_dtypes
import numpy as np
import pytest

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import safetensors_io
from twinnet.ir.precision import check_precision, from_storage, round_to, to_storage

SPECIALS = np.array([np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-45, 3.4e38, 65504.0, 65520.0, 1.00390625], np.float32)


def values():
    rng = np.random.default_rng(0)
    scaled = rng.standard_normal(20000).astype(np.float32) * np.float32(10.0) ** rng.integers(-8, 8, 20000)
    return np.concatenate([scaled.astype(np.float32), SPECIALS])


@pytest.mark.parametrize("dtype, numpy_type", [("float16", np.float16), ("bfloat16", ml_dtypes.bfloat16)])
def test_round_to_matches_the_cast_of_a_real_half_type(dtype, numpy_type):
    x = values()
    with np.errstate(over="ignore"):
        expected = x.astype(numpy_type).astype(np.float32)
    got = round_to(x, dtype)
    assert got.dtype == np.float32
    assert np.array_equal(got, expected)  # ties to even, overflow to inf, subnormals: bit for bit


def test_round_to_keeps_nan_and_leaves_float32_and_integers_alone():
    x = np.array([np.nan, 1.0], np.float32)
    assert np.isnan(round_to(x, "bfloat16")[0]) and np.isnan(round_to(x, "float16")[0])
    ints = np.arange(3, dtype=np.int32)
    assert round_to(ints, "float16") is ints and round_to(x, "float32") is x


@pytest.mark.parametrize("dtype, code", [("float16", "F16"), ("bfloat16", "BF16")])
def test_storage_holds_half_the_bytes_and_reads_back_exactly(dtype, code):
    x = values()
    stored = to_storage(x, dtype)
    assert stored.nbytes == x.nbytes // 2 and safetensors_io.CODES[stored.dtype] == code
    assert np.array_equal(from_storage(stored), round_to(x, dtype))


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ir.ConfigError, match="float32, float16, bfloat16.*'float8'"):
        check_precision("float8")
    m = ir.Sequential([L.Dense(2)], input=ir.Input((3,)), name="m")
    with pytest.raises(ir.ConfigError, match="model 'm': dtype"):
        m.dtype = "half"


def small(dtype="float32"):
    x = ir.Input((6, 6, 2), layout="NHWC", name="image")
    m = ir.Model(x, L.Dense(3)(L.Flatten()(L.BatchNorm()(L.Conv2D(4, 3)(x)))), name="small").randomize(0)
    m.dtype = dtype
    return m


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("suffix", [".safetensors", ".json"])
def test_a_half_model_saves_its_precision_and_half_precision_weights(tmp_path, dtype, suffix):
    m = small(dtype)
    path = ir.save(m, tmp_path / f"m{suffix}")
    loaded = ir.load(path)
    assert loaded.dtype == dtype and ir.to_dict(loaded)["dtype"] == dtype
    for key, value in m.weights.items():  # float32 in memory, on the half grid
        assert loaded.weights[key].dtype == np.float32
        assert np.array_equal(loaded.weights[key], round_to(value, dtype))
    weights = path if suffix == ".safetensors" else next(tmp_path.glob("m.*.safetensors"))
    with open(weights, "rb") as f:
        header, _, _ = safetensors_io.read_header(f, weights.stat().st_size, str(weights))
    assert {e["dtype"] for e in header.values()} == {"F16" if dtype == "float16" else "BF16"}


def test_a_float32_model_has_no_dtype_key_and_old_files_load_as_float32(tmp_path):
    m = small()
    assert "dtype" not in ir.to_dict(m)
    assert ir.from_dict(json.loads(ir.to_json(m))).dtype == "float32"
    half = small("float16")
    path = ir.save(half, tmp_path / "h.safetensors")
    data = ir.to_dict(half)
    data["dtype"] = "float64"
    with pytest.raises(ir.SchemaError, match="dtype must be one of float32, float16, bfloat16"):
        ir.from_dict(data)
    # the header's dtype must match the model's precision: a float16 file declared float32 is refused
    m32 = ir.load(path)
    m32.dtype = "float32"
    with pytest.raises(ir.WeightError, match="has dtype F16, expected float32"):
        from twinnet.ir.serde import META_KEY
        from twinnet.ir.shards import check_header

        with open(path, "rb") as f:
            header, metadata, _ = safetensors_io.read_header(f, path.stat().st_size, str(path))
        assert META_KEY in metadata
        check_header(m32.weight_specs(), header, str(path), m32.dtype)


def test_a_half_model_file_must_hold_its_own_half_type(tmp_path):
    from twinnet.ir.shards import check_header

    path = ir.save(small("float16"), tmp_path / "h.safetensors")
    with open(path, "rb") as f:
        header, _, _ = safetensors_io.read_header(f, path.stat().st_size, str(path))
    model = ir.load(path)
    model.dtype = "bfloat16"
    with pytest.raises(ir.WeightError, match=r"has dtype F16, expected BF16 \(a bfloat16 model\)"):
        check_header(model.weight_specs(), header, str(path), model.dtype)
