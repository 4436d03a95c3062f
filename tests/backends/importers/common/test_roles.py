"""An attention named by role (``rename_letters`` of backends/importers/common/relabel.py, with
``positional_relabel`` of positional.py and ``default_scale`` of spellings.py): query ``NHTD``, key ``NHSD``,
value ``NHSE``, result ``NHTE``, a mask by the scores' ``NHTS``, whether torch's or Keras's letters named
the heads, through a rotary embedding and a mask from an Embedding. Each fires where it is exact, and the
rewritten model computes what the original did in torch and in Keras (random weights, batch 2 and 3); each
stays put where it would not be."""

from __future__ import annotations

import pytest
from rewrite_check import fires, kinds, stays

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import ops as O


def _layouts(model, kind):
    return [n.spec.layout for n in model.layers if n.layer.kind == kind]


def _heads(x, layout: str, permuted: str):
    return L.Permute(permuted)(L.Reshape((5, 2, 4), layout=layout)(L.Dense(8)(x)))


def attention_named_by_torch():
    """BERT's attention as from_torch names it: the query's length C, the key's A, features W and B."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    q, k, v = _heads(x, "NCHW", "NHCW"), _heads(x, "NAHW", "NHAW"), _heads(x, "NAHB", "NHAB")
    a = O.ScaledDotProductAttention(scale=0.5)([q, k, v])
    return ir.Model(x, L.Reshape((5, 8), layout="NTC")(L.Permute("NCHB")(a)))


def attention_named_by_keras():
    """The same as from_keras names it (each rank-4 tensor NHWC) with a relabel before the merge."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    q, k, v = (_heads(x, "NWHC", "NHWC") for _ in range(3))
    a = L.Permute("NWHC")(O.ScaledDotProductAttention()([q, k, v]))
    return ir.Model(x, L.Reshape((5, 8), layout="NTC")(O.View((5, 2, 4), "NHWC")(a)))


def masked_attention_named_by_torch():
    """A Swin-like attention with its relative position bias as a float mask (permuted from a reshape, torch's
    letters): the mask is named by the scores' roles too."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    q, k, v = _heads(x, "NCHW", "NHCW"), _heads(x, "NAHW", "NHAW"), _heads(x, "NAHB", "NHAB")
    mask = L.Permute("NHCA")(L.Reshape((5, 5, 2), layout="NCAH")(L.Dense(10)(x)))
    a = O.ScaledDotProductAttention(scale=0.5)([q, k, v, mask])
    return ir.Model(x, L.Reshape((5, 8), layout="NTC")(L.Permute("NCHB")(a)))


def _masked_by_role(m):
    att = [n for n in m.layers if n.layer.kind == "ScaledDotProductAttention"]
    return _by_role(m) and [n.inputs[3].spec.layout for n in att] == ["NHTS"]


def _by_role(m):
    return _layouts(m, "ScaledDotProductAttention") == ["NHTE"] and _layouts(m, "Permute")[-1] == "NTHE"


def _buckets(x, layout: str):
    """T5's relative position buckets of ``x``'s tokens, small, in ``layout`` (rank 3): the distance between
    positions, its cap and a where; an int64 tensor (None, 5, 5)."""
    rows, cols = (O.View(shape, layout)(O.Positions("T", "A")(x)) for shape in ((1, 5), (5, 1)))
    far = O.Unary("abs")(O.Binary("sub")([rows, cols]))
    return O.Where()([O.Binary("lt", 2.0)(far), far, O.Clip(high=3.0)(O.Binary("add", 1.0)(far))])


def attention_masked_by_an_embedding():
    """T5's attention as from_torch names it: its mask the buckets' Embedding (``NHWC``, the heads its C),
    permuted and relabelled to the scores' letters; renaming the Embedding's C is not exact, so the relabel
    stays, named ``NHTS``, and the query, key, value and result are named by role."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    q, k, v = _heads(x, "NCHW", "NHCW"), _heads(x, "NAHW", "NHAW"), _heads(x, "NAHB", "NHAB")
    mask = O.View((2, 5, 5), "NHCA")(L.Permute("NCHW")(L.Embedding(4, 2)(_buckets(x, "NHW"))))
    a = O.ScaledDotProductAttention()([q, k, v, mask])
    return ir.Model(x, L.Reshape((5, 8), layout="NTC")(L.Permute("NCHB")(a)))


def _masked_by_an_embedding(m):
    views = [(n.inputs[0].spec.layout, n.spec.layout) for n in m.layers if n.layer.kind == "View"]
    return _masked_by_role(m) and ("NCHW", "NHTS") in views


def buckets_relabelled_for_an_embedding():
    """The buckets as from_keras reads them: lettered ``NTC`` (Keras's rank-3 convention for what its reshapes
    make), a where among them, and relabelled to ``NHW`` for the Embedding."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    ids = O.View((5, 5), "NHW")(_buckets(x, "NTC"))
    return ir.Model(x, L.Dense(3)(L.Embedding(4, 2)(ids)))


def _buckets_in_embedding_letters(m):
    return set(_layouts(m, "Where") + _layouts(m, "Binary") + _layouts(m, "View")) == {"NHW"}


def attention_of_a_rotated_query():
    """A query through more than its heads' split, as a rotary embedding's, in torch's letters (C the length):
    a product, the rotate-half (its halves of W cropped, one negated, concatenated) and a sum; the key
    relabelled before the attention."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    h = _heads(x, "NCHW", "NHCW")
    half = L.Concatenate("W")([L.Rescaling(-1.0)(L.Cropping2D(((0, 0), (2, 0)))(h)), L.Cropping2D(((0, 0), (0, 2)))(h)])
    q = L.Add()([O.Binary("mul", 2.0)(h), O.Binary("mul", 0.5)(half)])
    k = O.View((2, 5, 4), "NHAW")(_heads(x, "NCHW", "NHCW"))
    a = O.ScaledDotProductAttention()([q, k, _heads(x, "NAHB", "NHAB")])
    return ir.Model(x, L.Reshape((5, 8), layout="NTC")(L.Permute("NCHB")(a)))


def _rotated_by_role(m):
    slices = [(n.layer.axis, n.layer.start, n.layer.stop) for n in m.layers if n.layer.kind == "Slice"]
    return (
        _by_role(m)
        and "Cropping2D" not in kinds(m)
        and "View" not in kinds(m)
        and slices == [("D", 2, None), ("D", 0, 2)]
    )


def attention_of_a_projected_query():
    """A query through a Dense over its heads' C (torch's letters: the length): renaming C would change it."""
    x = ir.Input((5, 8), layout="NTC", name="x")
    q = L.Dense(5)(_heads(x, "NCHW", "NHCW"))
    a = O.ScaledDotProductAttention()([q, _heads(x, "NAHW", "NHAW"), _heads(x, "NAHB", "NHAB")])
    return ir.Model(x, L.Reshape((5, 8), layout="NTC")(L.Permute("NCHB")(a)))


def attention_scaled_otherwise():
    x = ir.Input((5, 8), layout="NTC", name="x")
    q, k, v = (_heads(x, "NWHC", "NHWC") for _ in range(3))
    a = L.Permute("NWHC")(O.ScaledDotProductAttention(scale=0.3)([q, k, v]))
    return ir.Model(x, L.Reshape((5, 8), layout="NTC")(a))


FIRES = [
    ("rename_letters", attention_named_by_torch, _by_role),
    ("rename_letters", attention_named_by_keras, _by_role),
    ("rename_letters", masked_attention_named_by_torch, _masked_by_role),
    ("rename_letters", attention_of_a_rotated_query, _rotated_by_role),
    ("rename_letters", attention_masked_by_an_embedding, _masked_by_an_embedding),
    ("rename_letters", buckets_relabelled_for_an_embedding, _buckets_in_embedding_letters),
    ("positional_relabel", attention_named_by_keras, lambda m: "View" not in kinds(m)),
    ("default_scale", attention_named_by_torch, lambda m: m.layers[-3].layer.scale is None),
]


@pytest.mark.parametrize("rule, build, holds", FIRES, ids=[f"{r}-{b.__name__}" for r, b, _ in FIRES])
def test_rewrite_fires_and_computes_the_same(rule, build, holds):
    _, after = fires(build, rule, holds)
    relabels = [n for n in after.layers if n.spec.layout == "NTC" and n.inputs[0].spec.shape == n.spec.shape]
    assert "Reshape" not in [n.layer.kind for n in relabels]


STAYS = [
    (attention_scaled_otherwise, "default_scale"),
    (attention_of_a_projected_query, "rename_letters"),
]


@pytest.mark.parametrize("build, rule", STAYS, ids=[b.__name__ for b, _ in STAYS])
def test_rewrite_does_not_fire_where_it_would_not_be_exact(build, rule):
    stays(build, rule)
