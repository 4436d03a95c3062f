"""The letter rewrites of backends/importers/common/relabel.py (``rename_letters``), those of positional.py
(``unit_flatten``, ``shared_key``, ``channel_shuffle``, ``permuted_shuffle``, ``reshape_first``, ``merge_views``;
the others in test_positional.py) and of spellings.py (``default_scale``, ``cropped_rows``, ``narrow_slice``,
``select_first``, ``no_op``; the others in test_spellings.py): each fires where it is exact, and the rewritten
model computes what the original did in torch and in Keras (random weights, batch 2 and 3); each stays put where
it would not be. An attention named by role (``rename_letters``, ``positional_relabel``, ``default_scale``) is
in test_roles.py."""

from __future__ import annotations

import pytest
from rewrite_check import fires, kinds, stays

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import ops as O


def _layouts(model, kind):
    return [n.spec.layout for n in model.layers if n.layer.kind == kind]


def _image():
    return ir.Input((3, 8, 8), layout="NCHW", name="x")


def _tokens(x, relabel: bool = True):
    """A ViT's patch tokens as torch reads them (NCW flattened, transposed to NWC), a class token and a
    position embedding, then (``relabel``) renamed NTC for what follows."""
    h = L.Permute("NWC")(L.Reshape((8, 16), layout="NCW")(L.Conv2D(8, 2, strides=2)(x)))
    h = L.Concatenate(axis="W")([L.LearnedConstant((1, 8), layout="NWC")(x), h])
    h = L.Add()([h, L.LearnedConstant((17, 8), layout="NWC")(x)])
    return L.Reshape((17, 8), layout="NTC")(h) if relabel else h


# -- where each fires ------------------------------------------------------------------------------------------
def vit_tokens():
    x = _image()
    h = L.LayerNorm()(_tokens(x))
    return ir.Model(x, L.Reshape((8,), layout="NC")(L.Cropping1D((0, 16))(h)))


def tokens_relabelled_around_attention():
    x = _image()
    h = _tokens(x, relabel=False)
    q = L.Reshape((17, 8), layout="NTC")(L.LayerNorm()(h))
    a = L.MultiHeadAttention(2, 4)([q, q])
    h = L.Add()([h, L.Reshape((17, 8), layout="NWC")(a)])
    return ir.Model(x, L.Flatten()(L.Dense(4)(h)))


def tokens_never_relabelled():
    x = _image()
    return ir.Model(x, L.Flatten()(L.Dense(4)(L.LayerNorm()(_tokens(x, relabel=False)))))


def selected_token_flattened():
    x = ir.Input((5, 16), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.Cropping1D((0, 4))(x))))


def attention_given_its_value_as_key():
    x = ir.Input((5, 8), layout="NTC", name="x")
    h = L.LayerNorm()(x)
    return ir.Model(x, L.MultiHeadAttention(2, 4)([h, h, h]))


def permute_then_merge():
    x = _image()
    h = L.Permute("NHWC")(L.Conv2D(8, 2, strides=2)(x))
    return ir.Model(x, L.Flatten()(L.Dense(4)(L.Reshape((16, 8), layout="NTC")(h))))


def _signal_of_tokens():
    """from_torch's reading of ``conv(x.permute(0, 2, 1))`` of tokens: NCT, relabelled NCW for the Conv1d."""
    x = ir.Input((7, 6), layout="NTC", name="x")
    return x, L.Conv1D(4, 3, padding="same")(L.Reshape((6, 7), layout="NCW")(L.Permute("NCT")(L.Dense(6)(x))))


def signal_pooled_over_time():
    """The conv's map max-pooled over time: renamed NCT up to the pool, whose NC result keeps its letters."""
    x, h = _signal_of_tokens()
    return ir.Model(x, L.Dense(3)(L.GlobalMaxPool1D()(h)))


def input_read_by_a_class_token():
    x = ir.Input((3, 8, 8), layout="NHWC", name="x")  # a channels-first input as from_keras names it
    h = L.Reshape((8, 8, 3), layout="NHWC")(L.Permute("NWCH")(x))
    h = L.Reshape((16, 8), layout="NTC")(L.Conv2D(8, 2, strides=2)(h))
    h = L.Concatenate(axis="T")([L.LearnedConstant((1, 8))(x), h])
    return ir.Model(x, L.Flatten()(h))


def view_of_a_view():
    x = ir.Input((6, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.View((4, 6), "NTC")(O.View((1, 24), "NAC")(x))))


def unsqueeze_then_squeeze():
    x = ir.Input((6, 4), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.View((6, 4), "NTC")(O.View((1, 6, 4), "NATC")(x))))


def _cropped(x, crop):
    """``to_keras``'s slice of C: rows, the channel axis in the middle, cropped, then the held shape again."""
    h = L.Cropping2D(crop)(L.Reshape((6, 12, 1), layout="NHWC")(x))
    return L.Reshape((6, 12 - sum(crop[1])), layout="NTC")(h)


def channel_slice_as_keras_writes_it():
    x = ir.Input((6, 12), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(_cropped(x, ((0, 0), (2, 3)))))


def _keras_shuffle(relaid: bool = True, dims: str = "NHWDC"):
    """ShuffleNet's channel shuffle and chunk as from_keras reads to_keras's (``relaid``: behind the NCHW input's
    Permute and relabel): a Reshape of the NHWC map to (H, W, 2, C/2), a Permute (``dims``), a Reshape back, and
    the second half of C sliced as to_keras slices (rows, cropped, the map again)."""
    x = ir.Input((3, 6, 6) if relaid else (6, 6, 3), layout="NHWC", name="x")
    h = L.Conv2D(8, 1)(L.Reshape((6, 6, 3), layout="NHWC")(L.Permute("NWCH")(x)) if relaid else x)
    h = L.Reshape((6, 6, 8), layout="NHWC")(L.Permute(dims)(L.Reshape((6, 6, 2, 4), layout="NHWCD")(h)))
    h = L.Cropping2D(((0, 0), (4, 0)))(L.Reshape((36, 8, 1), layout="NHWC")(h))
    return ir.Model(x, L.GlobalAvgPool2D()(L.Conv2D(3, 1)(L.Reshape((6, 6, 4), layout="NHWC")(h))))


def _shuffled_as_torch(m):
    """The shuffle in torch's spelling on the NCHW map (view, transpose, reshape), the chunk its Slice of C."""
    shuffle = _layouts(m, "Reshape") == ["NCDHW", "NCHW"] and _layouts(m, "Permute") == ["NDCHW"]
    chunk = _layouts(m, "Slice") == ["NCHW"] and "Cropping2D" not in kinds(m)
    return shuffle and chunk and m.inputs[0].layout == "NCHW"


def _pooled_shuffle(side: int = 1):
    """A channel shuffle of a pooled ``side`` x ``side`` map as from_keras reads to_keras's, behind the NCHW input's
    Permute and relabel, merged back to the shape the model declares for a Flatten, ``(C, H, W)`` lettered by
    position ``NHWC`` (``x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w).flatten(1)``)."""
    x = ir.Input((3, 4, 4), layout="NHWC", name="x")
    h = L.Conv2D(8, 1)(L.Reshape((4, 4, 3), layout="NHWC")(L.Permute("NWCH")(x)))
    h = L.Permute("NHWDC")(L.Reshape((side, side, 2, 4), layout="NHWCD")(L.AvgPool2D(4 // side)(h)))
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.Reshape((8, side, side), layout="NHWC")(h))))


def _pooled_shuffled_as_torch(m):
    """The shuffle in torch's spelling on the NCHW map, its merge flattened as the model declares it."""
    shuffle = _layouts(m, "Reshape") == ["NCDHW", "NHWC"] and _layouts(m, "Permute") == ["NDCHW"]
    return shuffle and m.layers[-3].layer.target_shape == (8, 1, 1) and m.inputs[0].layout == "NCHW"


def _permuted_shuffle(flatten: bool = True):
    """A channel shuffle of a pooled 2x2 map as from_keras reads to_keras's: merged back to the NHWC map, then
    moved to NCHW (relabelled as Keras names rank 4) for torch's flatten (``flatten``), or else pooled."""
    x = ir.Input((3, 4, 4), layout="NHWC", name="x")
    h = L.Conv2D(8, 1)(L.Reshape((4, 4, 3), layout="NHWC")(L.Permute("NWCH")(x)))
    h = L.Permute("NHWDC")(L.Reshape((2, 2, 2, 4), layout="NHWCD")(L.AvgPool2D(2)(h)))
    h = L.Reshape((8, 2, 2), layout="NHWC")(L.Permute("NCHW")(L.Reshape((2, 2, 8), layout="NHWC")(h)))
    return ir.Model(x, L.Dense(3)(L.Flatten()(h) if flatten else L.GlobalAvgPool2D()(h)))


def _permuted_shuffled_as_torch(m):
    shuffle = _layouts(m, "Reshape") == ["NCDHW", "NHWC"] and _layouts(m, "Permute") == ["NDCHW"]
    return shuffle and m.layers[-3].layer.target_shape == (8, 2, 2) and m.inputs[0].layout == "NCHW"


def _unbound(narrow):
    """timm's attention input: a qkv reshape, permuted with its three-way axis first, unbound, the parts summed."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = L.Permute("DNWC")(L.Reshape((5, 3, 4), layout="NCDW")(L.Dense(12)(x)))
    parts = [O.Reduce("sum", "D")(narrow(i)(h)) for i in range(3)]
    return ir.Model(x, L.Dense(3)(L.Add()(parts)))


def unbind_of_a_permuted_tensor():
    return _unbound(lambda i: O.Narrow("D", i, i + 1))


def unbind_of_a_transposed_view():
    """The same as from_torch reads it where the tokens are regrouped with the batch (MobileViT's patches): the
    op tier's View and Transpose."""
    x = ir.Input((5, 6), layout="NTC", name="x")
    h = O.Transpose("DNWC")(O.View((5, 3, 4), "NCDW")(L.Dense(12)(x)))
    parts = [O.Reduce("sum", "D")(L.Slice("D", i, i + 1)(h)) for i in range(3)]
    return ir.Model(x, L.Dense(3)(L.Add()(parts)))


def _selected_first_as_ops(m):
    """Each part selected before a Transpose op of its own (and split_select's View, not a Reshape, behind)."""
    slices = [n for n in m.layers if n.layer.kind == "Slice"]
    before = all(n.inputs[0].node.layer.kind != "Transpose" for n in slices)
    ops = kinds(m).count("Transpose") == 3 and kinds(m).count("View") == 3
    return len(slices) == 3 and before and ops and not {"Permute", "Reshape", "Reduce"} & set(kinds(m))


def narrowed_to_the_end():
    x = ir.Input((6, 12), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.Narrow("C", 9, 12)(x)))


def identity_between_layers():
    x = ir.Input((6, 12), layout="NTC", name="x")
    h = L.Slice("T", 0, 6)(L.Slice("C", 0)(L.Dense(4)(x)))  # whole axes
    return ir.Model(x, L.Dense(3)(L.Activation("linear")(L.Identity()(h))))


def _selected_first(m):
    """Every part selected before the Permute (split_select, behind it, then slices the Dense's output)."""
    slices = [n for n in m.layers if n.layer.kind == "Slice"]
    before = all(n.inputs[0].node.layer.kind != "Permute" for n in slices)
    return len(slices) == 3 and before and all(p.startswith("N") for p in _layouts(m, "Permute"))


FIRES = [
    ("no_op", identity_between_layers, lambda m: kinds(m) == ["Dense", "Dense"]),
    ("narrow_slice", narrowed_to_the_end, lambda m: kinds(m) == ["Slice", "Dense"] and m.layers[0].layer.stop is None),
    ("select_first", unbind_of_a_permuted_tensor, _selected_first),
    ("select_first", unbind_of_a_transposed_view, _selected_first_as_ops),
    (
        "cropped_rows",
        channel_slice_as_keras_writes_it,
        lambda m: kinds(m) == ["Slice", "Dense"] and (m.layers[0].layer.start, m.layers[0].layer.stop) == (2, 9),
    ),
    ("merge_views", view_of_a_view, lambda m: kinds(m) == ["View", "Dense"] and m.layers[0].spec.shape[1:] == (4, 6)),
    ("merge_views", unsqueeze_then_squeeze, lambda m: kinds(m) == ["Dense"]),
    (
        "rename_letters",
        vit_tokens,
        lambda m: _layouts(m, "Reshape") == ["NCT", "NC"] and _layouts(m, "LearnedConstant") == ["NTC", "NTC"],
    ),
    (
        "rename_letters",
        tokens_relabelled_around_attention,
        lambda m: _layouts(m, "Reshape") == ["NCT"] and _layouts(m, "Add") == ["NTC", "NTC"],
    ),
    ("rename_letters", tokens_never_relabelled, lambda m: _layouts(m, "Dense") == ["NTC"]),
    (
        "rename_letters",
        signal_pooled_over_time,
        lambda m: _layouts(m, "Conv1D") == ["NCT"] and "Reshape" not in kinds(m),
    ),
    ("unit_flatten", selected_token_flattened, lambda m: kinds(m) == ["Cropping1D", "Reshape", "Dense"]),
    ("shared_key", attention_given_its_value_as_key, lambda m: len(m.layers[-1].inputs) == 2),
    (
        "reshape_first",
        permute_then_merge,
        lambda m: kinds(m)[:3] == ["Conv2D", "Reshape", "Permute"] and _layouts(m, "Reshape") == ["NCT"],
    ),
    ("declared_input_layout", input_read_by_a_class_token, lambda m: m.inputs[0].layout == "NCHW"),
    ("channel_shuffle", _keras_shuffle, _shuffled_as_torch),
    ("channel_shuffle", _pooled_shuffle, _pooled_shuffled_as_torch),
    ("permuted_shuffle", _permuted_shuffle, _permuted_shuffled_as_torch),
]


@pytest.mark.parametrize("rule, build, holds", FIRES, ids=[f"{r}-{b.__name__}" for r, b, _ in FIRES])
def test_rewrite_fires_and_computes_the_same(rule, build, holds):
    _, after = fires(build, rule, holds)
    assert "Reshape" not in [n.layer.kind for n in after.layers if n.spec.layout == "NTC" and _moves_nothing(n)]


def _moves_nothing(node) -> bool:
    return node.inputs[0].spec.shape == node.spec.shape


# -- where each stays ------------------------------------------------------------------------------------------
def relabelled_tokens_also_an_output():
    x = _image()
    h = _tokens(x, relabel=False)
    return ir.Model(x, [L.Dense(4)(L.Reshape((17, 8), layout="NTC")(h)), h])


def relabel_renaming_the_features():
    """A relabel that names the features of a Dense T: the Dense acts on C, renaming would change it."""
    x = ir.Input((6, 4), layout="NTC", name="x")
    h = L.Dense(5)(L.Reshape((6, 4), layout="NTC")(L.Permute("NTC")(x)))
    return ir.Model(x, L.Flatten()(L.Reshape((6, 5), layout="NCT")(h)))


def signal_pooled_and_given_out():
    """The same, the conv's map a model output too: it keeps its letters, and so the relabel stays."""
    x, h = _signal_of_tokens()
    return ir.Model(x, [L.Dense(3)(L.GlobalMaxPool1D()(h)), h])


def two_tokens_flattened():
    x = ir.Input((5, 16), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.Cropping1D((0, 3))(x))))


def attention_with_its_own_key():
    x = ir.Input((5, 8), layout="NTC", name="x")
    h = L.LayerNorm()(x)
    return ir.Model(x, L.MultiHeadAttention(2, 4)([h, h, x]))


def permute_then_merge_apart():
    """NCHW -> NHWC, then W and C merged: they are not neighbours in NCHW, so no Reshape there can do it."""
    x = _image()
    h = L.Permute("NHWC")(L.Conv2D(8, 2, strides=2)(x))
    return ir.Model(x, L.Flatten()(L.Reshape((4, 32), layout="NTC")(h)))


def keras_shuffle_of_its_own():
    """A map Keras holds channels last from its input on (a Keras ShuffleNet): its spelling already."""
    return _keras_shuffle(relaid=False)


def shuffle_moving_a_spatial_axis_too():
    return _keras_shuffle(dims="NWHDC")


def shuffle_of_a_wider_map_flattened():
    """Merged to a shape other than the map's where its two orders differ in more than size-1 axes: the entries'
    order would change."""
    return _pooled_shuffle(side=2)


def shuffle_moved_for_a_pool():
    """The shuffled map's move to NCHW read by a pooling, not by position: left as it is."""
    return _permuted_shuffle(flatten=False)


def view_read_twice():
    x = ir.Input((6, 4), layout="NTC", name="x")
    h = O.View((1, 24), "NAC")(x)
    return ir.Model(x, [L.Dense(3)(O.View((4, 6), "NTC")(h)), L.Dense(2)(h)])


def rows_cropped_too():
    x = ir.Input((6, 12), layout="NTC", name="x")
    h = L.Cropping2D(((1, 0), (2, 3)))(L.Reshape((6, 12, 1), layout="NHWC")(x))
    return ir.Model(x, L.Dense(3)(L.Reshape((5, 7), layout="NTC")(h)))


def unbind_two_wide():
    """A sum over two entries of the permuted axis: not a selection, left after the Permute."""
    return _unbound(lambda i: L.Slice("D", i % 2, i % 2 + 2))


def narrowed_by_steps():
    x = ir.Input((6, 12), layout="NTC", name="x")
    return ir.Model(x, L.Dense(3)(O.Narrow("C", 0, 12, step=2)(x)))


def identity_as_output():
    x = ir.Input((6, 12), layout="NTC", name="x")
    return ir.Model(x, L.Activation("linear")(L.Dense(4)(x)))


STAYS = [
    (identity_as_output, "no_op"),
    (unbind_two_wide, "select_first"),
    (narrowed_by_steps, "narrow_slice"),
    (rows_cropped_too, "cropped_rows"),
    (view_read_twice, "merge_views"),
    (relabelled_tokens_also_an_output, "rename_letters"),
    (relabel_renaming_the_features, "rename_letters"),
    (signal_pooled_and_given_out, "rename_letters"),
    (two_tokens_flattened, "unit_flatten"),
    (attention_with_its_own_key, "shared_key"),
    (permute_then_merge_apart, "reshape_first"),
    (keras_shuffle_of_its_own, "channel_shuffle"),
    (shuffle_moving_a_spatial_axis_too, "channel_shuffle"),
    (shuffle_of_a_wider_map_flattened, "channel_shuffle"),
    (shuffle_moved_for_a_pool, "permuted_shuffle"),
]


@pytest.mark.parametrize("build, rule", STAYS, ids=[b.__name__ for b, _ in STAYS])
def test_rewrite_does_not_fire_where_it_would_not_be_exact(build, rule):
    stays(build, rule)
