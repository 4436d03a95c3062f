"""``backends/keras/compile.py``: compiling a loaded (memory-mapped) model to Keras copies each weight into
its variable and lets the mapped pages go, so the IR's weights and the Keras model are not both resident."""

import numpy as np
from pages_check import linux_only, resident_file_kib, two_wide_layers

from twinnet import to_keras


@linux_only
def test_to_keras_leaves_no_mapped_weights_resident(tmp_path):
    model, loaded = two_wide_layers(tmp_path)  # 8 MiB of kernels, memory-mapped, none read yet
    reference = to_keras(model)  # Keras's own code is paged in before measuring
    before = resident_file_kib()
    km = to_keras(loaded)
    assert resident_file_kib() - before < 4000, "the mapped kernels stayed resident after compiling"
    x = np.random.default_rng(0).standard_normal((2, 1024)).astype(np.float32)
    # the same outputs as the model compiled from weights in memory: nothing was lost with the pages
    np.testing.assert_allclose(np.asarray(km(x)), np.asarray(reference(x)), atol=1e-5, rtol=1e-4)
