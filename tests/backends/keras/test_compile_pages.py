"""``backends/keras/compile.py``: compiling a loaded (memory-mapped) model to Keras copies each weight into
its variable and lets the mapped pages go, so the IR's weights and the Keras model are not both resident."""

import sys

import numpy as np
import pytest

from twinnet import ir, to_keras


def _resident_file_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RssFile from /proc/self/status")
def test_to_keras_leaves_no_mapped_weights_resident(tmp_path):
    model = ir.Sequential(
        [ir.layers.Dense(1024, name="wide"), ir.layers.Dense(1024, name="again")], input=ir.Input((1024,)), name="m"
    ).randomize(0)
    ir.save(model, tmp_path / "m.json")
    loaded = ir.load(tmp_path / "m.json")  # 8 MiB of kernels, memory-mapped, none read yet
    reference = to_keras(model)  # Keras's own code is paged in before measuring
    before = _resident_file_kib()
    km = to_keras(loaded)
    assert _resident_file_kib() - before < 4000, "the mapped kernels stayed resident after compiling"
    x = np.random.default_rng(0).standard_normal((2, 1024)).astype(np.float32)
    # the same outputs as the model compiled from weights in memory: nothing was lost with the pages
    np.testing.assert_allclose(np.asarray(km(x)), np.asarray(reference(x)), atol=1e-5, rtol=1e-4)
