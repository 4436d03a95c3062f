"""from_onnx on the files twinnet writes, refusals, hostile files, and the no-transpose guarantee.

Round trip: IR model -> export_onnx(via torch) -> from_onnx -> the import must
compute what onnxruntime computes on the original file (two batch sizes, two
sequence lengths where the length is symbolic) and pass ``verify`` (Keras,
torch and both of its own ONNX exports agree).
"""

from __future__ import annotations

import importlib
import re

import numpy as np
import onnx
import pytest
from gaps import known_gap
from onnx import TensorProto
from onnx import helper as h
from onnx_check import assert_matches_onnxruntime, make, rand

from twinnet import ir
from twinnet.backends import emit, from_onnx
from twinnet.exporters import export_onnx, verify
from twinnet.ir import layers as L


def _example(module: str, fn: str = "build"):
    return lambda: getattr(importlib.import_module(f"examples.{module}"), fn)()


def _cnn():
    x = ir.Input((3, 9, 10), layout="NCHW", name="x")
    y = L.Conv2D(4, 3, padding="same", strides=2)(x)
    y = L.Activation("gelu")(L.BatchNorm(epsilon=1e-5)(y))
    y = L.GlobalAvgPool2D()(L.AvgPool2D(2, padding="same")(y))
    y = L.Dense(3, activation="softmax")(L.LayerNorm()(y))
    return ir.Model(x, y, name="cnn").randomize(0)


def _branches():
    x = ir.Input((3, 9, 10), layout="NCHW", name="x")
    a = L.MaxPool2D(2, padding="same")(L.BatchNorm()(x))  # BatchNorm on the input: not folded into a conv
    a = L.Dense(5)(a)
    b = L.MaxPool2D(2, padding="same")(L.Conv2D(5, 1, activation="relu")(x))
    y = L.Concatenate()([a, b])
    y = L.Dense(3)(L.Flatten()(L.Add()([y, y])))
    return ir.Model(x, y, name="branches").randomize(0)


def _merges():
    x = ir.Input((3, 9, 10), layout="NCHW", name="x")
    a = L.Conv2D(4, 3, padding=((2, 2), (1, 3)), dilation_rate=2, use_bias=False)(x)
    b = L.Conv2D(4, 3, padding="same")(x)
    c = L.Conv2D(4, 1)(x)
    y = L.Maximum()([L.Multiply()([L.Subtract()([L.Average()([a, b, c]), c]), a]), b])
    y = L.GlobalMaxPool2D(keepdims=True)(L.Activation("gelu", approximate=True)(y))
    return ir.Model(x, y, name="merges").randomize(0)


def _conv1d():
    x = ir.Input((4, 11), layout="NCW", name="x")
    y = L.Conv1D(6, 3, padding="causal", dilation_rate=2)(x)  # no groups: onnx-keras-grouped-conv
    y = L.AvgPool1D(2)(L.MaxPool1D(3, strides=2, padding="same")(y))
    y = L.GlobalAvgPool1D()(L.Conv1D(4, 2, strides=2, padding="same")(y))
    return ir.Model(x, y, name="conv1d").randomize(0)


def _recurrent_tnc():
    x = ir.Input((None, 4), layout="TNC", name="x")
    y = L.Bidirectional(L.LSTM(3))(L.GRU(5, return_sequences=True)(x))
    return ir.Model(x, y, name="recurrent_tnc").randomize(0)


def _recurrent_ntc():
    x = ir.Input((None, 4), layout="NTC", name="x")
    y = L.Bidirectional(L.GRU(3, return_sequences=True))(x)
    y = L.Activation("gelu", approximate=True)(L.Activation("hard_swish")(L.Activation("silu")(y)))
    return ir.Model(x, y, name="recurrent_ntc").randomize(0)


def _tokens():
    x = ir.Input((7,), dtype="int32", name="tokens")
    y = L.SimpleRNN(3, return_sequences=True)(L.Embedding(20, 4)(x))
    y = L.GlobalMaxPool1D()(L.Conv1D(2, 3)(y))
    return ir.Model(x, y, name="tokens").randomize(0)


def _activations():
    y = x = ir.Input((6,), name="x")
    for name, kw in [
        ("gelu", {}),
        ("silu", {}),
        ("hard_sigmoid", {}),
        ("leaky_relu", {}),
        ("log_softmax", {}),
        ("softplus", {}),
        ("selu", {}),
        ("elu", {"alpha": 0.5}),
        ("hard_swish", {}),
        ("tanh", {}),
    ]:
        y = L.Activation(name, **kw)(y)
    return ir.Model(x, y, name="activations")


def _decoder():
    """Keras's 'same' transposed conv is torch's full result then a Slice; nearest upsampling a GatherND."""
    x = ir.Input((3, 9, 10), layout="NCHW", name="x")
    y = L.Conv2DTranspose(4, 3, strides=2, padding="same")(L.ZeroPadding2D(((1, 2), (0, 3)))(x))
    y = L.GroupNorm(groups=2, epsilon=1e-5)(L.ReLU(max_value=6)(y))
    y = L.UpSampling2D((2, 1))(L.Cropping2D(((1, 0), (2, 1)))(y))
    y = L.Conv2DTranspose(2, 4, strides=2, padding="same")(L.UpSampling2D(2, interpolation="bilinear")(y))
    return ir.Model(
        x, L.Conv2DTranspose(2, (3, 2), strides=(2, 3), output_padding=(1, 0))(y), name="decoder"
    ).randomize(0)


def _decoder_1d():
    x = ir.Input((3, 11), layout="NCW", name="x")
    y = L.Conv1DTranspose(4, 3, strides=2, padding="same")(L.ZeroPadding1D((2, 1))(x))
    y = L.UpSampling1D(3)(L.Cropping1D((1, 2))(L.ReLU(max_value=3.5)(L.GroupNorm(groups=4, epsilon=1e-5)(y))))
    y = L.Conv1DTranspose(3, 2, dilation_rate=2)(y)
    return ir.Model(x, L.Conv1DTranspose(2, 3, strides=3, output_padding=2)(y), name="decoder_1d").randomize(0)


def _volume():
    x = ir.Input((2, 4, 5, 6), layout="NCDHW", name="x")
    y = L.Conv3D(3, 3, padding="same")(x)
    return ir.Model(x, L.Conv3D(2, (1, 2, 3), strides=(1, 2, 2), use_bias=False)(y), name="volume").randomize(0)


def _spelled_otherwise():
    """Layers the importer makes of other IR kinds (SPELLED_OTHERWISE)."""
    x = ir.Input((3, 9, 10), layout="NCHW", name="x")
    y = L.Normalization(mean=(1.0, 2.0, 3.0), variance=(4.0, 5.0, 6.0))(L.Rescaling(1 / 255, 0.5)(x))
    y = L.SeparableConv2D(4, 3, depth_multiplier=2)(L.DepthwiseConv2D(3, depth_multiplier=2)(y))
    return ir.Model(x, y, name="spelled_otherwise").randomize(0)


def _spelled_otherwise_1d():
    x = ir.Input((3, 11), layout="NCW", name="x")
    y = L.SeparableConv1D(4, 3, padding="same")(L.DepthwiseConv1D(3, depth_multiplier=2)(x))
    return ir.Model(x, y, name="spelled_otherwise_1d").randomize(0)


def _slice_dot():
    """Attention-style scores of two feature halves, and a product over time: Slice and Dot round trip."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    q, k = L.Slice("C", 0, 3)(x), L.Slice("C", 3)(x)
    s = L.Activation("softmax")(L.Dot(axes="C")([q, k]))
    return ir.Model(x, L.Dot(axes=(1, 1))([s, L.Slice("T", 0, 5)(k)]), name="slice_dot")


MODELS = {
    "mnist_convnet": _example("mnist_convnet"),
    "vgg_block": _example("vgg_block"),
    "fasttext": _example("fasttext_sentiment"),
    "lstm_sentiment": _example("lstm_sentiment"),
    "lstm_sentiment_tn": _example("lstm_sentiment", "build_sequence_first"),
    "cnn": _cnn,
    "branches": _branches,
    "merges": _merges,
    "conv1d": _conv1d,
    "recurrent_tnc": _recurrent_tnc,
    "recurrent_ntc": _recurrent_ntc,
    "tokens": _tokens,
    "activations": _activations,
    "decoder": _decoder,
    "decoder_1d": _decoder_1d,
    "volume": _volume,
    "slice_dot": _slice_dot,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torch_export_imports(name, tmp_path):
    original = MODELS[name]()
    path = export_onnx(original, tmp_path / f"{name}.onnx", via="torch")
    model = from_onnx(path)
    assert [t.layout for t in model.inputs] == [t.layout for t in original.inputs]  # the file's contract
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()


@pytest.mark.parametrize("name", ["cnn", "recurrent_tnc", "branches"])
def test_no_transposes_inside(name, tmp_path):
    """A channels-first / sequence-first file compiles to a torch module with no transpose at all."""
    model = from_onnx(export_onnx(MODELS[name](), tmp_path / "m.onnx", via="torch"))
    source = emit(model, "torch")
    assert not re.search(r"\.permute\(|\.transpose\(|movedim", source), source


def test_nhwc_file_transposes_only_at_its_input(tmp_path):
    model = from_onnx(export_onnx(MODELS["mnist_convnet"](), tmp_path / "m.onnx", via="torch"))
    assert model.inputs[0].layout == "NHWC"
    hits = re.findall(r"^.*\.permute\(.*$", emit(model, "torch"), re.M)
    assert len(hits) == 1 and "image.permute(0, 3, 1, 2)" in hits[0], hits


@pytest.mark.parametrize(
    "build, kinds",
    [
        (_spelled_otherwise, ["BatchNorm", "BatchNorm", "BatchNorm", "Conv2D", "Conv2D", "Conv2D"]),
        (_spelled_otherwise_1d, ["Conv1D", "Conv1D", "Conv1D"]),
    ],
)
def test_spelled_otherwise_imports_as_described(build, kinds, tmp_path):
    """Depthwise/separable convs come back as grouped + 1x1 Convs, Rescaling/Normalization as BatchNorms
    (onnx/ops.py, SPELLED_OTHERWISE). Verified on every path: a Conv with one group per channel goes to Keras as
    DepthwiseConv, which tf2onnx exports."""
    path = export_onnx(build(), tmp_path / "m.onnx", via="torch")
    model = from_onnx(path, rewrites=False)  # as read; the depthwise rewrite then makes them DepthwiseConv again
    assert sorted(node.layer.kind for node in model.layers) == kinds
    assert [node.layer.groups for node in model.layers if "Conv" in node.layer.kind][:1] == [3]
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()


def _keras_cnn():
    x = ir.Input((9, 10, 3), name="x")
    y = L.MaxPool2D(2)(L.Conv2D(4, 3, activation="relu", padding="same")(x))
    y = L.Dense(3)(L.Flatten()(L.BatchNorm()(y)))
    return ir.Model(x, y, name="keras_cnn").randomize(0)


def _keras_spatial():
    x = ir.Input((9, 10, 3), name="x")
    y = L.Conv2D(4, 3, padding="same")(x)
    y = L.Cropping2D(((1, 2), (0, 3)))(L.ZeroPadding2D(((1, 2), (0, 3)))(y))
    y = L.Conv2DTranspose(3, 3, strides=2, padding="same")(L.ReLU(max_value=6)(y))
    y = L.Conv2D(2, 1)(L.UpSampling2D(2, interpolation="bilinear")(y))
    return ir.Model(x, y, name="keras_spatial").randomize(0)


def _keras_lstm():
    x = ir.Input((None, 4), name="x")
    return ir.Model(x, L.LSTM(3, return_sequences=True)(x), name="keras_lstm").randomize(0)


def _keras_gru():
    x = ir.Input((None, 4), name="x")
    return ir.Model(x, L.GRU(3)(x), name="keras_gru").randomize(0)


@pytest.mark.parametrize(
    "build",
    [_keras_cnn, _keras_spatial, _keras_lstm, pytest.param(_keras_gru, marks=known_gap("onnx-import-tf2onnx-loop"))],
)
def test_keras_export_imports(build, tmp_path):
    """tf2onnx files are NHWC with Transposes around each conv: they become Permutes, which compute nothing."""
    original = build()
    path = export_onnx(original, tmp_path / "k.onnx", via="keras")
    model = from_onnx(path)
    assert_matches_onnxruntime(path, model)
    if build is _keras_cnn:  # the Transpose pair around the conv stack costs torch one transpose, at the input
        hits = re.findall(r"^.*\.permute\(.*$", emit(model, "torch"), re.M)
        assert len(hits) == 1 and "x.permute(0, 3, 1, 2)" in hits[0], hits


# -- refusals ----------------------------------------------------------------------------------


def test_unsupported_ops_are_all_listed_at_once():
    nodes = [
        h.make_node("Relu", ["x"], ["r"], name="ok_relu"),
        h.make_node("TopK", ["r", "k"], ["values", "indices"], name="top_k", axis=1),
        h.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"], name="nms"),
        h.make_node("Sub", ["bias", "values"], ["y"], name="const_minus_x"),
    ]
    proto = make(
        nodes,
        {"x": ["N", 6], "boxes": [1, 5, 4], "scores": [1, 1, 5]},
        {"k": np.array([2], np.int64), "bias": rand(3, 2)},  # a stored operand that varies along the batch
        outputs=("y", "selected"),
    )
    with pytest.raises(ir.UnsupportedError) as info:
        from_onnx(proto)
    found = {(p.where, p.what) for p in info.value.problems}
    assert found == {("top_k", "TopK"), ("nms", "NonMaxSuppression"), ("const_minus_x", "Sub")}
    message = str(info.value)
    assert "no model was made" in message and "the batch axis" in message and "NonMaxSuppression" in message


def test_refusal_names_a_layer_the_ir_lacks():
    """A rank-6 input gets free letters (the op tier's); a 4-D convolution of it has no IR layer."""
    proto = make(
        [h.make_node("Conv", ["x", "w"], ["y"], name="conv4d")],
        {"x": ["N", 2, 3, 4, 5, 6]},
        {"w": rand(2, 2, 1, 1, 1, 1)},
    )
    with pytest.raises(ir.UnsupportedError, match=r"'conv4d' \(Conv\): 4-D convolution: the IR has Conv1D"):
        from_onnx(proto)


# -- hostile and broken files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    return export_onnx(_conv1d(), tmp_path_factory.mktemp("good") / "good.onnx", via="torch")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_malformed_file_is_a_schema_error(damage, good_file, tmp_path):
    data = good_file.read_bytes()
    bad = {"truncated": data[: len(data) // 2], "garbage": b"\x08\xff\xff\xff not onnx", "empty": b""}[damage]
    path = tmp_path / "bad.onnx"
    path.write_bytes(bad)
    with pytest.raises(ir.SchemaError):
        from_onnx(path)


def test_damaged_bytes_never_escape_as_a_framework_error(good_file):
    """Flipped bytes anywhere in a real file: a model or an ir.IRError, never a protobuf/numpy traceback."""
    data = good_file.read_bytes()
    rng = np.random.default_rng(0)
    for _ in range(150):
        damaged = bytearray(data)
        for i in rng.integers(0, len(data), size=3):
            damaged[i] = int(rng.integers(0, 256))
        try:
            from_onnx(bytes(damaged))
        except ir.IRError:
            pass


def test_missing_file_and_invalid_graph(tmp_path):
    with pytest.raises(ir.SchemaError, match="no ONNX file"):
        from_onnx(tmp_path / "absent.onnx")
    dangling = h.make_model(
        h.make_graph(
            [h.make_node("Relu", ["nowhere"], ["y"])], "g", [], [h.make_tensor_value_info("y", TensorProto.FLOAT, [1])]
        )
    )
    with pytest.raises(ir.SchemaError, match="invalid ONNX model"):
        from_onnx(dangling.SerializeToString())


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_must_stay_in_the_model_folder(location, tmp_path):
    (tmp_path / "outside.bin").write_bytes(np.zeros(6, np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    proto = make([h.make_node("MatMul", ["x", "w"], ["y"])], {"x": ["N", 2]}, {"w": rand(2, 3)})
    weight = proto.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    (folder / "m.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(ir.SchemaError, match="external data"):
        from_onnx(folder / "m.onnx")


def test_external_data_inside_the_folder_loads(tmp_path):
    w = rand(2, 3)
    proto = make([h.make_node("MatMul", ["x", "w"], ["y"])], {"x": ["N", 2]}, {"w": w})
    onnx.save_model(proto, tmp_path / "m.onnx", save_as_external_data=True, location="m.weights", size_threshold=0)
    model = from_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(model.layer_weights(model.layers[0])["kernel"], w)
