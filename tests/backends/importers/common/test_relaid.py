"""What follows an input declared in another layout (backends/importers/common/relaid.py, and how rebuild.py moves
element-wise ops and unit reshapes with it): each rewrite fires where from_keras reads a model to_keras compiled
from an NCHW ConvNeXt, the rewritten model computes what the original did in torch and in Keras (random weights,
batch 2 and 3), and nothing fires where no input was declared anew; and an Embedding's vectors that only
convolutions read, moved channels first as torch convolves them (``convolved_embedding``), and where they stay."""

from __future__ import annotations

from rewrite_check import kinds, rewritten, same_outputs

from twinnet import ir
from twinnet.backends import to_keras
from twinnet.ir import layers as L
from twinnet.ir import ops as O


def _keras_image():
    """What from_keras reads of an NCHW image to_keras compiled (Keras holds it NHWC): the input in Keras's
    letters, its Permute to NHWC and the relabel naming the result."""
    x = ir.Input((3, 8, 8), layout="NHWC", name="x")  # the data is NCHW; the letters are Keras's guess
    return x, L.Reshape((8, 8, 3))(L.Permute((2, 3, 1))(x))


def layer_scale():
    """A ConvNeXt layer scale as to_keras writes it: a Learned (1, 1, C) NHWC weight times the branch."""
    x, h = _keras_image()
    h = L.Conv2D(6, 3, padding="same")(h)
    scaled = O.Binary("mul")(L.Conv2D(6, 1)(h), O.Learned((1, 1, 6), "NHWC", init="glorot_uniform")(x))
    return ir.Model(x, L.GlobalAvgPool2D()(L.Add()([h, scaled])))


def channel_norm():
    """timm's LayerNorm2d as to_keras writes it: a LayerNorm over C of the NHWC tensor, the Permutes gone."""
    x, h = _keras_image()
    h = L.LayerNorm(epsilon=1e-6)(L.Conv2D(6, 2, strides=2)(h))
    return ir.Model(x, L.GlobalAvgPool2D()(L.Conv2D(4, 1)(h)))


def norm_head():
    """ConvNeXt's head: a global pool kept 4-D, the LayerNorm2d, then the Reshape to (C,) a Dense reads."""
    x, h = _keras_image()
    h = L.LayerNorm(epsilon=1e-6)(L.GlobalAvgPool2D(keepdims=True)(L.Conv2D(6, 3)(h)))
    return ir.Model(x, L.Dense(3)(L.Reshape((6,), layout="NC")(h)))


def test_a_layer_scale_follows_the_input_into_its_declared_layout():
    before, after = rewritten(layer_scale)
    assert "relaid_learned" in after.rewrites and after.inputs[0].layout == "NCHW"
    learned = next(n for n in after.layers if isinstance(n.layer, O.Learned))
    assert "unit_learned" in after.rewrites  # (6, 1, 1) NCHW, then without its size-1 axes (broadcast.py)
    assert (learned.layer.layout, learned.layer.shape) == ("NC", (6,))
    assert "Permute" not in kinds(after)  # the product and the sum follow the new order too
    assert all(n.spec.layout in ("NCHW", "NC") for n in after.layers)
    same_outputs(before, after)


def test_a_channel_layer_norm_comes_back_between_its_permute_pair():
    before, after = rewritten(channel_norm)
    assert "channel_norm_pair" in after.rewrites and after.inputs[0].layout == "NCHW"
    assert kinds(after) == ["Conv2D", "Permute", "LayerNorm", "Permute", "Conv2D", "GlobalAvgPool2D"]
    norm = after.layers[2]
    assert norm.inputs[0].spec.layout == "NHWC" and norm.spec.layout == "NHWC"
    assert after.layers[3].spec.layout == after.layers[4].spec.layout == "NCHW"
    same_outputs(before, after)


def test_a_reshape_reads_a_tensor_whose_unit_axes_moved_as_it_is():
    """Only size-1 axes moved between the NHWC (1, 1, C) and the NCHW (C, 1, 1): the Reshape to (C,) reads the
    LayerNorm's Permute back as it is, with no Permute put back before it."""
    before, after = rewritten(norm_head)
    assert kinds(after) == ["Conv2D", "GlobalAvgPool2D", "Permute", "LayerNorm", "Permute", "Reshape", "Dense"]
    assert after.layers[5].inputs[0].spec.layout == "NCHW"
    same_outputs(before, after)


def test_nothing_moves_where_no_input_is_declared_anew():
    """An NHWC model as from_keras reads a Keras one: the layer scale and the LayerNorm stay as they are."""
    x = ir.Input((8, 8, 3), layout="NHWC", name="x")
    h = L.LayerNorm()(L.Conv2D(6, 3)(x))
    h = O.Binary("mul")(h, O.Learned((1, 1, 6), "NHWC")(x))
    before, after = rewritten(lambda: ir.Model(x, h))
    assert not {"relaid_learned", "channel_norm_pair"} & set(after.rewrites)
    assert kinds(after) == kinds(before)


def mlp_block():
    """timm's or torchvision's ConvNeXt block as to_keras writes it: LayerNorm, Dense, Dense over C of the NHWC
    image, the layer scale, the residual sum."""
    x, h = _keras_image()
    h = L.DepthwiseConv2D(3, padding="same")(h)
    y = L.Dense(3)(L.Dense(8, activation="gelu")(L.LayerNorm(epsilon=1e-6)(h)))
    return ir.Model(x, L.GlobalAvgPool2D()(L.Add()([h, O.Binary("mul")(O.Learned((3,), "NC")(x), y)])))


def test_a_channel_layer_norm_takes_the_dense_layers_after_it_into_its_pair():
    before, after = rewritten(mlp_block)
    assert "channel_norm_pair" in after.rewrites and after.inputs[0].layout == "NCHW"
    # the pair's Permute back and the one to NHWC before the residual cancel (merge_transposes): the layer
    # scale's product and the sum stay channels last, as the residual's other side (shared_permute) is
    assert kinds(after)[:8] == ["DepthwiseConv2D", "Permute", "LayerNorm", "Dense", "Dense", "Learned", "Binary", "Add"]
    assert [n.spec.layout for n in after.layers[2:5]] == ["NHWC"] * 3
    same_outputs(before, after)


def torchvision_block():
    """torchvision's CNBlock as from_torch reads it: an NCHW image, the depthwise conv, the permute to NHWC, the
    LayerNorm and MLP, the permute back, ``layer_scale * x`` and the residual sum (twice, and a head)."""
    x = ir.Input((4, 6, 6), layout="NCHW", name="x")
    h = x
    for _ in range(2):
        y = L.Permute("NHWC")(L.DepthwiseConv2D(3, padding="same")(h))
        y = L.Dense(4)(L.Dense(8, activation="gelu")(L.LayerNorm(epsilon=1e-6)(y)))
        y = O.Binary("mul")(O.Learned((4,), "NC")(x), L.Permute("NCHW")(y))
        h = L.Add()([y, h])
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.GlobalAvgPool2D(keepdims=True)(h))), name="cn_block")


def test_torchvision_convnext_block_round_trips_through_keras():
    """to_keras keeps the data channels-last through the layer scale (the Permute back that only a Learned weight's
    product reads is no transpose), and from_keras gives the block back exactly; both compute what it does."""
    from twinnet.backends import emit, from_keras
    from twinnet.backends.importers.common.rewrites import apply_rewrites
    from twinnet.ir.structure import structural_diff

    m = apply_rewrites(torchvision_block().randomize(seed=5))
    assert emit(m, "keras").count("layers.Permute(") == 1  # the input's, as it arrives
    assert structural_diff(m, from_keras(to_keras(m)), weights=True) == []
    same_outputs(m, from_keras(to_keras(m)))


def _ids(*sizes):
    return ir.Input(sizes, layout="NT" if len(sizes) == 1 else "NHW", dtype="int32", name="ids")


def keras_text_cnn():
    """A text CNN as from_keras reads one (to_keras's of torch's, or Keras's own): Conv1Ds of different widths
    convolve the Embedding's NTC vectors channels last, each pooled over time, concatenated, a Dense."""
    x = _ids(9)
    e = L.Embedding(10, 6)(x)
    pooled = [L.GlobalMaxPool1D()(L.Conv1D(4, k, activation="relu")(e)) for k in (2, 3)]
    return ir.Model(x, L.Dense(3)(L.Concatenate()(pooled)))


def keras_grid_cnn():
    """Grid ids (N, H, W) embedded, a Conv2D channels last, then the Permute to NCHW to_keras writes before
    torch's flatten."""
    x = _ids(3, 5)
    h = L.Conv2D(4, 3, padding="same")(L.Embedding(10, 6)(x))
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.Permute("NCHW")(h))))


def keras_text_cnn_dropout():
    """A Dropout on the Embedding's vectors, then Conv1Ds channels last (a Keras text CNN, or what from_keras
    reads of torch's ``dropout(embed(ids)).permute(0, 2, 1)`` that to_keras compiled)."""
    x = _ids(9)
    e = L.Dropout(0.25)(L.Embedding(10, 6)(x))
    pooled = [L.GlobalMaxPool1D()(L.Conv1D(4, k, activation="relu")(e)) for k in (2, 3)]
    return ir.Model(x, L.Dense(3)(L.Concatenate()(pooled)))


def keras_cnn_lstm():
    """A Conv1D over the Embedding's vectors, pooled, then an LSTM, which reads them features last."""
    x = _ids(9)
    h = L.MaxPool1D(2)(L.Conv1D(4, 3, activation="relu")(L.Embedding(10, 6)(x)))
    return ir.Model(x, L.Dense(3)(L.LSTM(5)(h)))


def test_an_embedding_convolved_channels_last_is_moved_channels_first():
    before, after = rewritten(keras_cnn_lstm)  # the LSTM reads a Permute back to NTC, as torch's reads it
    assert kinds(after)[:6] == ["Embedding", "Permute", "Conv1D", "MaxPool1D", "Permute", "LSTM"]
    assert after.layers[5].inputs[0].spec.layout == "NTC"
    same_outputs(before, after)
    for build, first, lead in (
        (keras_text_cnn, "NCT", ["Embedding"]),
        (keras_grid_cnn, "NCHW", ["Embedding"]),
        (keras_text_cnn_dropout, "NCT", ["Embedding", "Dropout"]),  # the Permute after the Dropout, as torch's
    ):
        before, after = rewritten(build)
        assert after.rewrites.count("convolved_embedding") == 1
        moved = after.layers[len(lead)]
        assert kinds(after)[: len(lead) + 1] == [*lead, "Permute"] and moved.spec.layout == first
        convs = [n for n in after.layers if n.layer.kind.startswith("Conv")]
        assert convs and all(n.inputs[0].spec.layout == n.spec.layout == first for n in convs)
        assert kinds(after).count("Permute") == 1  # the grid's Permute before the Flatten is none now
        same_outputs(before, after)


def embedding_read_by_a_conv_and_a_pool():
    x = _ids(9)
    e = L.Embedding(10, 6)(x)
    return ir.Model(x, L.Concatenate()([L.GlobalMaxPool1D()(L.Conv1D(4, 2)(e)), L.GlobalAvgPool1D()(e)]))


def embedding_read_by_an_lstm():
    x = _ids(9)
    return ir.Model(x, L.LSTM(4)(L.Embedding(10, 6)(x)))


def torch_text_cnn():
    """What from_torch reads of ``conv(embed(ids).permute(0, 2, 1))``: moved already."""
    x = _ids(9)
    return ir.Model(x, L.GlobalMaxPool1D()(L.Conv1D(4, 2)(L.Permute("NCT")(L.Embedding(10, 6)(x)))))


def test_an_embedding_stays_where_not_only_convolutions_read_it():
    for build in (embedding_read_by_a_conv_and_a_pool, embedding_read_by_an_lstm, torch_text_cnn):
        before, after = rewritten(build)
        assert "convolved_embedding" not in after.rewrites
        assert kinds(after) == kinds(before)
