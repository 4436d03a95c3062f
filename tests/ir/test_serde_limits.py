"""Files that are well-formed but hostile or foreign: absurd sizes, deep graphs, huge or deeply
nested JSON, newer format versions and migrations, names that are not identifiers, and proof
that nothing in a file makes twinnet run code."""

import json
import re
import struct
import tracemalloc
from pathlib import Path

import pytest
from siblings import sibling

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import safetensors_io, serde
from twinnet.ir.serde import META_KEY

_models, _parent = sibling("ir/test_serde_fuzz.py")._models, sibling("ir/test_serde_fuzz.py")._parent


# -- files declaring absurd sizes: refused with ResourceLimitError, before allocating ----------------


def _arch(layers, shape=(1000,), layout="NC"):
    return {
        "format": "twinnet",
        "format_version": 1,
        "name": "m",
        "layers": layers,
        "inputs": [{"name": "x", "shape": list(shape), "layout": layout, "dtype": "float32"}],
        "outputs": [layers[-1]["name"]],
    }


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
    _refused(
        ir.from_dict,
        arch,
        match=r"big: weight 'big/kernel' of shape \(1000, 1000000000\) would have "
        r"1,000,000,000,000 elements",
    )
    (tmp_path / "m.json").write_text(text)
    _refused(ir.load, tmp_path / "m.json", match="big/kernel")
    (tmp_path / "m.safetensors").write_bytes(safetensors_io.dumps({}, {META_KEY: text}))
    _refused(ir.load, tmp_path / "m.safetensors", match="big/kernel")
    x = ir.Input((1000,))  # built in Python: fine to describe, refused when asked to allocate
    m = ir.Model(x, L.Dense(10**9, name="big")(x))
    assert m.count_params() == 10**12 + 10**9
    _refused(m.initialize, 0, match="more than the limit")
    _refused(m.randomize, 0, match="more than the limit")
    many = _arch(
        [{"name": f"d{i}", "kind": "Dense", "config": {"units": 10**6}, "inputs": ["x"]} for i in range(6)]
        + [{"name": "cat", "kind": "Concatenate", "config": {}, "inputs": [f"d{i}" for i in range(6)]}]
    )
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
    chain = ",".join(
        f'{{"name":"l{i}","kind":"Identity","config":{{}},"inputs":["{f"l{i - 1}" if i else "x"}"]}}'
        for i in range(10**6)
    )
    (tmp_path / "deep.json").write_text(json.dumps(_arch([layer])).replace(json.dumps([layer]), f"[{chain}]"))
    with pytest.raises(ir.ResourceLimitError):  # 10^6 layers is also more than 64 MB of JSON
        ir.load(tmp_path / "deep.json")
    # 5,000 layers in a chain, far past the recursion limit: nothing recurses per layer
    arch = _arch(
        [
            {"name": f"l{i}", "kind": "Identity", "config": {}, "inputs": [f"l{i - 1}" if i else "x"]}
            for i in range(5_000)
        ]
    )
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
    assert data["format_version"] == 4
    with pytest.raises(ir.FormatVersionError, match="format_version 5.*reads versions up to 4: upgrade twinnet"):
        ir.from_dict({**data, "format_version": 5})
    v1 = {**data, "format_version": 1}  # version 1 had no block marks: it loads through MIGRATIONS[1], then [2]
    v2 = {**data, "format_version": 2}  # version 2 had no training spec: it loads through MIGRATIONS[2]
    v3 = {**data, "format_version": 3}  # version 3 had one weights file, never shards: MIGRATIONS[3]
    assert all(ir.to_dict(ir.from_dict(old)) == data for old in (v1, v2, v3))
    monkeypatch.setattr(serde, "FORMAT_VERSION", 5)  # pretend v5 exists: v4 files need a migration
    with pytest.raises(ir.FormatVersionError, match="no migration from format_version 4 to 5"):
        ir.from_dict(data)
    monkeypatch.setitem(serde.MIGRATIONS, 4, lambda d: {**d, "format_version": 5, "name": "migrated"})
    assert ir.from_dict(data).name == "migrated"
    assert ir.from_dict(v1).name == "migrated"  # migrations chain: 1 -> 2 -> 3 -> 4 -> 5
    monkeypatch.setitem(serde.MIGRATIONS, 4, lambda d: d)  # a migration that forgets the version
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
        found = re.findall(
            r"import pickle|pickle\.load|\beval\(|\bexec\(|__import__|importlib|marshal|allow_pickle", path.read_text()
        )
        assert not found, f"{path.name}: {found}"
    with pytest.raises(ir.UnsupportedError, match="unknown layer kind"):
        ir.from_dict(_arch([{"name": "e", "kind": "__import__('os').system", "config": {}, "inputs": ["x"]}]))
