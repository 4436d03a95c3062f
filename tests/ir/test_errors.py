"""Bad input gets an IRError subclass that names the layer and the problem."""

import json

import numpy as np
import pytest

from twinnet import ir
from twinnet.ir import layers as L


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda: L.Conv2D(3, 0), ir.ConfigError, "Conv2D: kernel_size must be >= 1, got 0"),
        (lambda: L.Conv2D(3, (3, 3, 3)), ir.ConfigError, "kernel_size must be an int or 2 ints"),
        (lambda: L.Conv2D(3, 3, padding="full"), ir.ConfigError, "padding must be one of 'valid', 'same'"),
        (lambda: L.Conv2D(4, 3, groups=3), ir.ConfigError, "filters (4) must be divisible by groups (3)"),
        (lambda: L.Dense(0), ir.ConfigError, "Dense: units must be >= 1, got 0"),
        (lambda: L.Dense("10"), ir.ConfigError, "units must be an int, got '10'"),
        (lambda: L.Dense(3, activation="relu7"), ir.ConfigError, "unknown activation 'relu7'"),
        (lambda: L.Activation("relu", axis=1), ir.ConfigError, "activation 'relu' takes no 'axis' parameter"),
        (lambda: L.Dropout(1.0), ir.ConfigError, "rate must be < 1.0"),
        (lambda: L.Dense(3, name="bad name"), ir.ConfigError, "layer name must be an identifier"),
        (lambda: L.BatchNorm(epsilon=0), ir.ConfigError, "epsilon must be > 0.0"),
        (lambda: L.SimpleRNN(3, activation="sigmoid"), ir.ConfigError, "activation must be one of 'tanh', 'relu'"),
        (lambda: L.Bidirectional(L.Dense(3)), ir.ConfigError, "layer must be a SimpleRNN, LSTM or GRU"),
        (lambda: L.Permute((1, 1)), ir.ConfigError, "dims must be a permutation"),
        (lambda: ir.Input((28, 28, 1), layout="NHWx"), ir.LayoutError, "unknown axis letter(s) 'x'"),
        (lambda: ir.Input((28, 28, 1), layout="NHW"), ir.LayoutError, "has 3 axes but the tensor has rank 4"),
        (lambda: ir.Input((28, 28, 1), layout="NHHC"), ir.LayoutError, "repeats an axis letter"),
        (lambda: ir.Input((28, -1)), ir.ShapeError, "shape entries must be positive ints or None"),
        (lambda: ir.Input((None, 8), layout="NCT"), ir.ShapeError, "channel axis C must have a known size"),
    ],
)
def test_construction_errors(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)
    assert isinstance(info.value, ir.IRError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "build,error,message",
    [
        (lambda x: L.Conv2D(4, 3)(L.Flatten()(x)), ir.LayoutError, "expects a rank-4 input with a channel axis C"),
        (lambda x: L.Conv2D(4, 11)(x), ir.ShapeError, "axis 'H' of size 9 is too small for kernel 11"),
        (lambda x: L.LSTM(3)(x), ir.LayoutError, "expects a sequence with axes N, T, C"),
        (lambda x: L.Embedding(10, 3)(x), ir.ConfigError, "expects integer token ids"),
        (lambda x: L.Add()([x, L.Conv2D(4, 3)(x)]), ir.ShapeError, "input shapes differ"),
        (lambda x: L.Add()([x, L.Permute("NCHW")(x)]), ir.LayoutError, "inputs must share one layout"),
        (lambda x: L.Concatenate(axis="N")([x, x]), ir.LayoutError, "cannot concatenate along the batch axis"),
        (lambda x: L.Reshape((7, 7))(x), ir.ShapeError, "cannot reshape 270 elements"),
        (lambda x: L.Dense(3)(x, x), ir.ShapeError, "expects 1 input(s), got 2"),
        (lambda x: L.Activation("softmax", axis="T")(x), ir.LayoutError, "axis 'T' is not in layout 'NHWC'"),
    ],
)
def test_shape_errors_name_the_layer(build, error, message):
    x = ir.Input((9, 10, 3), name="img")
    with pytest.raises(error) as info:
        build(x)
    assert message in str(info.value)
    assert info.value.layer  # names the layer


def test_graph_errors():
    x, z = ir.Input((4,), name="x"), ir.Input((4,), name="z")
    y = L.Add()([x, z])
    with pytest.raises(ir.GraphError, match="not among the model's inputs"):
        ir.Model(x, y)
    with pytest.raises(ir.GraphError, match="two layers are named 'd'"):
        ir.Model(x, L.Dense(2, name="d")(L.Dense(2, name="d")(x)))


def test_weights_errors():
    m = ir.Sequential([L.Dense(2)], input=ir.Input((3,)))
    with pytest.raises(ir.WeightError, match="no weights"):
        ir.save(m, "/tmp/never.safetensors")
    with pytest.raises(ir.WeightError, match=r"weight 'dense/kernel' has shape \(2, 2\), expected \(3, 2\)"):
        m.set_weights({"dense/kernel": np.zeros((2, 2), np.float32), "dense/bias": np.zeros(2, np.float32)})
    with pytest.raises(ir.WeightError, match="missing weight"):
        m.set_weights({"dense/kernel": np.zeros((3, 2), np.float32)})


def _saved(tmp_path):
    m = ir.Sequential([L.Conv2D(2, 3), L.Flatten(), L.Dense(2)], input=ir.Input((5, 5, 1)), name="s").initialize(0)
    return m, ir.save(m, tmp_path / "m.json")


def test_malformed_files(tmp_path):
    m, path = _saved(tmp_path)
    data = json.loads(path.read_text())

    def write(d):
        path.write_text(json.dumps(d))
        return path

    with pytest.raises(ir.SchemaError, match="not valid JSON"):
        path.write_text("{nope")
        ir.load(path)
    bad = json.loads(json.dumps(data))
    bad["layers"][0]["kind"] = "Conv9D"
    with pytest.raises(ir.UnsupportedError, match="unknown layer kind 'Conv9D'"):
        ir.load(write(bad))
    bad = json.loads(json.dumps(data))
    bad["layers"][0]["config"]["filters"] = -2
    with pytest.raises(ir.ConfigError, match="filters must be >= 1"):
        ir.load(write(bad))
    bad = json.loads(json.dumps(data))
    bad["layers"][1]["inputs"] = ["dense"]
    with pytest.raises(ir.SchemaError, match="dangling reference or cycle"):
        ir.load(write(bad))
    bad = json.loads(json.dumps(data))
    bad["format_version"] = 99
    with pytest.raises(ir.FormatVersionError, match="format_version 99"):
        ir.load(write(bad))
    bad = json.loads(json.dumps(data))
    del bad["layers"][0]["config"]["filters"]
    with pytest.raises(ir.SchemaError, match="bad config for Conv2D"):
        ir.load(write(bad))
    bad = json.loads(json.dumps(data))
    bad["weights"]["file"] = "../etc/passwd.safetensors"
    with pytest.raises(ir.SchemaError, match="plain .safetensors name"):
        ir.load(write(bad))
    with pytest.raises(ir.SchemaError, match="no model file"):
        ir.load(tmp_path / "missing.json")


def test_truncated_weights(tmp_path):
    m, path = _saved(tmp_path)
    single = ir.save(m, tmp_path / "one.safetensors")
    blob = single.read_bytes()
    single.write_bytes(blob[:-7])
    with pytest.raises(ir.SchemaError, match="stray bytes|truncated|runs past the end"):
        ir.load(single)
    wfile = tmp_path / json.loads(path.read_text())["weights"]["file"]
    raw = bytearray(wfile.read_bytes())
    raw[-1] ^= 0xFF
    wfile.write_bytes(bytes(raw))
    with pytest.raises(ir.WeightError, match="do not match the sha256"):
        ir.load(path)
