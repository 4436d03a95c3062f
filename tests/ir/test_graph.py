"""The IR itself: layouts, shape inference, naming, initialisation, summary, files."""

import numpy as np

from twinnet import ir
from twinnet.ir import layers as L


def test_layouts_and_symbolic_dims():
    x = ir.Input(shape=(17, 8), layout="TNC")
    assert x.shape == (17, None, 8) and x.layout == "TNC"
    ids = ir.Input(shape=(None,), dtype="int32")
    assert ids.layout == "NT" and ids.shape == (None, None)
    assert L.Embedding(10, 4)(ids).layout == "NTC"
    assert ir.Input((28, 28, 1)).layout == "NHWC"
    assert L.Conv2D(8, 3)(ir.Input((1, 28, 28), layout="NCHW")).shape == (None, 8, 26, 26)
    assert L.Concatenate(axis=-1)([x, x]).shape == (17, None, 16)


def test_keras_style_names_and_sequential():
    m = ir.Sequential(
        [L.Conv2D(2, 3), L.MaxPool2D(), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)], input=ir.Input((12, 12, 1))
    )
    assert [n.name for n in m.layers] == ["conv2d", "max_pool2d", "conv2d_1", "flatten", "dense"]


def test_initialisation_is_deterministic_and_keras_like():
    def build():
        x = ir.Input((6, 4))
        return ir.Model(x, L.Dense(3)(L.LSTM(5)(x))).initialize(seed=7)

    a, b = build(), build()
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    lstm_bias = a.weights["lstm/bias"]
    assert np.array_equal(lstm_bias[5:10], np.ones(5)) and not lstm_bias[:5].any()  # unit forget bias
    r = a.weights["lstm/recurrent_kernel"]  # orthogonal: rows orthonormal
    assert np.allclose(r @ r.T, np.eye(5), atol=1e-5)
    k = a.weights["dense/kernel"]
    assert np.abs(k).max() <= np.sqrt(6 / (5 + 3)) and not a.weights["dense/bias"].any()
    c = build().initialize(seed=8)
    assert not np.array_equal(a.weights["dense/kernel"], c.weights["dense/kernel"])


def test_summary_counts():
    m = ir.Sequential([L.Conv2D(32, 3), L.Flatten(), L.Dense(10)], input=ir.Input((28, 28, 1)), name="net")
    text = m.summary(print_fn=None)
    assert "conv2d (Conv2D)" in text and "(?, 26, 26, 32)" in text and "NHWC" in text
    assert m.count_params() == 320 + 26 * 26 * 32 * 10 + 10
    assert f"Total params: {m.count_params():,}" in text


def test_save_load_both_forms_and_determinism(tmp_path):
    x = ir.Input((7,), dtype="int32", name="ids")
    m = ir.Model(x, L.Dense(1)(L.Bidirectional(L.GRU(3, reset_after=False))(L.Embedding(11, 4)(x))), name="t")
    m.initialize(3)
    for name in ("m.json", "m.safetensors"):
        p = ir.save(m, tmp_path / name)
        again = ir.load(p)
        assert ir.to_dict(again) == ir.to_dict(m)
        assert all(np.array_equal(again.weights[k], v) for k, v in m.weights.items())
        first = p.read_bytes()
        ir.save(m, p)
        assert p.read_bytes() == first  # saving twice gives identical files
    # the .json form keeps exactly one weights file beside it across re-saves
    m.initialize(4)
    ir.save(m, tmp_path / "m.json")
    assert len(list(tmp_path.glob("m.*.safetensors"))) == 1


def test_safetensors_interop(tmp_path):
    from safetensors.numpy import load_file

    m = ir.Sequential([L.Dense(2)], input=ir.Input((3,))).initialize(0)
    p = ir.save(m, tmp_path / "m.safetensors")
    assert np.array_equal(load_file(str(p))["dense/kernel"], m.weights["dense/kernel"])
