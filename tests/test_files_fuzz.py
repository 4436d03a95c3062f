"""Fuzzing the loader: any mutated model file either loads as a valid model or
raises an ``ir.IRError`` subclass -- never a TypeError, KeyError,
RecursionError, MemoryError... -- and does so quickly.

Profiles are registered here (not in conftest) so this file is self-contained:
the default, for CI, runs 200 derandomised examples per test (reproducible);
``TWINNET_FUZZ=long`` runs thousands with fresh randomness.
"""
import hashlib
import json
import os
import re
import struct
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import ir
from ir import layers as L
from ir import safetensors_io, serde
from ir.serde import META_KEY

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("twinnet-fuzz", max_examples=200, deadline=2000, derandomize=True, database=None,
                          suppress_health_check=_QUIET)
settings.register_profile("twinnet-fuzz-long", max_examples=3000, deadline=2000, database=None,
                          suppress_health_check=_QUIET)
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
    c = L.Add()([L.Conv1D(4, 3, padding="causal", dilation_rate=2)(z), z])
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

_WORDS = ["NaN", "Infinity", "-Infinity", "1e999", "", "C", "T", "N", "NHWC", "NCHW", "TNC", "NT", "x", "relu",
          "same", "valid", "causal", "float32", "int32", "int64", "LSTM", "GRU", "Dense", "Conv2D", "img", "ids",
          "F32", "I64", "BOOL", "m.safetensors", "../m.safetensors", "a" * 300 + ".safetensors", "__metadata__",
          "\u00e9\u0000"]
_NUMBERS = [0, -1, 1, 2, 3, 7, 2**31 - 1, 2**31, 2**31 + 1, 2**32, 2**53, 2**63, 2**64, 10**12, 10**30, -10**30,
            10**400, 10**4000, 0.5, -0.0, 1e300, 1e-300]
ATOMS = st.one_of(st.none(), st.booleans(), st.integers(-5, 40), st.sampled_from(_NUMBERS),
                  st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(_WORDS), st.text(max_size=6))
_KEYS = ["units", "filters", "kernel_size", "padding", "axis", "layer", "name", "kind", "config", "inputs", "layout",
         "shape", "dtype", "weights", "target_shape", "dims", "activation", "format_version", "extra", "sha256",
         "file", "data_offsets", "reset_after", "groups", "strides", "return_sequences"]
VALUES = st.recursive(ATOMS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(_KEYS), inner, max_size=4), max_leaves=12)


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


_TOKENS = ["1" * 5000, "[" * 5000, "{\"a\":" * 3000, "NaN", "-", "\"", "}", "{", "]", ",", ":", "1e400", "\\u0000",
           "\\ud800", "null", "\xff", "0" * 20]


def mutate_text(data, text: str) -> str:
    """Edits at the character level: insert a nasty token, delete a slice, or truncate."""
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "truncate"]))
        if op == "insert":
            text = text[:i] + data.draw(st.sampled_from(_TOKENS) | st.text(max_size=4)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + data.draw(st.integers(1, 20)):]
        else:
            text = text[:i]
    return text


def _split(blob: bytes):
    """A safetensors file as (header dict, data bytes)."""
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


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
        del raw[data.draw(st.integers(0, len(raw))):]
    elif op == "length" and name != "m.json":
        raw[:8] = struct.pack("<Q", data.draw(st.sampled_from([0, 1, 7, 8, 2**20, 2**40, 2**64 - 1]) |
                                              st.integers(0, 2**64 - 1)))
    elif op == "random":
        raw = bytearray(data.draw(st.binary(max_size=512)))
    elif op == "insert":
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    files = {**files, name: bytes(raw)}
    if form == "json" and name != "m.json" and data.draw(st.booleans()):
        files = _refresh_digest(files)
    check_load(workdir, files)


_SWEEP = [None, True, [], {}, [1], [[1, 1]], {"kind": "LSTM", "config": {"units": 1}}, 0, -1, 2**31 + 1, 10**12,
          10**400, 10**4000, -10**400, 1e308, float("nan"), float("inf"), 0.5, "", "NaN", "C", "NTC", "x" * 300,
          "a" * 300 + ".safetensors"]


def test_every_field_with_every_bad_value():
    """Systematic type swaps: each leaf of each architecture, set to each value above, through from_dict
    (no files: fast enough to cover every combination on every run)."""
    loaded = 0
    for text in (files["m.json"] for form, files in bases() if form == "json"):
        for path in list(_paths(json.loads(text)))[1:]:
            for value in _SWEEP:
                tree = json.loads(text)
                _parent(tree, path)[path[-1]] = value
                try:
                    loaded += bool(_valid(ir.from_dict(tree)))
                except ir.IRError:
                    pass
    assert loaded  # some swaps are harmless (another valid size, say): those must load cleanly


def test_unmutated_bases_load(workdir):
    for _, files in bases():
        assert check_load(workdir, files) is not None


# -- files declaring absurd sizes: refused with ResourceLimitError, before allocating ----------------

def _arch(layers, shape=(1000,), layout="NC"):
    return {"format": "twinnet", "format_version": 1, "name": "m", "layers": layers,
            "inputs": [{"name": "x", "shape": list(shape), "layout": layout, "dtype": "float32"}],
            "outputs": [layers[-1]["name"]]}


def _refused(fn, *args, match="", error=ir.ResourceLimitError):
    """``fn(*args)`` raises ``error`` having allocated under 20 MB (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        with pytest.raises(error, match=match):
            fn(*args)
        assert tracemalloc.get_traced_memory()[1] < 20 * 2**20
    finally:
        tracemalloc.stop()


def test_absurd_weights_are_refused_before_allocating(tmp_path):
    arch = _arch([{"name": "big", "kind": "Dense", "config": {"units": 10**9}, "inputs": ["x"]}])
    text = json.dumps(arch)
    _refused(ir.from_dict, arch, match=r"big: weight 'big/kernel' of shape \(1000, 1000000000\) would have "
                                       r"1,000,000,000,000 elements")
    (tmp_path / "m.json").write_text(text)
    _refused(ir.load, tmp_path / "m.json", match="big/kernel")
    (tmp_path / "m.safetensors").write_bytes(safetensors_io.dumps({}, {META_KEY: text}))
    _refused(ir.load, tmp_path / "m.safetensors", match="big/kernel")
    x = ir.Input((1000,))  # built in Python: fine to describe, refused when asked to allocate
    m = ir.Model(x, L.Dense(10**9, name="big")(x))
    assert m.count_params() == 10**12 + 10**9
    _refused(m.initialize, 0, match="more than the limit")
    _refused(m.randomize, 0, match="more than the limit")
    many = _arch([{"name": f"d{i}", "kind": "Dense", "config": {"units": 10**6}, "inputs": ["x"]} for i in range(6)]
                 + [{"name": "cat", "kind": "Concatenate", "config": {}, "inputs": [f"d{i}" for i in range(6)]}])
    _refused(ir.from_dict, many, match="weights would need more than the limit of 17,179,869,184 bytes")


def test_absurd_shapes_are_refused():
    with pytest.raises(ir.ShapeError, match="sizes at most 2147483648"):
        ir.from_dict(_arch([{"name": "f", "kind": "Flatten", "config": {}, "inputs": ["x"]}], shape=(2**31 + 1,)))
    wide = _arch([{"name": "f", "kind": "Flatten", "config": {}, "inputs": ["x"]}], shape=(2**30,) * 4, layout="NDHWC")
    with pytest.raises(ir.ResourceLimitError, match="Flatten 'f': output shape"):
        ir.from_dict(wide)
    with pytest.raises(ir.ResourceLimitError, match="Flatten 'f'"):  # a message naming the layer, not a MemoryError
        L.Flatten(name="f")(ir.Input((2**30,) * 4, layout="NDHWC"))


def test_deep_graphs(tmp_path):
    layer = {"name": "l", "kind": "Identity", "config": {}, "inputs": ["x"]}
    _refused(ir.from_dict, _arch([layer] * 10**6), match="1000000 layers, more than the limit of 100000")
    chain = ",".join(f'{{"name":"l{i}","kind":"Identity","config":{{}},"inputs":["{f"l{i - 1}" if i else "x"}"]}}'
                     for i in range(10**6))
    (tmp_path / "deep.json").write_text(json.dumps(_arch([layer])).replace(json.dumps([layer]), f"[{chain}]"))
    with pytest.raises(ir.ResourceLimitError):  # 10^6 layers is also more than 64 MB of JSON
        ir.load(tmp_path / "deep.json")
    # 5,000 layers in a chain, far past the recursion limit: nothing recurses per layer
    arch = _arch([{"name": f"l{i}", "kind": "Identity", "config": {}, "inputs": [f"l{i - 1}" if i else "x"]}
                  for i in range(5_000)])
    m = ir.load(ir.save(ir.from_dict(arch), tmp_path / "chain.json"))
    assert len(m.layers) == 5_000 and ir.to_dict(ir.from_dict(ir.to_dict(m))) == ir.to_dict(m)


def test_huge_and_deeply_nested_files(tmp_path):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(2**30)  # 1 GiB, sparse: costs no disk, and must not be read
    _refused(ir.load, huge, match="1,073,741,824 bytes")
    st_huge = tmp_path / "huge.safetensors"
    with open(st_huge, "wb") as f:
        f.write(struct.pack("<Q", 2**29))
        f.truncate(2**30)
    _refused(ir.load, st_huge, match="header length 536,870,912 is over the limit")
    st_huge.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    _refused(ir.load, st_huge, match="over the limit")
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.json").write_text(deep)
    _refused(ir.load, tmp_path / "deep.json", match="not valid JSON", error=ir.SchemaError)
    head = f'{{"__metadata__":{{"x":"y"}},"t":{deep}}}'.encode()
    (tmp_path / "deep.safetensors").write_bytes(struct.pack("<Q", len(head)) + head)
    _refused(ir.load, tmp_path / "deep.safetensors", match="not valid JSON", error=ir.SchemaError)
    (tmp_path / "meta.safetensors").write_bytes(safetensors_io.dumps({}, {META_KEY: deep}))
    _refused(ir.load, tmp_path / "meta.safetensors", match="not valid JSON", error=ir.SchemaError)


def test_format_versions_and_migrations(monkeypatch, tmp_path):
    m = _models()[0]
    data = ir.to_dict(m)
    with pytest.raises(ir.FormatVersionError, match="format_version 2.*reads versions up to 1: upgrade twinnet"):
        ir.from_dict({**data, "format_version": 2})
    monkeypatch.setattr(serde, "FORMAT_VERSION", 2)  # pretend v2 exists: v1 files need a migration
    with pytest.raises(ir.FormatVersionError, match="no migration from format_version 1 to 2"):
        ir.from_dict(data)
    monkeypatch.setitem(serde.MIGRATIONS, 1, lambda d: {**d, "format_version": 2, "name": "migrated"})
    assert ir.from_dict(data).name == "migrated"
    monkeypatch.setitem(serde.MIGRATIONS, 1, lambda d: d)  # a migration that forgets the version
    with pytest.raises(ir.FormatVersionError, match="did not raise the version"):
        ir.from_dict(data)


def test_names_must_be_whole_identifiers(tmp_path):
    """``$`` also matches before a final newline: a name like "dense\\n" must not pass (it would reach emitted code)."""
    p = ir.save(_models()[0], tmp_path / "m.json")
    good = p.read_text()
    for path in [("name",), ("inputs", 0, "name"), ("layers", 0, "name"), ("weights", "file")]:
        bad = json.loads(good)
        _parent(bad, path)[path[-1]] += "\n"
        p.write_text(json.dumps(bad))
        with pytest.raises(ir.IRError, match="identifier|plain .safetensors name"):
            ir.load(p)


def test_no_code_runs_from_files():
    """The loader has no way to run code: no pickle, eval, exec or dynamic import anywhere in ir/."""
    root = Path(ir.__file__).parent
    for path in root.rglob("*.py"):
        found = re.findall(r"import pickle|pickle\.load|\beval\(|\bexec\(|__import__|importlib|marshal|allow_pickle",
                           path.read_text())
        assert not found, f"{path.name}: {found}"
    with pytest.raises(ir.UnsupportedError, match="unknown layer kind"):
        ir.from_dict(_arch([{"name": "e", "kind": "__import__('os').system", "config": {}, "inputs": ["x"]}]))
