"""The rules of backends/importers/common/moves.py and spellings.py giving one form to Swin's window attention, to
MobileViT's patches and to arithmetic with numbers and activations, whichever importer read them and whichever
module ``to_torch`` wrote (``transpose_last``, ``merge_transposes``, ``regrouped_transpose``, ``plain_add``,
``shared_permute``, ``unit_move``, ``convolved_view``, ``unpermuted_merge``, ``narrow_stop``, ``pool_unpermuted``,
``unit_select``, ``scalar_rescaling``, ``scale_then_shift``, ``plain_activation``, ``image_crop``, ``pad_order``,
``narrow_slice`` of one entry; the others are tested in test_relabel.py): each fires where it is exact, and the
rewritten model computes what the original did in torch and in Keras (random weights, batch 2 and 3); each stays
put where it would not be exact."""

from __future__ import annotations

import pytest
from rewrite_check import checked, fires, kinds, stays

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import ops as O
from twinnet.ir.structure import structural_diff


def _heads(x):
    """Tokens split into heads, ``NTHD`` (a View, as from_torch reads it over windows)."""
    return O.View((5, 2, 3), layout="NCHW")(L.Dense(6)(x))


def scaled_after_the_permute():
    x = ir.Input((5, 4), layout="NTC", name="x")
    q = O.Binary("mul", scalar=0.5)(O.Transpose("NHCW")(_heads(x)))
    return ir.Model(x, L.Dense(3)(O.Transpose("NCHW")(q)))


def permuted_twice():
    x = ir.Input((5, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.Transpose("NCWH")(O.Transpose("NHCW")(_heads(x)))))


def windows_permuted():
    """Two windows of tokens (a View merging the batch), permuted by a Permute layer, a softmax layer after it."""
    x = ir.Input((10, 4), layout="NTC", name="x")
    h = O.View((5, 2, 2), layout="NCHW", merge=2)(x)
    y = L.Activation("softmax", axis="W")(L.Permute("NHCW")(h))
    return ir.Model(x, O.View((10, 4), layout="NTC", split=2)(L.Dense(4)(O.View((5, 4), "NTC")(L.Permute("NCHW")(y)))))


def windows_summed():
    """Two windows' scores (a View merging the batch) plus a bias, summed by an Add layer (how from_keras reads
    ``keras.ops.add``; from_torch reads the op there)."""
    x = ir.Input((10, 4), layout="NTC", name="x")
    h = O.View((5, 4), layout="NTC", merge=2)(x)
    y = L.Add()([L.Dense(4)(h), L.Dense(4)(h)])
    return ir.Model(x, O.View((10, 4), layout="NTC", split=2)(y))


def _summed(op):
    def build():
        """A sum of two computed tensors (or of a tensor and a learned weight) as the op Binary add."""
        x = ir.Input((5, 4), layout="NTC", name="x")
        other = O.Learned((4,), "NC")(x) if op == "learned" else L.Dense(4)(x)
        return ir.Model(x, L.Dense(3)(O.Binary("add")([L.Dense(4)(x), other])))

    build.__name__ = f"summed_{op}"
    return build


def permuted_twice_alike():
    """One tensor moved to channels last twice (to_keras's stem: for the LayerNorm and for the residual)."""
    x = ir.Input((3, 4, 4), layout="NCHW", name="x")
    h = L.Conv2D(3, 1)(x)
    return ir.Model(x, L.Add()([L.LayerNorm()(L.Permute("NHWC")(h)), L.Permute("NHWC")(h)]))


def stepped_to_the_end():
    x = ir.Input((8, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.Narrow("T", 1, 8, step=2)(x)))


def pooled_after_a_permute():
    x = ir.Input((4, 4, 3), layout="NHWC", name="x")
    return ir.Model(x, L.Dense(2)(L.GlobalAvgPool2D()(L.Permute("NCHW")(L.LayerNorm()(x)))))


def selected_by_a_reshape():
    """``qkv[0]`` as from_torch reads it with layers: a one-wide Slice, a Reshape dropping the axis."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = L.Reshape((5, 3, 2), layout="NCDW")(x)
    parts = [L.Reshape((5, 2), layout="NCW")(L.Slice("D", i, i + 1)(h)) for i in range(3)]
    return ir.Model(x, L.Dense(3)(L.Add()(parts)))


def scalar_arithmetic():
    """keras.ops arithmetic with numbers, as from_keras reads it (MobileNetV3's hard sigmoid, 1 - x, -x, x / 4)."""
    x = ir.Input((6, 12), layout="NTC", name="x")
    h = O.Binary("mul", scalar=1 / 6)(L.ReLU(max_value=6.0)(O.Binary("add", scalar=3.0)(L.Dense(4)(x))))
    h = O.Unary("neg")(O.Binary("sub", scalar=1.0, scalar_first=True)(h))
    return ir.Model(x, L.Dense(3)(O.Binary("div", scalar=4.0)(O.Binary("sub", scalar=0.5)(h))))


def plain_activations():
    """Keras's ReLU() after a Dense (a squeeze-and-excitation), keras.ops.sigmoid and tanh."""
    x = ir.Input((6, 12), layout="NTC", name="x")
    h = O.Unary("tanh")(O.Unary("sigmoid")(L.Dense(3)(L.ReLU()(L.Dense(4)(x)))))
    return ir.Model(x, L.ReLU(max_value=6.0)(h))


def scaled_then_shifted():
    """to_torch's x * scale + offset (Keras's Rescaling(1 / 127.5, offset=-1)) as from_torch reads it."""
    x = ir.Input((6, 12), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(L.Rescaling(1.0, -1.0)(L.Rescaling(1 / 127.5)(x))))


def shifted_then_scaled():
    """(x + 1) * 2: not x * 2 + 1, and x * 2 + 2 rounds otherwise."""
    x = ir.Input((6, 12), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(L.Rescaling(2.0)(L.Rescaling(1.0, 1.0)(x))))


def one_patch_unfolded():
    """A move of a size-1 axis as ``to_keras`` writes it (a Reshape), read by a View: the Permute it is, which
    between two Views moves no entry (``unit_move_reshape``), and the Views then cancel (``merge_views``)."""
    x = ir.Input((2, 3), layout="NTC", name="x")
    h = L.Reshape((1, 2, 3), layout="NHWC")(O.View((2, 1, 3), "NHWC")(L.Dense(3)(x)))
    return ir.Model(x, L.Dense(4)(O.View((2, 3), "NTC")(h)))


def one_token_heads():
    """A move of a size-1 axis read by a letter layer (an attention's heads, one token): a Permute of the View."""
    x = ir.Input((1, 8), layout="NTC", name="x")
    h = L.Reshape((2, 1, 4), layout="NHTC")(O.View((1, 2, 4), "NHWC")(L.Dense(8)(x)))
    return ir.Model(x, L.Dense(3)(h))


def _folded(permute: bool, reader=lambda h: L.Conv2D(3, 3, padding="same")(h)):
    """Tokens (NTC) viewed back as a channels-first map, then a convolution, as from_torch reads MobileViT's fold;
    with ``permute``, moved channels last first, as from_keras reads to_keras's."""
    x = ir.Input((4, 6), layout="NTC", name="x")
    h = O.View((6, 2, 2), "NCHW")(L.Dense(6)(x))
    h = reader(L.Permute("NHWC")(h) if permute else h)
    return ir.Model(x, L.GlobalAvgPool2D()(L.Activation("relu")(h)))


def convolved_channels_last():
    return _folded(True)


def densed_channels_last():
    return _folded(True, lambda h: L.Dense(3)(h))


def convolved_channels_moved():
    return _folded(True, lambda h: L.Conv2D(3, 1)(L.Permute("NCHW")(L.Permute("NCWH")(h))))


def test_both_readings_of_a_fold_meet():
    """from_keras's reading of MobileViT's fold (the Permute to channels last) and from_torch's (none) meet."""
    _, keras_side = checked(lambda: _folded(True))
    _, torch_side = checked(lambda: _folded(False))
    assert structural_diff(torch_side, keras_side) == []


def _mbconv(permute: bool, pooled: bool = False):
    """A map viewed back channels first, then MaxViT's MBConv on it: a BatchNorm and a convolution, summed with the
    map (or its average pool and a 1x1 convolution, ``pooled``). With ``permute``, as from_keras reads to_keras's:
    the BatchNorm on the map as it is, a Permute to channels last before each convolution, pooling and the sum."""
    x = ir.Input((4, 6), layout="NTC", name="x")
    h = O.View((6, 2, 2), "NCHW")(L.Dense(6)(x))
    last = L.Permute("NHWC") if permute else (lambda t: t)
    y = L.Conv2D(6, 1)(last(L.BatchNorm()(h)))
    r = L.Conv2D(6, 1)(L.AvgPool2D(3, 1, padding="same")(last(h))) if pooled else last(h)
    return ir.Model(x, L.GlobalAvgPool2D()(L.Add()([r, y])))


@pytest.mark.parametrize("pooled", [False, True])
def test_both_readings_of_an_mbconv_meet(pooled):
    """from_keras's reading of an MBConv after a departition (Permutes to channels last) and from_torch's (none)
    meet: convolved_view through the BatchNorm, and of the pooling beside the reshape's other reader where it
    strides; else unpermuted_merge at the sum with the residual's Permute."""
    _, keras_side = checked(lambda: _mbconv(True, pooled))
    _, torch_side = checked(lambda: _mbconv(False, pooled))
    assert {"convolved_view", *(() if pooled else ("unpermuted_merge",))} <= set(keras_side.rewrites)
    assert structural_diff(torch_side, keras_side) == []


def summed_with_a_map_held_channels_last():
    """A Permute summed with a map nothing moved: the sum stays in the Permute's letters."""
    x = ir.Input((4, 6), layout="NTC", name="x")
    y = ir.Input((2, 2, 6), layout="NHWC", name="y")
    h = L.Permute("NHWC")(O.View((6, 2, 2), "NCHW")(L.Dense(6)(x)))
    return ir.Model([x, y], L.GlobalAvgPool2D()(L.Add()([h, L.Conv2D(6, 1)(y)])))


def two_units_moved():
    x = ir.Input((3,), layout="NC", name="x")
    h = L.Reshape((1, 1, 3), layout="NHWC")(O.View((3, 1, 1), "NCHW")(L.Dense(3)(x)))
    return ir.Model(x, L.Dense(4)(O.View((3,), "NC")(h)))


def _rescalings(m) -> list[tuple]:
    return [(n.layer.scale, n.layer.offset) for n in m.layers if n.layer.kind == "Rescaling"]


def scalar_arithmetic_kept():
    """A number divided by a tensor, a power, integer arithmetic and a positions table: no Rescaling is any."""
    x = ir.Input((6, 12), layout="NTC", name="x")
    t = ir.Input((6,), layout="NT", dtype="int32", name="t")
    h = O.Binary("pow", scalar=2.0)(O.Binary("div", scalar=1.0, scalar_first=True)(L.Dense(4)(x)))
    ids = O.Cast("float32")(O.Binary("add", scalar=1)(t))
    # a table computed from positions alone (Llama's rotary cos * scaling): to_torch keeps it without the batch
    table = O.Binary("mul", scalar=0.5)(O.Cast("float32")(O.Positions("T")(x)))
    return ir.Model([x, t], [L.Dense(3)(h), ids, O.Binary("mul")([O.Reduce("mean", "C")(x), table])])


def permuted_back_and_forth():
    """A Permute layer undone by the next (how from_keras reads to_keras's Swin stem before its first window)."""
    x = ir.Input((4, 4, 3), layout="NHWC", name="x")
    return ir.Model(x, L.Conv2D(2, 1)(L.Permute("NHWC")(L.Permute("NCHW")(L.LayerNorm()(x)))))


def stepped_to_one_entry():
    """``x[:, 1::2]`` of a 2-long axis: the one entry it keeps."""
    x = ir.Input((2, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.Narrow("T", 1, step=2)(x)))


def cropped_twice():
    """Slices of H and of W of a map, one after the other (Swin's patch merging of a 2x2 map)."""
    x = ir.Input((4, 4, 3), layout="NHWC", name="x")
    return ir.Model(x, L.Conv2D(2, 1)(L.Slice("W", 1)(L.Slice("H", 0, 2)(x))))


def padded_last_first():
    """torch's ``F.pad`` of W, then H."""
    x = ir.Input((3, 4, 2), layout="NHWC", name="x")
    return ir.Model(x, L.Conv2D(2, 1)(O.Pad("WH", ((0, 1), (2, 0)))(x)))


FIRES = [
    ("scale_then_shift", scaled_then_shifted, lambda m: _rescalings(m) == [(1 / 127.5, -1.0)]),
    (
        "plain_activation",
        plain_activations,
        lambda m: (
            kinds(m) == ["Dense", "Dense", "Activation", "ReLU"]
            and [n.layer.activation for n in m.layers[:3]] == ["relu", "sigmoid", "tanh"]
        ),
    ),
    (
        "scalar_rescaling",
        scalar_arithmetic,
        # -x - 0.5 as one Rescaling (scale_then_shift)
        lambda m: _rescalings(m) == [(1.0, 3.0), (1 / 6, 0.0), (-1.0, 1.0), (-1.0, -0.5), (0.25, 0.0)],
    ),
    # the scale (a Rescaling: scalar_rescaling) first, then the two Transposes meet and cancel (merge_transposes)
    ("transpose_last", scaled_after_the_permute, lambda m: kinds(m) == ["Dense", "View", "Rescaling", "Dense"]),
    ("merge_transposes", permuted_twice, lambda m: kinds(m).count("Transpose") == 1),
    ("shared_permute", permuted_twice_alike, lambda m: kinds(m) == ["Conv2D", "Permute", "LayerNorm", "Add"]),
    ("regrouped_transpose", windows_permuted, lambda m: {"Permute", "Activation"}.isdisjoint(kinds(m))),
    ("regrouped_transpose", windows_summed, lambda m: "Add" not in kinds(m) and "Binary" in kinds(m)),
    ("plain_add", _summed("computed"), lambda m: "Binary" not in kinds(m) and "Add" in kinds(m)),
    ("narrow_stop", stepped_to_the_end, lambda m: m.layers[0].layer.stop is None),
    ("pool_unpermuted", pooled_after_a_permute, lambda m: kinds(m) == ["LayerNorm", "GlobalAvgPool2D", "Dense"]),
    ("unit_move", one_patch_unfolded, lambda m: kinds(m) == ["Dense", "Dense"]),  # then unit_move_reshape
    ("unit_move", one_token_heads, lambda m: kinds(m) == ["Dense", "View", "Permute", "Dense"]),
    ("convolved_view", convolved_channels_last, lambda m: kinds(m) == ["Dense", "View", "Conv2D", "GlobalAvgPool2D"]),
    ("unit_select", selected_by_a_reshape, lambda m: kinds(m).count("Reduce") == 0 and kinds(m).count("Slice") == 3),
    ("merge_transposes", permuted_back_and_forth, lambda m: kinds(m) == ["LayerNorm", "Conv2D"]),
    ("narrow_slice", stepped_to_one_entry, lambda m: m.layers[0].layer == L.Slice("T", 1, name=m.layers[0].name)),
    ("image_crop", cropped_twice, lambda m: m.layers[0].layer.cropping == ((0, 2), (1, 0))),
    ("pad_order", padded_last_first, lambda m: m.layers[0].layer.replace(name=None) == O.Pad("HW", ((2, 0), (0, 1)))),
]


@pytest.mark.parametrize("rule, build, holds", FIRES, ids=[f"{r}-{b.__name__}" for r, b, _ in FIRES])
def test_rule_fires_and_computes_the_same(rule, build, holds):
    fires(build, rule, holds)


def scaled_permute_read_twice():
    x = ir.Input((5, 4), layout="NTC", name="x")
    t = O.Transpose("NHCW")(_heads(x))
    y = L.Add()([O.Binary("mul", scalar=0.5)(t), t])
    return ir.Model(x, L.Dense(3)(O.Transpose("NCHW")(y)))


def stepped_short():
    x = ir.Input((8, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.Narrow("T", 1, 6, step=2)(x)))


def pooled_keeping_dims():
    x = ir.Input((4, 4, 3), layout="NHWC", name="x")
    return ir.Model(x, L.GlobalAvgPool2D(keepdims=True)(L.Permute("NCHW")(L.LayerNorm()(x))))


def permuted_without_windows():
    x = ir.Input((5, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(L.Permute("NCHW")(L.Permute("NHCW")(O.View((5, 2, 2), layout="NCHW")(x)))))


def sliced_channels():
    x = ir.Input((4, 4, 3), layout="NHWC", name="x")
    return ir.Model(x, L.Conv2D(2, 1)(L.Slice("C", 1)(x)))


def padded_in_order():
    x = ir.Input((3, 4, 2), layout="NHWC", name="x")
    return ir.Model(x, L.Conv2D(2, 1)(O.Pad("HW", ((0, 1), (2, 0)))(x)))


STAYS = [
    (scalar_arithmetic_kept, "scalar_rescaling"),
    (shifted_then_scaled, "scale_then_shift"),
    (scaled_permute_read_twice, "transpose_last"),
    (stepped_short, "narrow_stop"),
    (pooled_keeping_dims, "pool_unpermuted"),
    (permuted_without_windows, "regrouped_transpose"),
    (_summed("learned"), "plain_add"),
    (windows_summed, "plain_add"),
    (sliced_channels, "image_crop"),
    (padded_in_order, "pad_order"),
    (two_units_moved, "unit_move"),
    (densed_channels_last, "convolved_view"),
    (convolved_channels_moved, "convolved_view"),
    (summed_with_a_map_held_channels_last, "unpermuted_merge"),
]


@pytest.mark.parametrize("build, rule", STAYS, ids=[b.__name__ for b, _ in STAYS])
def test_rule_stays_where_it_would_not_be_exact(build, rule):
    stays(build, rule)
