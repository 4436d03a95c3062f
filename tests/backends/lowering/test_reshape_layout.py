"""backends.lowering.reshape_layout.regrouped_layout: a Reshape whose merged/split runs of axes stay together in the
held layout is done as held, with no transpose (numerics: the Reshape cases of test_layers_core.py run both layouts);
``ordered_within_groups``: runs together but one in another order are ordered where they stand (a channel shuffle
stays channels last in Keras); and Keras's Reshape of a tensor held out of declared order by size-1 axes only."""

import numpy as np
import pytest

from twinnet.backends.lowering.reshape_layout import ordered_within_groups, regrouped_layout
from twinnet.ir.tensor import TensorSpec


@pytest.mark.parametrize(
    "src, dst, held, want",
    [
        (((None, 16, 4, 4), "NCHW"), ((None, 16, 16), "NCW"), "NHWC", "NWC"),  # torch patchify held as Keras holds it
        (((None, 4, 4, 16), "NHWC"), ((None, 16, 16), "NWC"), "NCHW", "NCW"),  # the same, the other way round
        (((None, None, 8), "NTC"), ((None, None, 2, 4), "NTHC"), "NTC", "NTHC"),  # a symbolic axis is its own run
        (((None, None, 8), "NTC"), ((None, None, 2, 4), "NTHC"), "NCT", "NHCT"),
        (((None, 4, 4, 16), "NHWC"), ((None, 256), "NC"), "NCHW", None),  # C must move behind H, W: transpose
        (((None, 6, 4), "NTC"), ((None, 24), "NC"), "NCT", None),
        (((None, 6, 4), "NTC"), ((None, 4, 6), "NCT"), "NTC", "NCT"),  # one run: held as declared
        (((None, 6, 4), "NTC"), ((None, 4, 6), "NCT"), "NCT", None),  # ... held otherwise: transpose
        (((None, None, 4), "NTC"), ((None, None), "NT"), "NTC", None),  # an unknown size merged with another
    ],
)
def test_regrouped_layout(src, dst, held, want):
    assert regrouped_layout(TensorSpec(*src), TensorSpec(*dst), held) == want


@pytest.mark.parametrize(
    "src, dst, held, want",
    [
        (((None, 4, 2, 8, 8), "NDCHW"), ((None, 8, 8, 8), "NCHW"), "NHWCD", "NHWDC"),  # a shuffle held channels last
        (((None, 4, 2, 8, 8), "NDCHW"), ((None, 8, 8, 8), "NCHW"), "NDCHW", None),  # as declared: nothing to order
        (((None, 4, 2, 8, 8), "NDCHW"), ((None, 8, 8, 8), "NCHW"), "NHWDC", None),  # in order already
        (((None, 4, 2, 8, 8), "NDCHW"), ((None, 8, 8, 8), "NCHW"), "NCHWD", None),  # D and C apart
        (((None, 6, 4), "NTC"), ((None, 24), "NC"), "NCT", "NTC"),  # one run: declared order
        (((None, 4, 4, 16), "NHWC"), ((None, 16, 16), "NWC"), "NCWH", "NCHW"),
    ],
)
def test_ordered_within_groups(src, dst, held, want):
    assert ordered_within_groups(TensorSpec(*src), TensorSpec(*dst), held) == want


def test_keras_shuffles_channels_where_it_holds_them():
    """torch's channel shuffle (``view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)``) of a map Keras
    holds channels last: a Reshape to (H, W, 2, C/2), the Permute of its last two axes and a Reshape back, all
    channels last (no Permute to channels first and back for what follows); torch and Keras compute the same."""
    from rewrite_check import outputs

    from twinnet import ir
    from twinnet.backends import emit
    from twinnet.ir import layers as L

    x = ir.Input((3, 6, 6), layout="NCHW", name="x")
    h = L.Reshape((2, 4, 6, 6), layout="NCDHW")(L.Conv2D(8, 3, padding="same")(x))
    h = L.Reshape((8, 6, 6), layout="NCHW")(L.Permute("NDCHW")(h))
    model = ir.Model(x, L.Conv2D(3, 1)(L.Slice("C", 4)(h))).randomize(seed=2)
    source = emit(model, "keras")
    assert "layers.Reshape((6, 6, 2, 4)" in source and "layers.Permute((1, 2, 4, 3)" in source
    assert source.count("layers.Permute(") == 3  # the shuffle's, and the NCHW input's and output's
    for batch in (2, 3):
        torch_out, keras_out = outputs(model, batch)
        np.testing.assert_allclose(keras_out, torch_out, atol=1e-5, rtol=1e-4)


def test_torch_vit_patches_reach_keras_without_a_transpose():
    """A ViT's conv patches flattened as NCHW -> NCW, then transposed to NWC (the torch source's own
    ``flatten(2).transpose(1, 2)``): in Keras (NHWC) that is one Reshape; the only Permute left is the NCHW
    input's."""
    from examples import torch_archs
    from twinnet.backends import emit, from_torch

    source = emit(from_torch(*torch_archs.vit()), "keras")
    assert source.count("layers.Permute(") == 1 and 'layers.Permute((2, 3, 1), name="x_nhwc")(x)' in source


def test_keras_reshapes_a_tensor_out_of_order_only_by_unit_axes_once():
    """A pooled NCHW map kept 4-D is held (1, 1, C) by Keras: flattening it to (C,) moves no entry, so it is one
    Keras Reshape, not a Reshape to the declared (C, 1, 1) first (ConvNeXt's head, which from_keras then reads
    back as the model's own Reshape); torch and Keras still compute the same."""
    from rewrite_check import outputs

    from twinnet import ir
    from twinnet.backends import emit
    from twinnet.ir import layers as L

    x = ir.Input((4, 6, 6), layout="NCHW", name="x")
    h = L.LayerNorm()(L.Permute("NHWC")(L.GlobalAvgPool2D(keepdims=True)(L.Conv2D(5, 3)(x))))
    model = ir.Model(x, L.Dense(3)(L.Reshape((5,), layout="NC")(L.Permute("NCHW")(h)))).randomize(seed=2)
    assert emit(model, "keras").count("layers.Reshape(") == 1
    for batch in (2, 3):
        torch_out, keras_out = outputs(model, batch)
        np.testing.assert_allclose(keras_out, torch_out, atol=1e-5, rtol=1e-4)


def test_torch_keeps_a_relabel_of_a_unit_map_as_held():
    """A Reshape that only renames the axes of a 1x1 map (Swin's window merge read back at its last stage) is
    held as its input is, not moved to NCHW because only size-1 axes would move: what reads it (the residual
    sum, the LayerNorms) stays as declared, so from_torch(to_torch(m)) reads the stage back as m holds it."""
    import torch

    from twinnet import ir
    from twinnet.backends import from_torch, to_torch
    from twinnet.backends.importers.common.rewrites import apply_rewrites
    from twinnet.ir import layers as L
    from twinnet.ir import ops as O
    from twinnet.ir.structure import structural_diff

    x = ir.Input((8, 2, 2), layout="NCHW", name="x")
    image = L.LayerNorm()(L.Permute("NHWC")(x))
    windows = L.Reshape((2, 2, 8), layout="NCHW")(L.Dense(8)(L.Reshape((4, 8), layout="NTC")(image)))
    merged = L.Reshape((1, 1, 8), layout="NHWC")(L.Cropping2D(((0, 1), (0, 0)))(L.Slice("C", 0, 1)(windows)))
    stream = L.Dense(8)(L.LayerNorm()(O.Narrow("W", 0, None, 2)(O.Narrow("H", 0, None, 2)(image))))
    y = L.GlobalAvgPool2D()(L.LayerNorm()(L.Add()([stream, merged])))
    m = apply_rewrites(ir.Model(x, L.Dense(3)(y), name="unit_map").randomize(seed=1))
    back = from_torch(to_torch(m), (torch.zeros(2, 8, 2, 2),), fixed_lengths=True)
    assert structural_diff(m, back, weights=True) == []


def test_a_reshape_read_in_order_is_written_to_its_declared_shape():
    """A reshape of a pooled 1x1 map read only by a Flatten or a Reshape (its letters by position: ``(C, 1, 1)``
    named ``NHWC``) is written to that shape in torch and Keras alike, not to the native order its size-1 axes
    allow (torch's ``(1, C, 1)``, Keras's ``(1, 1, C)``), which the importers would read back as another shape;
    torch and Keras compute the same."""
    from rewrite_check import outputs

    from twinnet import ir
    from twinnet.backends import emit
    from twinnet.ir import layers as L

    x = ir.Input((3, 4, 4), layout="NCHW", name="x")
    h = L.Reshape((4, 2, 1, 1), layout="NDHWC")(L.GlobalAvgPool2D(keepdims=True)(L.Conv2D(8, 3)(x)))
    model = ir.Model(x, L.Dense(3)(L.Flatten()(L.Reshape((8, 1, 1), layout="NHWC")(h)))).randomize(seed=2)
    torch_source, keras_source = emit(model, "torch"), emit(model, "keras")
    assert "4, 2, 1, 1)" in torch_source and "8, 1, 1)" in torch_source
    assert "layers.Reshape((4, 2, 1, 1)" in keras_source and "layers.Reshape((8, 1, 1)" in keras_source
    assert keras_source.count("layers.Reshape(") == 2
    for batch in (2, 3):
        torch_out, keras_out = outputs(model, batch)
        np.testing.assert_allclose(keras_out, torch_out, atol=1e-5, rtol=1e-4)
