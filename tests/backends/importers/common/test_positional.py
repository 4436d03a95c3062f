"""``convolved_view`` of backends/importers/common/positional.py (the other rules there are tested in
test_relabel.py): a reshape back to a map, moved channels last for a convolution (how ``from_keras`` reads
``to_keras``'s MobileViT fold), is convolved as it is, what follows following its letters; the rewritten model
computes what the original did in torch and in Keras (random weights, batch 2 and 3), and both importers'
readings meet. It stays where the Permute feeds a layer that does not act on a map."""

from __future__ import annotations

import pytest
from rewrite_check import kinds, rewritten, same_outputs

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import ops as O
from twinnet.ir.structure import structural_diff


def _rewritten(build):
    before, after = rewritten(build)
    same_outputs(before, after)
    return before, after


def _folded(permute: bool, reader=lambda h: L.Conv2D(3, 3, padding="same")(h)):
    """Tokens (NTC) reshaped back to a channels-first map, then a convolution (and a pooling after it), as
    from_torch reads it; with ``permute``, moved channels last first, as from_keras reads to_keras's."""
    x = ir.Input((4, 6), layout="NTC", name="x")
    h = O.View((6, 2, 2), "NCHW")(L.Dense(6)(x))
    h = reader(L.Permute("NHWC")(h) if permute else h)
    return ir.Model(x, L.GlobalAvgPool2D()(L.Activation("relu")(h)))


def test_a_convolved_view_is_read_channels_first():
    _, after = _rewritten(lambda: _folded(True))
    assert "convolved_view" in after.rewrites
    assert kinds(after) == ["Dense", "View", "Conv2D", "GlobalAvgPool2D"], kinds(after)
    assert [n.spec.layout for n in after.layers if n.layer.kind == "Conv2D"] == ["NCHW"]


def test_both_readings_of_the_fold_meet():
    _, keras_side = _rewritten(lambda: _folded(True))
    _, torch_side = _rewritten(lambda: _folded(False))
    assert structural_diff(torch_side, keras_side) == []


def _dense(h):
    return L.Dense(3)(h)


def _moved_h_last(h):
    return L.Conv2D(3, 1)(L.Permute("NCHW")(L.Permute("NCWH")(h)))


@pytest.mark.parametrize("reader", [_dense, _moved_h_last], ids=["read-by-a-dense", "not-channels-last"])
def test_a_permuted_view_stays_where_no_map_layer_reads_it(reader):
    _, after = _rewritten(lambda: _folded(True, reader))
    assert "convolved_view" not in after.rewrites
