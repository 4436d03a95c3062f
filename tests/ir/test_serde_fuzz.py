"""Fuzzing the loader: any mutated model file either loads as a valid model or
raises an ``ir.IRError`` subclass -- never a TypeError, KeyError,
RecursionError, MemoryError... -- and does so quickly.

Profiles are registered here (not in conftest) so this file is self-contained:
the default, for CI, runs 200 derandomised examples per test (reproducible);
``TWINNET_FUZZ=long`` runs thousands with fresh randomness. The systematic
sweep of every field with every bad value is in test_serde_sweep.py.
"""

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir.serde import META_KEY

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "twinnet-fuzz", max_examples=200, deadline=2000, derandomize=True, database=None, suppress_health_check=_QUIET
)
settings.register_profile(
    "twinnet-fuzz-long", max_examples=3000, deadline=2000, database=None, suppress_health_check=_QUIET
)
FUZZ = settings.get_profile("twinnet-fuzz-long" if os.environ.get("TWINNET_FUZZ") == "long" else "twinnet-fuzz")


def _models():
    """Small models covering the layer kinds whose validators the fuzzer should reach."""
    x = ir.Input((8, 8, 3), name="img")
    a = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    b = L.Conv2D(2, 1, use_bias=False)(x)
    y = L.BatchNorm()(L.Concatenate()([a, b]))
    cnn = ir.Model(x, L.Dense(5, activation="softmax")(L.Flatten()(L.MaxPool2D()(y))), name="cnn")

    ids, feats = ir.Input((6,), dtype="int32", name="ids"), ir.Input((6, 2), name="feats")
    e = L.Concatenate(axis="C")([L.Embedding(20, 4)(ids), feats])
    s = L.LSTM(5)(L.Bidirectional(L.GRU(3, return_sequences=True))(e))
    text = ir.Model([ids, feats], L.Dense(2)(s), name="text")

    z = ir.Input((10, 4), name="sig")
    c = z
    for i in range(2):  # block marks ("block": [kind, instance]) are fuzzed too
        with ir.block("Res", f"res{i}"):
            c = L.Add()([L.Conv1D(4, 3, padding="causal", dilation_rate=2)(c), c])
    c = L.Dropout(0.2)(L.LayerNorm()(L.Activation("leaky_relu", negative_slope=0.1)(c)))
    r = L.AvgPool1D(2, padding="same")(L.SimpleRNN(3, return_sequences=True)(L.Reshape((5, 8))(c)))
    g = L.Concatenate()([L.GlobalMaxPool1D()(r), L.GRU(2, reset_after=False)(L.Permute("TNC")(z))])
    seq = ir.Model(z, L.Dense(1)(g), name="seq")
    return [m.initialize(i) for i, m in enumerate([cnn, text, seq])]


_BASES = []


def bases():
    """(form, {file name: bytes}) for every model in both file forms; built once, kept
    out of the test's arguments so that hypothesis reports stay short."""
    if not _BASES:
        with tempfile.TemporaryDirectory() as tmp:
            for m in _models():
                d = Path(tmp) / m.name
                d.mkdir()
                ir.save(m, d / "m.json")
                _BASES.append(("json", {p.name: p.read_bytes() for p in d.iterdir()}))
                _BASES.append(("safetensors", {"m.safetensors": ir.save(m, d / "m.safetensors").read_bytes()}))
    return _BASES


def draw_base(data):
    return bases()[data.draw(st.integers(0, len(bases()) - 1), label="base")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _valid(model):
    d = ir.to_dict(model)
    assert ir.to_dict(ir.from_dict(json.loads(json.dumps(d)))) == d
    model.count_params()
    return model


def check_load(folder, files: dict[str, bytes]):
    """The property: load succeeds with a self-consistent model, or fails with an IRError."""
    for p in folder.iterdir():
        p.unlink()
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    try:
        return _valid(ir.load(folder / ("m.json" if "m.json" in files else "m.safetensors")))
    except ir.IRError as e:
        assert str(e)
        return None


# -- mutations ------------------------------------------------------------------

_WORDS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "",
    "C",
    "T",
    "N",
    "NHWC",
    "NCHW",
    "TNC",
    "NT",
    "x",
    "relu",
    "same",
    "valid",
    "causal",
    "float32",
    "int32",
    "int64",
    "LSTM",
    "GRU",
    "Dense",
    "Conv2D",
    "img",
    "ids",
    "F32",
    "I64",
    "BOOL",
    "Res",
    "res0",
    "m.safetensors",
    "../m.safetensors",
    "a" * 300 + ".safetensors",
    "__metadata__",
    "\u00e9\u0000",
]
_NUMBERS = [
    0,
    -1,
    1,
    2,
    3,
    7,
    2**31 - 1,
    2**31,
    2**31 + 1,
    2**32,
    2**53,
    2**63,
    2**64,
    10**12,
    10**30,
    -(10**30),
    10**400,
    10**4000,
    0.5,
    -0.0,
    1e300,
    1e-300,
]
ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 40),
    st.sampled_from(_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_WORDS),
    st.text(max_size=6),
)
_KEYS = [
    "units",
    "filters",
    "kernel_size",
    "padding",
    "axis",
    "layer",
    "name",
    "kind",
    "config",
    "inputs",
    "layout",
    "shape",
    "dtype",
    "weights",
    "target_shape",
    "dims",
    "activation",
    "format_version",
    "extra",
    "sha256",
    "file",
    "data_offsets",
    "reset_after",
    "groups",
    "strides",
    "return_sequences",
    "block",
]
VALUES = st.recursive(
    ATOMS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
    max_leaves=12,
)


def _paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


def _parent(tree, path):
    for k in path[:-1]:
        tree = tree[k]
    return tree


def mutate_tree(data, tree):
    """Apply 1-3 structural edits: replace, delete, add a key, duplicate or swap list items."""
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(tree))
        # half the time aim at layer arguments, where most validators live
        focus = [p for p in paths if "config" in p[:-1]] if data.draw(st.booleans()) else None
        path = data.draw(st.sampled_from(focus or paths))
        op = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "dup", "swap"]))
        if not path:
            if op == "replace":
                tree = data.draw(VALUES)
            continue
        parent, key = _parent(tree, path), path[-1]
        if op == "replace":
            parent[key] = data.draw(ATOMS | VALUES)
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent[key], dict):
            parent[key][data.draw(st.sampled_from(_KEYS))] = data.draw(VALUES)
        elif op == "dup" and isinstance(parent, list):
            parent.insert(data.draw(st.integers(0, len(parent))), json.loads(json.dumps(parent[key])))
        elif op == "swap" and isinstance(parent, list):
            other = data.draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
    return tree


_TOKENS = [
    "1" * 5000,
    "[" * 5000,
    '{"a":' * 3000,
    "NaN",
    "-",
    '"',
    "}",
    "{",
    "]",
    ",",
    ":",
    "1e400",
    "\\u0000",
    "\\ud800",
    "null",
    "\xff",
    "0" * 20,
]


def mutate_text(data, text: str) -> str:
    """Edits at the character level: insert a nasty token, delete a slice, or truncate."""
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "truncate"]))
        if op == "insert":
            text = text[:i] + data.draw(st.sampled_from(_TOKENS) | st.text(max_size=4)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + data.draw(st.integers(1, 20)) :]
        else:
            text = text[:i]
    return text


def _split(blob: bytes):
    """A safetensors file as (header dict, data bytes)."""
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def _join(header, data: bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(head)) + head + data


def _weights_name(files):
    return next(n for n in files if n != "m.json")


def _refresh_digest(files):
    """Re-point m.json at its (possibly corrupted) weights so the loader gets past the sha256 check."""
    data = json.loads(files["m.json"])
    blob = files[_weights_name(files)]
    data["weights"]["sha256"] = hashlib.sha256(blob).hexdigest()
    return {**files, "m.json": json.dumps(data).encode()}


# -- the fuzz tests -----------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_mutated_architecture(workdir, data):
    form, files = draw_base(data)
    if form == "json":
        arch = mutate_tree(data, json.loads(files["m.json"]))
        files = {**files, "m.json": json.dumps(arch).encode()}
    else:
        header, blob = _split(files["m.safetensors"])
        arch = mutate_tree(data, json.loads(header["__metadata__"][META_KEY]))
        header["__metadata__"][META_KEY] = json.dumps(arch)
        files = {"m.safetensors": _join(header, blob)}
    check_load(workdir, files)


@FUZZ
@given(data=st.data())
def test_mutated_architecture_text(workdir, data):
    form, files = draw_base(data)
    if form == "json":
        text = mutate_text(data, files["m.json"].decode())
        files = {**files, "m.json": text.encode("utf-8", "surrogatepass")}
    else:
        header, blob = _split(files["m.safetensors"])
        header["__metadata__"][META_KEY] = mutate_text(data, header["__metadata__"][META_KEY])
        files = {"m.safetensors": _join(header, blob)}
    check_load(workdir, files)


@FUZZ
@given(data=st.data())
def test_mutated_safetensors_header(workdir, data):
    form, files = draw_base(data)
    name = "m.safetensors" if form == "safetensors" else _weights_name(files)
    header, blob = _split(files[name])
    if data.draw(st.booleans()):
        header = mutate_tree(data, header)
        raw = _join(header, blob)
    else:
        head = mutate_text(data, json.dumps(header, separators=(",", ":"))).encode("utf-8", "surrogatepass")
        raw = struct.pack("<Q", len(head)) + head + blob
    files = {**files, name: raw}
    check_load(workdir, _refresh_digest(files) if form == "json" else files)


@FUZZ
@given(data=st.data())
def test_corrupted_bytes(workdir, data):
    form, files = draw_base(data)
    name = data.draw(st.sampled_from(sorted(files)))
    raw = bytearray(files[name])
    op = data.draw(st.sampled_from(["flip", "flip_header", "truncate", "length", "random", "insert"]))
    if op in ("flip", "flip_header"):
        (n,) = struct.unpack("<Q", raw[:8]) if len(raw) >= 8 and name != "m.json" else (len(raw),)
        end = min(len(raw), 8 + n) if op == "flip_header" else len(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, end - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "truncate":
        del raw[data.draw(st.integers(0, len(raw))) :]
    elif op == "length" and name != "m.json":
        raw[:8] = struct.pack(
            "<Q", data.draw(st.sampled_from([0, 1, 7, 8, 2**20, 2**40, 2**64 - 1]) | st.integers(0, 2**64 - 1))
        )
    elif op == "random":
        raw = bytearray(data.draw(st.binary(max_size=512)))
    elif op == "insert":
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    files = {**files, name: bytes(raw)}
    if form == "json" and name != "m.json" and data.draw(st.booleans()):
        files = _refresh_digest(files)
    check_load(workdir, files)
