"""Importing ``keras.ops`` calls of a functional graph as IR ops, layers the IR expresses with ops, and the
custom layers of ``keras.applications``; and the op round trip ``from_keras(to_keras(m))``.

Every model is a real Keras model with randomised weights, compared to the
Keras model through Keras and torch at two batch sizes (``check_import`` of
test_import.py).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402
from keras import ops as kops  # noqa: E402
from keras.src.applications.convnext import LayerScale, StochasticDepth  # noqa: E402
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer  # noqa: E402
from siblings import sibling  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.backends import from_keras, to_keras  # noqa: E402
from twinnet.backends.importers.keras.layers import KERAS_TABLE, LAYER_TABLE  # noqa: E402
from twinnet.ir import layers as L  # noqa: E402
from twinnet.ir import ops as O  # noqa: E402
from twinnet.ir.structure import structural_diff  # noqa: E402

_keras_import = sibling("backends/importers/keras/test_import.py")
check_import, randomize, MODELS = _keras_import.check_import, _keras_import.randomize, _keras_import.MODELS


def elementwise():
    x, y = keras.Input((5, 4), name="x"), keras.Input((5, 4), name="y")
    pos = kops.abs(x) + 0.5  # a positive tensor for sqrt, log, pow
    outs = [
        kops.sqrt(pos) + kops.rsqrt(pos) + kops.log(pos) + kops.reciprocal(pos) + pos**1.5 + 2.0**x,
        kops.exp(x) - kops.erf(x) * kops.tanh(y) + kops.sigmoid(x) / 3 + kops.sin(x) * kops.cos(y),
        kops.floor(x) + kops.ceil(y) + kops.absolute(x) - kops.negative(y) + kops.square(x) + kops.sign(y),
        kops.relu(x) + kops.relu6(y * 4.0) + kops.silu(x) + kops.gelu(y) + kops.gelu(x, approximate=False),
        kops.elu(x, alpha=0.7) + kops.selu(y) + kops.softplus(x) + kops.hard_sigmoid(y) + kops.hard_silu(x),
        kops.leaky_relu(x, negative_slope=0.1) + kops.maximum(x, y) - kops.minimum(x, 0.2) + 1.0 - x,
        kops.divide(x, pos) + kops.power(pos, y) * 0.1 + kops.floor_divide(x, pos) + kops.trunc(y * 3.0),
        kops.cast(kops.floor_divide(kops.cast(x * 5.0, "int32"), -3), "float32") + kops.floor_divide(2.0, pos),
        kops.where(x > y, x, y) + kops.where(x <= 0.1, 1.0, y) + kops.where(kops.equal(x, y), x, -2.0),
        kops.cast(kops.logical_or(x >= y, kops.less(x, -0.5)), "float32")
        + kops.cast(kops.logical_and(kops.not_equal(x, y), kops.logical_not(x < 0.3)), "float32")
        + kops.cast(kops.logical_xor(x > 0, y > 0), "float32"),
        kops.clip(x, -0.5, 0.7) + kops.cast(kops.cast(y * 3.0, "int32"), "float32"),
        kops.cast(kops.cast(x * 5.0, "int32") * 2 - 1, "float32"),
    ]
    return keras.Model([x, y], outs, name="elementwise")


def reductions():
    x, y = keras.Input((5, 4), name="x"), keras.Input((6, 4), name="y")
    img = keras.Input((3, 5, 6), name="img")
    heads = keras.Input((5, 2, 3), name="heads")  # dot_product_attention's (batch, length, heads, features)
    scores = kops.matmul(x, kops.transpose(y, (0, 2, 1)))  # (N, 5, 6)
    outs = [
        kops.mean(x, axis=1) + kops.sum(x, axis=-2) + kops.var(x, axis=1) * kops.max(x, axis=1),
        kops.min(img, axis=(1, 2), keepdims=True)
        + kops.amax(img, axis=3, keepdims=True)
        - kops.amin(img, axis=1)[:, None],
        kops.softmax(scores, axis=1) + kops.log_softmax(scores, axis=-1),
        # rank 4, the leading axes paired by position (NWHC against a reshape's NHWC)
        kops.matmul(kops.swapaxes(img, 1, 2), kops.reshape(kops.transpose(img, (0, 2, 3, 1)), (-1, 5, 6, 3))),
        kops.layer_normalization(x, epsilon=1e-5) + kops.rms_normalization(x, axis=-1),
        kops.dot_product_attention(heads, heads * 0.5, heads, is_causal=True),
    ]
    return keras.Model([x, y, img, heads], outs, name="reductions")


def shapes():
    x, y = keras.Input((6, 4), name="x"), keras.Input((6, 4), name="y")
    img = keras.Input((3, 4, 2), name="img")
    t = kops.transpose(x, (0, 2, 1))  # (N, 4, 6)
    order = kops.cast(kops.clip(kops.floor(kops.abs(y[:, :3, :1]) * 3.0), 0.0, 5.0), "int32")  # (N, 3, 1)
    outs = [
        t * kops.swapaxes(y, 1, 2) + kops.reshape(x, (-1, 4, 6)),  # letters paired by position
        kops.moveaxis(img, 3, 1) + kops.expand_dims(img[:, :, :, 0], 1),
        kops.squeeze(kops.expand_dims(x, 2), 2) + kops.concatenate([x[:, :, :2], y[:, :, 2:]], axis=2),
        kops.stack([x, y], axis=1),
        x[:, 1:5:2, None][..., 1:] * 2.0 + y[:, -2:, None, 0:3],
        kops.take(x, [3, 0, 0, 5], axis=1) + kops.take(y, [1, 2, 3, 4], axis=1),
        kops.take(x, 2, axis=2) + y[:, :, 1],
        kops.take_along_axis(x, order, axis=1),
        kops.pad(img, [[0, 0], [1, 2], [0, 0], [0, 1]], constant_values=0.5),
        kops.tile(x, [1, 2, 1]) + kops.repeat(x, 2, axis=1) + kops.repeat(x[:, :1], 12, axis=1),
        kops.roll(x, 2, axis=1) - kops.roll(y, -1, axis=2),
        layers.Dense(3, name="dense")(t),  # a layer reads Keras's convention: the transpose is relabelled first
    ]
    return keras.Model([x, y, img], outs, name="shapes")


def layers_as_ops():
    """Standard layers the IR has no kind for but expresses with ops, and the keras.applications custom layers."""
    x, f = keras.Input((5, 4), name="x"), keras.Input((6,), name="f")
    vol = keras.Input((3, 4, 5, 2), name="vol")
    h = layers.PReLU(name="prelu")(x)
    h = layers.PReLU(shared_axes=[1], name="prelu_shared")(h)
    h = layers.UnitNormalization(name="unit")(h)
    h = layers.RMSNormalization(name="rms")(h)
    h = layers.Minimum(name="minimum")([h, layers.Dense(4, name="dense")(x), x])
    h = layers.SpatialDropout1D(0.2, name="sdrop")(layers.GaussianNoise(0.1, name="noise")(h))
    h = layers.GaussianDropout(0.1, name="gdrop")(layers.AlphaDropout(0.1, name="adrop")(h))
    h = layers.ActivityRegularization(l1=0.1, name="reg")(h)
    h = CustomScaleLayer(0.17, name="block_scale")([x, LayerScale(0.1, 4, name="layer_scale")(h)])
    h = StochasticDepth(0.1, name="drop_path")(h)
    r = layers.RepeatVector(3, name="repeat")(f)
    v = layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), name="pad3")(vol)
    v = layers.SpatialDropout3D(0.1, name="sdrop3")(layers.Cropping3D(((1, 0), (0, 2), (1, 1)), name="crop3")(v))
    v = layers.UpSampling3D((2, 1, 3), name="up3")(v)
    g = layers.GlobalAveragePooling3D(name="gap3")(v) + layers.GlobalMaxPooling3D(name="gmp3")(v)
    img = keras.Input((4, 4, 2), name="img")
    s = layers.SpatialDropout2D(0.1, name="sdrop2")(img)
    a = layers.Attention(use_scale=True, name="att")([h, layers.Dense(4, name="values")(r), r[:, :, 2:]])
    a = layers.Attention(dropout=0.1, name="self_att")([a, h])
    return keras.Model([x, f, vol, img], [h, r, g, s, v, a], name="layers_as_ops")


def learned():
    """The op Learned as to_keras writes it: the LearnedConstant chain with a keras.ops.reshape last link."""
    x = keras.Input((5, 4), name="tokens")
    h = layers.Flatten(name="pos_flat")(x)
    h = layers.GlobalMaxPooling1D(name="pos_max")(layers.Reshape((-1, 1), name="pos_column")(h))
    h = layers.Embedding(1, 20, name="pos_table")(layers.Discretization(bin_boundaries=[], name="pos_index")(h))
    return keras.Model(x, x + kops.reshape(h, (-1, 5, 4)), name="learned")


def symbolic_lengths():
    """What to_keras writes for a transformer with a symbolic length: a Permute of (N, T, heads, features) and a
    Reshape of integer ids."""
    x, ids = keras.Input((None, 4, 8), name="x"), keras.Input((None,), dtype="int32", name="ids")
    h = layers.Dense(3, name="dense")(layers.Permute((2, 1, 3), name="heads_first")(x))
    row = layers.Reshape((1, -1), name="ids_row")(ids)
    e = layers.Embedding(20, 3, name="embed")(layers.Reshape((-1,), name="ids_back")(row))
    return keras.Model([x, ids], [h, e], name="symbolic_lengths")


def positions():
    """Position ids as to_keras writes the op Positions (a running count: Keras has no arange of a symbolic
    length), of a rank-3 tensor (its other axis summed away) and of token ids."""
    x, ids = keras.Input((None, 4), name="x"), keras.Input((None,), dtype="int32", name="ids")
    count = kops.cumsum(kops.add(kops.sum(kops.zeros_like(x, dtype="int32"), axis=(2,)), 1), axis=1)
    h = layers.Embedding(20, 4, name="where")(kops.cast(kops.subtract(count, 1), "int64")) + x
    count = kops.cumsum(kops.add(kops.zeros_like(ids, dtype="int32"), 1), axis=1)
    return keras.Model([x, ids], [h, kops.cast(kops.subtract(count, 1), "float32")], name="positions")


OP_MODELS = {
    "elementwise": elementwise,
    "reductions": reductions,
    "shapes": shapes,
    "layers_as_ops": layers_as_ops,
    "learned": learned,
    "symbolic_lengths": symbolic_lengths,
    "positions": positions,
}


@pytest.mark.parametrize("name", list(OP_MODELS))
def test_ops_import_match_keras(name):
    check_import(randomize(OP_MODELS[name](), seed=len(name)))


def test_every_op_entry_is_exercised():
    used = {type(op) for build in OP_MODELS.values() for op in build().operations}
    missing = sorted(cls.__name__ for cls in KERAS_TABLE if cls not in LAYER_TABLE and cls not in used)
    assert not missing, f"no ops import test uses {missing}"


def test_importer_produces_every_op():
    """Every op is imported from Keras (Positions from the running count to_keras writes for it)."""
    from twinnet.ir.ops import OPS

    builds = [*MODELS.values(), *OP_MODELS.values()]
    produced = {node.layer.kind for build in builds for node in from_keras(build()).layers}
    assert sorted(set(OPS) - produced) == []


def test_positions_read_back_as_positions():
    model = from_keras(positions())
    found = [(n.layer.axis, n.layer.letter, n.layer.dtype) for n in model.layers if n.layer.kind == "Positions"]
    assert sorted(found) == [("T", "A", "float32"), ("T", "A", "int64")]
    assert not {"ZerosLike", "Cumsum"} & {n.layer.kind for n in model.layers}


def test_learned_reads_back_as_learned_and_layers_see_keras_order():
    model = from_keras(learned())
    assert [n.layer.kind for n in model.layers] == ["Learned", "Binary"]
    assert model.node("pos").layer.shape == (5, 4)
    shaped = from_keras(shapes())
    assert shaped.node("dense").inputs[0].layout == "NTC"  # relabelled from the transpose's NCT


def test_arithmetic_of_computed_tensors_reads_as_merge_layers():
    """``a + b`` of two computed tensors in one layout is the ``Add`` layer (as torch's and ONNX's importers read
    it); a quotient, which no layer is, stays a ``Binary``."""
    x = keras.Input((5, 4), name="x")
    a, b = layers.Dense(4, name="a")(x), layers.Dense(4, name="b")(x)
    model = check_import(randomize(keras.Model(x, [a + b, a * b[:, :1], kops.maximum(a, b) - a, a / b])))
    kinds = sorted(n.layer.kind for n in model.layers if n.layer.kind not in ("Dense", "Slice", "Narrow"))
    assert kinds == ["Add", "Binary", "Maximum", "Multiply", "Subtract"]


def test_ops_refusals_name_the_call():
    x = keras.Input((5, 4), name="x")
    outs = [kops.mean(x, axis=0), x * np.ones((5, 4), np.float32), kops.cumsum(x, axis=1), x + x[:, 0]]
    with pytest.raises(ir.UnsupportedError) as info:
        from_keras(keras.Model(x, outs))
    reasons = {p.where.split("_")[0]: p.reason for p in info.value.problems}
    assert "batch axis" in reasons["mean"]
    assert "constant array" in reasons["multiply"]
    assert "keras.ops" in reasons["cumsum"]
    assert "ranks 3 and 2" in reasons["add"]


def _round_trip_model():
    x = ir.Input((6, 4), name="x")
    m = ir.Input((6, 4), name="m")
    h = O.Binary("mul", name="scaled")([x, O.Learned((1, 4), "NTC", init="glorot_uniform", name="scale")(x)])
    h = O.Unary("tanh", name="tanh")(O.Binary("sub", scalar=1.0, scalar_first=True, name="flip")(h))
    h = O.Where(y=0.0, name="masked")([O.Binary("gt", name="keep")([m, x]), h])
    h = O.Clip(low=-0.5, name="floor")(O.Clip(-2.0, 2.0, name="clip")(h))
    h = O.Softmax("T", name="soft")(O.Cast("float32", name="same")(h))
    r = O.Reduce("var", "C", keepdims=True, name="spread")(h)
    h = O.Concat("T", name="cat")([O.Narrow("T", 1, 5, name="mid")(h), O.Take("T", (0, 0), name="firsts")(h)])
    h = O.Binary("add", name="plus")([O.Expand("C", (4,), name="wide")(r), O.Roll("T", 2, name="rolled")(x)])
    g = O.Pad("T", ((1, 1),), 0.5, name="padded")(O.Tile("C", (2,), name="tiled")(h))
    v = O.View((4, 6), "NTC", name="view")(x)
    p = O.MatMul(name="mm")([v, x])
    w = O.Unary("tanh", name="per_window")(O.View((2, 4), "NTC", merge=3, name="windows")(x))  # across the batch
    w = O.View((6, 4), "NTC", split=3, name="unwindows")(w)
    return ir.Model([x, m], [g, p, w], name="round_trip")


def test_ops_round_trip_through_keras():
    """from_keras(to_keras(m)) gives back m's ops (Keras names them anew), with m's numbers."""
    model = _round_trip_model()
    model = model.initialize(0) or model
    back = from_keras(to_keras(model))
    # a Binary add of two computed tensors in one layout reads back as the Add layer, 1 - x as the Rescaling
    # it is (scalar_rescaling) and keras.ops.tanh as the Activation (plain_activation), as from torch and ONNX
    read_as = {"plus": "Add", "flip": "Rescaling", "tanh": "Activation", "per_window": "Activation"}
    kinds = [read_as.get(n.name, n.layer.kind) for n in model.layers]
    assert sorted(n.layer.kind for n in back.layers) == sorted(kinds)
    assert back.node("scale").layer.kind == "Learned"
    views = [n.layer for n in back.layers if n.layer.kind == "View"]
    assert {(v.merge, v.split) for v in views} >= {(3, 1), (1, 3)}
    # (1, 4) NTC read without its size-1 T (unit_learned: x holds T, and the IR broadcasts by letter)
    assert (back.node("scale").layer.layout, back.node("scale").layer.shape) == ("NC", (4,))
    np.testing.assert_array_equal(back.weights["scale/value"], model.weights["scale/value"].reshape(4))
    check_import(to_keras(model))


@pytest.mark.parametrize("causal, groups", [(False, 4), (True, 2)])
def test_attention_steps_read_back_as_one_op(causal, groups):
    """to_keras writes ScaledDotProductAttention as keras.ops steps (grouped-query heads repeated, the causal
    mask from running counts); from_keras reads them back as the one op, with the same numbers."""
    q, k, v = ir.Input((4, None, 8), name="q"), ir.Input((groups, None, 8), name="k"), ir.Input((groups, None, 6))
    out = O.ScaledDotProductAttention(causal=causal, scale=0.3, name="att")(q, k, v)
    model = ir.Model([q, k, v], O.Unary("tanh", name="after")(out), name="attention")
    back = from_keras(to_keras(model))
    found = [n.layer for n in back.layers if n.layer.kind == "ScaledDotProductAttention"]
    assert [(a.causal, a.scale) for a in found] == [(causal, 0.3)]
    assert not {"Softmax", "MatMul", "Where"} & {n.layer.kind for n in back.layers}
    check_import(to_keras(model))


@pytest.mark.parametrize("dtype, causal", [("float32", False), ("bool", True)])
def test_masked_attention_steps_read_back_as_one_op(dtype, causal):
    """A masked attention (Swin's relative position bias is a float mask) is written as the same steps with
    ``add(scores, mask)`` (float) or ``where(mask, scores, lowest)`` (bool) before the softmax; from_keras reads
    them back as the one op with its mask input (lettered as the scores), not as the products and the sum."""
    q = ir.Input((2, 5, 8), layout="NATE", name="q")
    k, v = ir.Input((2, 7, 8), layout="NASE", name="k"), ir.Input((2, 7, 6), layout="NASF", name="v")
    bias = mask = ir.Input((2, 5, 7), layout="NATS", name="bias")
    if dtype == "bool":
        mask = O.Binary("gt", scalar=0.0, name="keep")(bias)
    out = O.ScaledDotProductAttention(causal=causal, scale=0.3, name="att")(q, k, v, mask)
    model = ir.Model([q, k, v, bias], out, name="masked_attention")
    back = from_keras(to_keras(model))
    found = [n for n in back.layers if n.layer.kind == "ScaledDotProductAttention"]
    assert [(n.layer.causal, n.layer.scale, len(n.inputs)) for n in found] == [(causal, 0.3, 4)]
    assert found[0].inputs[3].dtype == dtype
    assert not {"Softmax", "MatMul", "Where", "Add"} & {n.layer.kind for n in back.layers}
    assert [n.layer.fn for n in back.layers if n.layer.kind == "Binary"] == (["gt"] if dtype == "bool" else [])
    check_import(to_keras(model))


def test_embedding_of_computed_rank_3_ids():
    """Integer ids an op computes with two axes past the batch (T5's relative position buckets) are named ``NHW``
    for the Embedding reading them, its vectors ``NHWC`` (Keras's convention for rank 4), where ``NTC``, the
    rank-3 convention, would give the ids a channel axis the Embedding refuses."""
    ids = keras.Input((4,), dtype="int32", name="ids")
    far = kops.abs(kops.expand_dims(ids, 1) - kops.expand_dims(ids, 2))  # (N, 4, 4)
    h = layers.Embedding(10, 3, name="buckets")(kops.minimum(far, 9))
    model = check_import(randomize(keras.Model(ids, layers.Dense(2, name="out")(h), name="buckets")))
    embedding = model.node("buckets")
    assert embedding.inputs[0].layout == "NHW" and embedding.spec.layout == "NHWC"


def test_a_bound_given_as_a_number_reads_as_clip():
    """``keras.ops.minimum`` or ``maximum`` with a number is a ``Clip`` with that one bound, as from_torch reads
    ``torch.clamp``: an integer ``Clip`` with one bound, which to_keras writes so (Keras has no infinite integer
    bound for ``keras.ops.clip``), reads back as the ``Clip`` it was (T5's capped relative position buckets)."""
    ids = ir.Input((6,), dtype="int64", name="ids")
    capped = O.Clip(low=1.0, name="floor")(O.Clip(high=4.0, name="cap")(ids))
    model = ir.Model(ids, L.Embedding(5, 3, name="embed")(capped), name="bounds")
    model = model.initialize(0) or model
    assert not structural_diff(model, from_keras(to_keras(model)), weights=True)
    x = keras.Input((5, 4), name="x")
    back = check_import(randomize(keras.Model(x, [kops.maximum(x, 0.2), kops.minimum(-0.5, x)], name="sides")))
    bounds = [(n.layer.kind, n.layer.low, n.layer.high) for n in back.layers]
    assert bounds == [("Clip", 0.2, None), ("Clip", None, -0.5)]


def test_rank_6_reshape_layer_takes_its_input_letters():
    """A ``keras.layers.Reshape`` to rank 6 (a window partition; Keras has no convention past rank 5) is named
    by its input's letters then free ones, as ``keras.ops.reshape`` and ``from_torch`` name it, where it was
    refused for want of a default layout (``to_keras`` writes MaxViT's partitions so)."""
    x = keras.Input((4, 4, 3), name="x")
    w = layers.Permute((1, 3, 2, 4, 5), name="windows")(layers.Reshape((2, 2, 2, 2, 3), name="split")(x))
    y = layers.Reshape((4, 4, 3), name="merge")(w)
    model = check_import(randomize(keras.Model(x, layers.Dense(2, name="out")(y), name="partition")))
    assert model.node("split").spec.layout == "NHWCAB"
