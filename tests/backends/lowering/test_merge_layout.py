"""Where a merge meets inputs held in different layouts (a channels-first model input and a conv output Keras
holds channels last), every backend holds the merge in the layout one input already has, its own native one
first: a Keras model then transposes once in and once out, computes what torch does, and reads back as the
model it came from."""

import numpy as np
import pytest
import torch
from siblings import sibling

from twinnet import ir
from twinnet.backends import to_keras, to_torch
from twinnet.backends.importers import from_keras
from twinnet.ir import layers as L
from twinnet.ir.structure import structural_diff

program = sibling("backends/lowering/test_ops_layout.py").program


def input_and_conv(merge) -> ir.Model:
    """An NCHW input merged with a conv of itself, then a 1x1 conv (DenseNet's and U-Net's skip, torch-style)."""
    x = ir.Input((3, 8, 8), layout="NCHW", name="x")
    h = L.Conv2D(3, 3, padding="same", name="conv")(x)
    return ir.Model(x, L.Conv2D(2, 1, name="head")(merge(name="merge")([x, h])), name="skip").randomize(0)


MERGES = [pytest.param(L.Concatenate, id="concatenate"), pytest.param(L.Add, id="add")]


@pytest.mark.parametrize("merge", MERGES)
def test_keras_transposes_the_input_once_and_the_output_once(merge):
    assert program(input_and_conv(merge), "keras").transposes == 2
    assert program(input_and_conv(merge), "torch").transposes == 0


@pytest.mark.parametrize("merge", MERGES)
def test_the_keras_model_computes_what_torch_does_and_reads_back(merge):
    model = input_and_conv(merge)
    km, tm = to_keras(model), to_torch(model)
    for batch in (2, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 8, 8)).astype(np.float32)
        with torch.no_grad():
            ours = tm(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(np.asarray(km(x, training=False)), ours, atol=1e-5, rtol=1e-4)
    assert structural_diff(model, from_keras(km), weights=True) == []
