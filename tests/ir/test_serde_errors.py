"""Errors from reading and writing model files (ir/serde.py, ir/safetensors_io.py): type and whole message.

test_files_fuzz.py shows that *any* damage gives an IRError; here each check
the loader makes is hit on purpose, and its message is pinned. Cases already
in test_ir_errors.py and test_files_limits.py are not repeated here.
"""

import io
import json
import re
import struct

import numpy as np
import pytest

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import safetensors_io
from twinnet.ir.serde import LIMITS, META_KEY


def raises(error, message):
    """pytest.raises for ``error`` whose message starts with ``message`` (taken literally)."""
    return pytest.raises(error, match="^" + re.escape(message))


def case(edit, error, message, id):
    return pytest.param(edit, error, message, id=id)


def model():
    x = ir.Input((4,), name="x")
    return ir.Model(x, L.Dense(2, name="d")(x), name="m")


def arch(**top):
    """The architecture dict of ``model()``, with top-level fields replaced."""
    return {**ir.to_dict(model()), **top}


def layer(**fields):
    return {"name": "d", "kind": "Dense", "config": {"units": 2}, "inputs": ["x"], **fields}


# -- the architecture: from_dict -----------------------------------------------------------------------

ARCHITECTURES = [
    case([1], ir.SchemaError, "model file: the architecture must be a JSON object", "not-an-object"),
    case(arch(format="keras"), ir.SchemaError, "model file: 'format' must be 'twinnet', got 'keras'", "format"),
    case(
        arch(format_version="1"),
        ir.SchemaError,
        "model file: field 'format_version' must be int, got str",
        "version-type",
    ),
    case(arch(format_version=0), ir.SchemaError, "format_version must be >= 1, got 0", "version-zero"),
    case(
        {k: v for k, v in arch().items() if k != "name"}, ir.SchemaError, "model: missing field 'name'", "missing-field"
    ),
    case(arch(layers={"d": 1}), ir.SchemaError, "model: field 'layers' must be list, got dict", "field-type"),
    case(
        arch(outputs=["d"] * (LIMITS["inputs"] + 1)),
        ir.ResourceLimitError,
        "model has 1 inputs and 10001 outputs; the limit is 10000 each",
        "too-many-outputs",
    ),
    case(
        arch(inputs=[{"name": "x", "shape": [4], "layout": "NC"}]),
        ir.SchemaError,
        "inputs[0]: missing field 'dtype'",
        "input-field",
    ),
    case(
        arch(inputs=[{"name": "x", "shape": [4], "layout": "NC", "dtype": "float32"}] * 2),
        ir.SchemaError,
        "inputs[1]: input name 'x' is not a fresh identifier",
        "input-name-twice",
    ),
    case(
        arch(inputs=[{"name": "x", "shape": [4], "layout": "NHWC", "dtype": "float32"}]),
        ir.LayoutError,
        "Input 'x': layout 'NHWC' has 4 axes but the tensor has rank 2",
        "input-layout",
    ),
    case(
        arch(layers=[layer(name="a b")]),
        ir.SchemaError,
        "layers[0]: layer name 'a b' is not an identifier",
        "layer-name",
    ),
    case(
        arch(layers=[layer(kind=5)]), ir.SchemaError, "layer 'd': field 'kind' must be str, got int", "layer-kind-type"
    ),
    case(
        arch(layers=[layer(name="x")], outputs=["x"]),
        ir.SchemaError,
        "layer 'x': the name is used twice",
        "layer-name-twice",
    ),
    case(
        arch(layers=[layer(config={"units": 2, "name": "d"})]),
        ir.SchemaError,
        "layer 'd': config must not contain 'name'",
        "config-name",
    ),
    case(
        arch(layers=[layer(inputs=[])]),
        ir.SchemaError,
        "layer 'd': needs between 1 and 1024 inputs, got 0",
        "no-inputs",
    ),
    case(
        arch(layers=[layer(inputs=[5])]),
        ir.SchemaError,
        "layer 'd': input 5 is not an input or an earlier layer (dangling reference or cycle)",
        "input-ref-type",
    ),
    case(
        arch(layers=[layer(config={"units": 2, "padding": "same"})]),
        ir.SchemaError,
        "layer 'd': bad config for Dense: unknown argument(s) 'padding'; Dense takes units, activation, use_bias",
        "config-unknown-argument",
    ),
    case(
        arch(layers=[layer(config={"units": 0})]),
        ir.ConfigError,
        "Dense 'd': units must be >= 1, got 0",
        "config-value",
    ),
    case(arch(layers=[layer(inputs=["x", "x"])]), ir.ShapeError, "Dense 'd': expects 1 input(s), got 2", "arity"),
    case(arch(outputs=["zz"]), ir.SchemaError, "model: output 'zz' is not an input or a layer", "output-ref"),
    case(arch(outputs=[]), ir.SchemaError, "model: a model needs at least one of outputs", "no-outputs"),
    case(arch(layers=[layer(), layer(name="e")]), ir.SchemaError, "model: layer(s) 'e' feed no output", "unused-layer"),
    case(
        arch(format_version=10**5000),
        ir.FormatVersionError,
        "this file has format_version <int of 16610 bits>, written by twinnet '0.1.0'",
        "version-unprintable",
    ),
]


@pytest.mark.parametrize("data,error,message", ARCHITECTURES)
def test_architecture_errors(data, error, message):
    with raises(error, message):
        ir.from_dict(data)


def test_architecture_json_must_be_text():
    with raises(ir.SchemaError, "model file: the architecture must be JSON text, got dict"):
        ir.from_json(ir.to_dict(model()))


def test_architecture_json_over_the_limit(monkeypatch):
    monkeypatch.setitem(LIMITS, "json_bytes", 100)
    with raises(ir.ResourceLimitError, "architecture JSON is 3"):
        ir.from_json(ir.to_json(model()))


# -- files: save and load ------------------------------------------------------------------------------


def test_save_errors(tmp_path):
    with raises(ir.SchemaError, "save path must end in .json or .safetensors, got 'm.txt'"):
        ir.save(model().initialize(0), tmp_path / "m.txt")


def test_json_file_errors(tmp_path):
    path = ir.save(model().initialize(0), tmp_path / "m.json")
    data = json.loads(path.read_text())
    weights_file = data["weights"]["file"]

    path.write_bytes(b'{"format": "twinnet\xff"}')
    with raises(ir.SchemaError, f"{path}: not UTF-8 text"):
        ir.load(path)
    for ref in ({"file": weights_file}, "w.safetensors", {"file": 5, "sha256": "0"}):
        path.write_text(json.dumps({**data, "weights": ref}))
        with raises(ir.SchemaError, f"{path}: 'weights' must name the weights file and its sha256"):
            ir.load(path)
    (tmp_path / weights_file).unlink()
    path.write_text(json.dumps(data))
    with raises(ir.WeightError, f"weights file {tmp_path / weights_file} (named by {path}) is missing"):
        ir.load(path)


def single_file(tmp_path, weights: dict, arch_json: str | None = None):
    """A one-file model whose stored weights are ``weights`` (whatever the architecture says)."""
    path = tmp_path / "m.safetensors"
    meta = {} if arch_json == "" else {META_KEY: arch_json or ir.to_json(model())}
    path.write_bytes(safetensors_io.dumps(weights, meta))
    return path


def f32(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize(
    "weights,error,message",
    [
        ({"d/kernel": f32(4, 2)}, ir.WeightError, "d: {path}: missing weight 'd/bias'"),
        (
            {"d/kernel": f32(2, 4), "d/bias": f32(2)},
            ir.WeightError,
            "d: {path}: weight 'd/kernel' has shape (2, 4), expected (4, 2)",
        ),
        (
            {"d/kernel": np.zeros((4, 2), np.float16), "d/bias": f32(2)},
            ir.WeightError,
            "d: {path}: weight 'd/kernel' has dtype F16, expected float32",
        ),
        (
            {"d/kernel": f32(4, 2), "d/bias": f32(2), "d/extra": f32(1)},
            ir.WeightError,
            "{path}: unexpected weight(s) d/extra",
        ),
    ],
    ids=["missing", "shape", "dtype", "unexpected"],
)
def test_stored_weights_must_match_the_architecture(tmp_path, weights, error, message):
    path = single_file(tmp_path, weights)
    with raises(error, message.format(path=path)):  # errors name the file by the path it was loaded from
        ir.load(path)


def test_safetensors_without_an_architecture(tmp_path):
    path = single_file(tmp_path, {"d/kernel": f32(4, 2)}, arch_json="")
    with raises(ir.SchemaError, f"{path}: a safetensors file without twinnet architecture metadata"):
        ir.load(path)


# -- the safetensors reader ---------------------------------------------------------------------------


def raw(header, data: bytes = b"", length: int | None = None) -> bytes:
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head) if length is None else length) + head + data


def entry(dtype="F32", shape=(1,), offsets=(0, 4)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize(
    "blob,message",
    [
        (b"\x01\x00", "f: not a safetensors file (shorter than 8 bytes)"),
        (raw({}, length=1000), "f: safetensors header length 1,000 is larger than the file allows (truncated?)"),
        (raw([1]), "f: safetensors header must be a JSON object"),
        (raw({"__metadata__": {"a": 1}}), "f: safetensors __metadata__ must map strings to strings"),
        (raw({"t": {"dtype": "F32"}}), "f: tensor 't' has a malformed header entry"),
        (raw({"t": entry(dtype="F8")}, bytes(4)), "f: tensor 't' has unknown dtype 'F8'"),
        (raw({"t": entry(shape=(-1,))}, bytes(4)), "f: tensor 't' has a malformed shape [-1]"),
        (raw({"t": entry(offsets=(4, 0))}, bytes(4)), "f: tensor 't' has malformed data_offsets [4, 0]"),
        (raw({"t": entry(shape=(2,))}, bytes(4)), "f: tensor 't' declares shape [2] (8 bytes) but spans 4 bytes"),
        (raw({"t": entry(offsets=(4, 8))}, bytes(4)), "f: tensor 't' runs past the end of the file (truncated?)"),
        (raw({"t": entry(), "u": entry(offsets=(8, 12))}, bytes(12)), "f: tensor data overlaps or leaves gaps"),
        (raw({"t": entry()}, bytes(8)), "f: 4 stray bytes after the tensor data"),
    ],
    ids=[
        "short",
        "length",
        "not-object",
        "metadata",
        "entry",
        "dtype",
        "shape",
        "offsets",
        "span",
        "past-end",
        "gap",
        "stray",
    ],
)
def test_safetensors_header_errors(blob, message):
    with raises(ir.SchemaError, message):
        safetensors_io.read_header(io.BytesIO(blob), len(blob), "f")


def test_safetensors_data_errors():
    blob = safetensors_io.dumps({"t": f32(4)})
    header, _, start = safetensors_io.read_header(io.BytesIO(blob), len(blob), "f")
    with raises(ir.ResourceLimitError, "f: weights need 16 bytes, more than the limit of 8"):
        safetensors_io.read_tensors(io.BytesIO(blob), header, start, 8, "f")
    # the file shrank after its header was checked
    with raises(ir.SchemaError, "f: tensor 't' is truncated"):
        safetensors_io.read_tensors(io.BytesIO(blob[:-2]), header, start, 1 << 20, "f")
    with raises(ir.SchemaError, "cannot store dtype complex64 of 'c' in safetensors"):
        safetensors_io.dumps({"c": np.zeros(2, np.complex64)})
