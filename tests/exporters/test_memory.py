"""Giving memory back: a loaded model's mapped pages go and come back unchanged."""

import numpy as np

from twinnet import ir
from twinnet.exporters.memory import drop_mapped_pages, release_memory
from twinnet.ir import layers as L


def test_dropped_pages_read_back_the_same(tmp_path):
    x = ir.Input((16,), name="x")
    model = ir.Model(x, L.Dense(64, name="d")(x), name="m").randomize(0)
    want = {k: np.array(v) for k, v in model.weights.items()}
    loaded = ir.load(ir.save(model, tmp_path / "m.json"))
    assert all(not v.flags.writeable for v in loaded.weights.values())  # views of the file
    drop_mapped_pages(loaded.weights.values())
    drop_mapped_pages([np.zeros(3)])  # an array of its own: nothing to drop
    release_memory()
    for k, v in loaded.weights.items():
        np.testing.assert_array_equal(v, want[k])
