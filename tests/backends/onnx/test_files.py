"""ONNX files written straight from the IR, with the weights as external data past a size threshold."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import twinnet
from twinnet import ir
from twinnet.backends.onnx import files
from twinnet.ir import layers as L
from twinnet.ir import ops as O


def decoder(seed=0, width=16, heads=2, seq=6, vocab=40, blocks=2):
    """A small decoder: embedding, blocks of causal attention (Dense, View, Transpose, SDPA) and a GELU MLP
    with layer norms and residuals, an LM head; random weights, biases and norm parameters."""
    ids = ir.Input((seq,), dtype="int32", name="ids")
    x = L.Embedding(vocab, width)(ids)
    for _ in range(blocks):
        h = L.LayerNorm()(x)
        qkv = [O.Transpose("NATE")(O.View((seq, heads, width // heads), "NTAE")(L.Dense(width)(h))) for _ in "qkv"]
        a = O.View((seq, width), "NTC")(O.Transpose("NTAE")(O.ScaledDotProductAttention(causal=True)(qkv)))
        x = L.Add()([x, L.Dense(width)(a)])
        x = L.Add()([x, L.Dense(width)(L.Dense(4 * width, activation="gelu")(L.LayerNorm()(x)))])
    return ir.Model(ids, L.Dense(vocab)(L.LayerNorm()(x)), name="decoder").randomize(seed)


def _run(path, ids):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"ids": ids})[0]


def _ids(batch, seed=0):
    return np.random.default_rng(seed).integers(0, 40, (batch, 6)).astype(np.int32)


def test_weights_past_the_threshold_go_to_one_aligned_external_file(tmp_path):
    m = decoder()
    inline = twinnet.export_onnx(m, tmp_path / "inline.onnx", via="ir")  # 1 GiB default: all inside
    external = twinnet.export_onnx(m, tmp_path / "ext.onnx", via="ir", external_data_threshold=1000)
    data = [p.name for p in tmp_path.iterdir() if p.name.endswith(".onnx.data")]
    assert len(data) == 1 and data[0].startswith("ext.") and files.external_files(external) == data
    proto = onnx.load(str(external), load_external_data=False)
    outside = {t.name: {e.key: e.value for e in t.external_data} for t in proto.graph.initializer if t.external_data}
    inside = [t for t in proto.graph.initializer if not t.external_data]
    assert outside and all(int(e["offset"]) % files.ALIGN == 0 and e["location"] == data[0] for e in outside.values())
    assert all(t.ByteSize() < files.SMALL + 200 for t in inside)  # only small tensors stay in the graph
    moved = sum(int(e["length"]) for e in outside.values())
    assert not files.external_files(inline) and inline.stat().st_size > moved > 2 * external.stat().st_size
    for batch in (1, 3):
        np.testing.assert_array_equal(_run(external, _ids(batch)), _run(inline, _ids(batch)))
    loaded = onnx.load(str(external))  # onnx itself reads the external data back: the weights, bit for bit
    back = {t.name: onnx.numpy_helper.to_array(t) for t in loaded.graph.initializer}
    ref = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(inline)).graph.initializer}
    assert back.keys() == ref.keys() and all(np.array_equal(back[k], ref[k]) for k in ref)


def test_a_re_export_replaces_the_data_file_and_an_inline_one_removes_it(tmp_path):
    path = tmp_path / "m.onnx"
    twinnet.export_onnx(decoder(0), path, via="ir", external_data_threshold=0)
    first = files.external_files(path)
    twinnet.export_onnx(decoder(0), path, via="ir", external_data_threshold=0)
    assert files.external_files(path) == first  # same weights, same content-addressed name
    twinnet.export_onnx(decoder(1), path, via="ir", external_data_threshold=0)
    second = files.external_files(path)
    assert second != first and sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.onnx", *second])
    twinnet.export_onnx(decoder(1), path, via="ir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_missing_data_file_is_a_clear_onnxruntime_error(tmp_path):
    path = twinnet.export_onnx(decoder(), tmp_path / "m.onnx", via="ir", external_data_threshold=0)
    (tmp_path / files.external_files(path)[0]).unlink()
    with pytest.raises(Exception, match=r"m\.[0-9a-f]{16}\.onnx\.data"):
        _run(path, _ids(1))


def test_a_bad_threshold_is_refused(tmp_path):
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(twinnet.ConfigError, match="external_data_threshold must be a number of bytes >= 0"):
            twinnet.export_onnx(decoder(), tmp_path / "m.onnx", via="ir", external_data_threshold=bad)
    assert not list(tmp_path.iterdir())
