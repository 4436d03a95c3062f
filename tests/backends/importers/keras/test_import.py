"""Keras 3 -> IR import: Keras -> IR -> Keras and Keras -> IR -> PyTorch give the Keras model's numbers.

Every model here is a real Keras model with every weight randomised (biases and
BatchNorm statistics included, variances positive), so a weight that is
dropped, transposed or left at its initial value shows up as a difference.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from keras import layers  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.backends import (  # noqa: E402
    from_keras,  # noqa: E402
    to_keras,
    to_torch,
)
from twinnet.backends.importers.keras.layers import LAYER_TABLE  # noqa: E402
from twinnet.exporters import verify  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4


def randomize(km, seed=0):
    """Every Keras variable random; BatchNorm variances positive. Returns the model."""
    rng = np.random.RandomState(seed)
    for v in km.weights:
        shape = tuple(v.shape)
        if v.name == "moving_variance":
            value = rng.uniform(0.5, 2.0, size=shape)
        else:
            value = rng.normal(scale=0.5, size=shape)
        v.assign(value.astype(np.float32))
    return km


def example(km, batch, seed=0, seq=6):
    rng = np.random.RandomState(seed)
    xs = []
    for t in km.inputs:
        shape = (batch,) + tuple(seq if s is None else s for s in t.shape[1:])
        if "int" in str(t.dtype):
            xs.append(rng.randint(0, 20, size=shape).astype(str(t.dtype)))
        elif "mask" in t.name:  # an attention key-padding mask: 0/1, key 0 kept (a fully masked row is undefined)
            keep = (rng.uniform(size=shape) < 0.7).astype(np.float32)
            keep[:, 0] = 1.0
            xs.append(keep)
        else:
            xs.append(rng.normal(size=shape).astype(np.float32))
    return xs


def as_list(out):
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def check_import(km) -> ir.Model:
    """Import ``km``; its Keras and torch compilations must reproduce ``km`` at batch 1 and 3."""
    model = from_keras(km)
    assert model.count_params() == km.count_params()
    k2, tm = to_keras(model), to_torch(model)
    worst = {"keras": 0.0, "torch": 0.0}
    for batch in (1, 3):
        xs = example(km, batch, seed=batch)
        ref = as_list(km(xs if len(xs) > 1 else xs[0], training=False))
        via_keras = as_list(k2(xs if len(xs) > 1 else xs[0], training=False))
        with torch.no_grad():
            out = tm(*[torch.from_numpy(x) for x in xs])
        via_torch = [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
        for path, outs in (("keras", via_keras), ("torch", via_torch)):
            assert len(outs) == len(ref)
            for r, o in zip(ref, outs):
                assert o.shape == r.shape, f"{path}: shape {o.shape} vs Keras {r.shape}"
                np.testing.assert_allclose(o, r, atol=ATOL, rtol=RTOL, err_msg=f"Keras -> IR -> {path}")
                worst[path] = max(worst[path], float(np.abs(o.astype(np.float64) - r).max()))
    report = verify(model, paths=("keras", "torch"))
    assert report.ok, "\n" + report.table()
    print(f"{km.name}: max|diff| vs the source Keras model: keras {worst['keras']:.2e}, torch {worst['torch']:.2e}")
    return model


# -- models covering the table ---------------------------------------------------------


def cnn():
    return keras.Sequential(
        [
            keras.Input((12, 11, 3), name="image"),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            layers.BatchNormalization(name="bn1"),
            layers.MaxPooling2D(name="pool1"),
            layers.ZeroPadding2D(((1, 0), (2, 1)), name="pad"),
            layers.Conv2D(6, 3, strides=2, name="conv2"),
            layers.ReLU(name="relu"),
            layers.AveragePooling2D(2, strides=1, padding="same", name="pool2"),
            layers.Dropout(0.3, name="drop"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="cnn",
    )


def residual():
    x = keras.Input((8, 8, 4), name="x")
    y = layers.Conv2D(4, 3, padding="same", name="c1")(x)
    y = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn")(y)
    y = layers.Activation("gelu", name="act")(y)
    y = layers.Conv2D(4, 3, padding="same", dilation_rate=2, groups=2, activation="silu", name="c2")(y)
    s = layers.Add(name="add")([x, y])
    d = layers.Subtract(name="sub")([x, y])
    m = layers.Multiply(name="mul")([s, d])
    a = layers.Average(name="avg")([s, m])
    mx = layers.Maximum(name="max")([a, d])
    z = layers.Concatenate(name="cat")([layers.LeakyReLU(name="leaky")(s), layers.ELU(alpha=0.5, name="elu")(mx)])
    g1 = layers.GlobalAveragePooling2D(name="gap")(z)
    g2 = layers.GlobalMaxPooling2D(keepdims=True, name="gmp")(z)
    g2 = layers.Flatten(name="flat")(g2)
    h = layers.Concatenate(axis=1, name="both")([g1, g2])
    h = layers.Dense(6, activation="leaky_relu", name="hidden")(h)
    h = layers.ReLU(negative_slope=0.1, name="sloped")(h)
    return keras.Model(x, [layers.Softmax(name="probs")(h), layers.Identity(name="features")(g1)], name="residual")


def text():
    ids = keras.Input((9,), dtype="int32", name="ids")
    e = layers.Embedding(20, 8, name="embed")(ids)
    b = layers.Bidirectional(layers.LSTM(6, return_sequences=True), name="bilstm")(e)
    g = layers.GRU(5, reset_after=False, name="gru")(b)
    return keras.Model(ids, layers.Dense(3, activation="sigmoid", name="out")(g), name="text")


def recurrent():
    x = keras.Input((None, 4), name="seq")  # symbolic length
    y = layers.SimpleRNN(5, return_sequences=True, name="rnn1")(x)
    y = layers.Conv1D(6, 3, padding="causal", activation="tanh", name="conv")(y)
    y = layers.ZeroPadding1D((2, 1), name="pad")(y)
    y = layers.Conv1D(5, 3, strides=2, name="strided")(y)
    y = layers.MaxPooling1D(2, name="pool")(y)  # torch needs a known length for strided "same"
    y = layers.Bidirectional(layers.GRU(4), name="bigru")(y)
    z = layers.SimpleRNN(3, activation="relu", name="rnn2")(x)
    w = layers.GlobalAveragePooling1D(name="gap")(layers.AveragePooling1D(2, name="avg")(x))
    v = layers.GlobalMaxPooling1D(name="gmp")(x)
    return keras.Model(x, layers.Concatenate(name="cat")([y, z, w, v]), name="recurrent")


def norms():
    x = keras.Input((5, 6, 3), name="img")
    y = layers.LayerNormalization(name="ln_c")(x)
    y = layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5, name="ln_hwc")(y)
    y = layers.LayerNormalization(axis=[-1, 1], center=False, name="ln_hc")(y)
    y = layers.BatchNormalization(axis=2, scale=False, name="bn_w")(y)
    y = layers.ZeroPadding2D(1, name="pad")(y)
    y = layers.Conv2D(4, 3, use_bias=False, activation="hard_silu", name="conv")(y)
    return keras.Model(x, layers.Flatten(name="flat")(y), name="norms")


def permutes():
    x = keras.Input((6, 4), name="seq")
    y = layers.Permute((2, 1), name="swap")(x)  # (4, 6): Keras now reads 6 as the features
    y = layers.Dense(5, name="dense")(y)  # acts on the old time axis
    y = layers.Reshape((5, 4), name="reshape")(y)
    y = layers.LSTM(3, name="lstm")(y)
    img = keras.Input((4, 5, 3), name="img")
    p = layers.Permute((3, 1, 2), name="chw")(img)  # (3, 4, 5): Keras convolves over 3x4 with 5 channels
    p = layers.Conv2D(2, 2, name="conv")(p)
    p = layers.Reshape((-1,), name="flat")(p)
    return keras.Model([x, img], [y, p, layers.Permute((2, 1), name="swap_out")(x)], name="permutes")


def activations():
    x = keras.Input((5,), name="x")
    y = layers.Dense(6, activation="elu", name="d1")(x)
    for name in ("selu", "softplus", "hard_sigmoid", "sigmoid", "tanh", "relu", "linear"):
        y = layers.Activation(name, name=f"act_{name}")(y)
    y = layers.Dense(4, activation="swish", name="d2")(y)
    return keras.Model(x, layers.Activation("log_softmax", name="log_probs")(y), name="activations")


def nested():
    """A Sequential inside a functional model: its layers are inlined."""
    trunk = keras.Sequential(
        [
            keras.Input((7, 3)),
            layers.Conv1D(4, 3, activation="relu", name="conv"),
            layers.GlobalMaxPooling1D(name="pool"),
        ],
        name="trunk",
    )
    x = keras.Input((7, 3), name="x")
    h = trunk(x, training=False)
    return keras.Model(x, layers.Dense(2, name="head")(h), name="nested")


def conv_variants():
    img = keras.Input((9, 10, 3), name="image")
    y = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu", name="dw")(img)
    y = layers.SeparableConv2D(5, 3, padding="same", dilation_rate=2, depth_multiplier=2, name="sep")(y)
    y = layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1, name="up")(y)
    y = layers.Conv2DTranspose(3, 4, strides=2, use_bias=False, activation="sigmoid", name="up_valid")(y)
    vol = keras.Input((4, 5, 6, 2), name="volume")
    v = layers.Conv3D(3, (2, 3, 3), strides=2, padding="same", activation="tanh", name="c3")(vol)
    sig = keras.Input((11, 3), name="signal")
    s = layers.DepthwiseConv1D(3, depth_multiplier=2, name="dw1")(sig)
    s = layers.SeparableConv1D(4, 3, strides=2, padding="same", name="sep1")(s)
    s = layers.Conv1DTranspose(3, 3, strides=2, padding="same", name="up1")(s)
    return keras.Model([img, vol, sig], [y, v, s], name="conv_variants")


def spatial():
    """Padding (folded and not), cropping, upsampling, ReLU options, rescaling, normalisation, GroupNorm."""
    x = keras.Input((7, 8, 3), name="img")
    y = layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(x)
    y = layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 1.5, 2.0], name="normalize")(y)
    y = layers.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(y)  # not before a conv: a layer of its own
    y = layers.MaxPooling2D(2, strides=1, name="pool")(y)
    y = layers.Cropping2D(((1, 0), (2, 1)), name="crop")(y)
    y = layers.UpSampling2D((2, 3), name="up")(y)
    y = layers.ZeroPadding2D(1, name="conv_pad")(y)  # folded into the conv below
    y = layers.Conv2D(6, 3, name="conv")(y)
    y = layers.GroupNormalization(3, epsilon=1e-4, name="gn")(y)
    y = layers.ReLU(max_value=6.0, name="relu6")(y)
    y = layers.UpSampling2D(2, interpolation="bilinear", name="bilinear")(y)
    y = layers.Rescaling([0.5, 2.0, 1.0, -1.0, 0.3, 1.5], name="per_channel")(y)
    y = layers.ReLU(max_value=1.5, negative_slope=0.2, threshold=0.1, name="relu_all")(y)
    g = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(y)
    s = keras.Input((9, 4), name="seq")
    t = layers.ZeroPadding1D((2, 1), name="pad1")(s)
    t = layers.Cropping1D((1, 3), name="crop1")(t)
    t = layers.UpSampling1D(3, name="up1")(t)
    t = layers.GroupNormalization(2, center=False, name="gn1")(t)
    t = layers.GlobalMaxPooling1D(keepdims=True, name="gmp")(t)
    return keras.Model([x, s], [g, t], name="spatial")


def transformer():
    """A transformer-encoder block (self-attention with a key-padding mask, residual, LayerNorm, Dense FFN),
    a cross-attention block (key and value of their own, value_mask) and a causal self-attention."""
    x = keras.Input((None, 8), name="tokens")
    pad = keras.Input((None,), name="pad_mask")  # 1 = a real token, 0 = padding
    memory, memory_keys = keras.Input((5, 6), name="memory"), keras.Input((5, 4), name="memory_keys")
    memory_mask = keras.Input((5,), name="memory_mask")
    bcast = layers.Reshape((1, -1), name="pad_bcast")(pad)  # (B, 1, S): Keras's attention_mask
    a = layers.MultiHeadAttention(2, 4, name="self_att")(x, x, attention_mask=bcast)
    h = layers.LayerNormalization(epsilon=1e-6, name="ln1")(layers.Add(name="res1")([x, a]))
    f = layers.Dense(16, activation="relu", name="ffn1")(h)
    f = layers.Dense(8, name="ffn2")(f)
    h = layers.LayerNormalization(epsilon=1e-6, name="ln2")(layers.Add(name="res2")([h, f]))
    c = layers.MultiHeadAttention(2, 3, value_dim=2, name="cross_att")(
        h, memory, key=memory_keys, value_mask=memory_mask
    )
    h = layers.LayerNormalization(name="ln3")(layers.Add(name="res3")([h, c]))
    d = layers.MultiHeadAttention(4, 2, dropout=0.1, use_bias=False, name="causal_att")(h, h, use_causal_mask=True)
    return keras.Model([x, pad, memory, memory_keys, memory_mask], layers.Add(name="res4")([h, d]), name="transformer")


def products():
    """Hand-built single-head attention from Dot: scores over features, then a weighted sum over steps."""
    x = keras.Input((5, 4), name="x")
    q, k, v = (layers.Dense(6, name=n)(x) for n in "qkv")
    scores = layers.Softmax(name="probs")(layers.Dot(axes=2, name="scores")([q, k]))
    return keras.Model(x, layers.Dot(axes=(2, 1), name="mix")([scores, v]), name="products")


def class_token():
    """A learned class token as Keras holds one with standard layers (what to_keras makes of an IR LearnedConstant):
    Embedding(1, d) looked up at Discretization's one bucket, 0, for every sample of the reference tensor."""
    x = keras.Input((5, 4), name="tokens")
    h = layers.Flatten(name="cls_flat")(x)
    h = layers.GlobalMaxPooling1D(name="cls_max")(layers.Reshape((-1, 1), name="cls_column")(h))
    h = layers.Embedding(1, 4, name="cls_table")(layers.Discretization(bin_boundaries=[], name="cls_index")(h))
    cls = layers.Reshape((1, 4), name="cls")(h)
    return keras.Model(x, layers.Concatenate(axis=1, name="cat")([cls, x]), name="class_token")


MODELS = {
    "cnn": cnn,
    "conv_variants": conv_variants,
    "residual": residual,
    "text": text,
    "recurrent": recurrent,
    "norms": norms,
    "permutes": permutes,
    "activations": activations,
    "nested": nested,
    "spatial": spatial,
    "transformer": transformer,
    "products": products,
    "class_token": class_token,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_import_matches_keras(name):
    check_import(randomize(MODELS[name](), seed=len(name)))


def test_names_weights_and_layouts_carry_over():
    km = randomize(cnn())
    model = from_keras(km)
    assert model.name == "cnn"
    # the ZeroPadding2D and the ReLU() are folded into conv2 (its pads, and activation="relu", as from torch)
    assert [n.name for n in model.layers] == [layer.name for layer in km.layers if layer.name not in ("pad", "relu")]
    assert model.inputs[0].layout == "NHWC" and model.inputs[0].name == "image"
    assert model.node("conv2").layer.padding == ((1, 0), (2, 1))
    assert model.node("conv2").layer.activation == "relu"
    np.testing.assert_array_equal(model.weights["bn1/moving_variance"], km.get_layer("bn1").moving_variance.numpy())
    text_model = from_keras(text())
    assert text_model.inputs[0].layout == "NT" and text_model.inputs[0].dtype == "int32"
    assert text_model.node("bilstm").layer.layer.kind == "LSTM"


def test_sequential_built_without_input():
    km = keras.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(2)], name="built")
    km.build((None, 3))
    model = check_import(randomize(km))
    assert [n.name for n in model.layers] == [layer.name for layer in km.layers]


def test_every_table_entry_is_exercised():
    def all_layers(km):
        for layer in km.layers:
            yield from all_layers(layer) if isinstance(layer, keras.Model) else [layer]

    used = {type(layer) for build in MODELS.values() for layer in all_layers(build())}
    missing = sorted(cls.__name__ for cls in LAYER_TABLE if cls not in used)  # the others: test_ops.py
    assert not missing, f"no import test uses {missing}"


def test_importer_produces_every_ir_layer():
    """The IR follows Keras, so every IR layer kind has a Keras layer it is imported from."""
    from twinnet.ir.layers import LAYERS
    from twinnet.ir.ops import OPS

    produced = {node.layer.kind for build in MODELS.values() for node in from_keras(build(), rewrites=False).layers}
    missing = sorted(set(LAYERS) - set(OPS) - produced - {"Slice"})  # Keras has no slicing layer (Slice: from_torch)
    assert not missing, f"no Keras import test produces {missing}"


def test_adapted_normalization():
    """An adapted Normalization holds its statistics as Keras weights (mean, variance, count); the IR holds
    them as configuration, so the imported model counts 2C + 1 parameters fewer and computes the same."""
    x = keras.Input((5, 3), name="x")
    norm = layers.Normalization(name="norm")
    norm.adapt(np.random.RandomState(0).normal(2.0, 3.0, size=(40, 5, 3)).astype(np.float32))
    km = keras.Model(x, layers.Normalization(axis=None, invert=True, mean=0.5, variance=4.0, name="back")(norm(x)))
    model = from_keras(km)
    assert km.count_params() == 2 * 3 + 1 and model.count_params() == 0
    np.testing.assert_allclose(model.node("norm").layer.mean, norm.adapt_mean.numpy(), rtol=1e-6)
    xs = example(km, 3)
    ref = np.asarray(km(xs[0]))
    np.testing.assert_allclose(np.asarray(to_keras(model)(xs[0])), ref, atol=ATOL, rtol=RTOL)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(model)(torch.from_numpy(xs[0])).numpy(), ref, atol=ATOL, rtol=RTOL)
