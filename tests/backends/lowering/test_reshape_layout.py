"""backends.lowering.reshape_layout.regrouped_layout: a Reshape whose merged/split runs of axes stay together in the
held layout is done as held, with no transpose (numerics: the Reshape cases of test_layers_core.py run both layouts)."""

import pytest

from twinnet.backends.lowering.reshape_layout import regrouped_layout
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


def test_torch_vit_patches_reach_keras_without_a_transpose():
    """A ViT's conv patches flattened as NCHW -> NCW, then transposed to NWC (the torch source's own
    ``flatten(2).transpose(1, 2)``): in Keras (NHWC) that is one Reshape; the only Permute left is the NCHW
    input's."""
    from examples import torch_archs
    from twinnet.backends import emit, from_torch

    source = emit(from_torch(*torch_archs.vit()), "keras")
    assert source.count("layers.Permute(") == 1 and 'layers.Permute((2, 3, 1), name="x_nhwc")(x)' in source
