"""``backends/torch/compile.py``: filling a module from a loaded (memory-mapped) model copies each weight
into its tensor and lets the mapped pages go, so the IR's weights and the module are not both resident."""

import numpy as np
import torch
from pages_check import linux_only, resident_file_kib, two_wide_layers

from twinnet import to_torch


@linux_only
def test_to_torch_leaves_no_mapped_weights_resident(tmp_path):
    model, loaded = two_wide_layers(tmp_path)  # 8 MiB of kernels, memory-mapped, none read yet
    reference = to_torch(model)  # torch's own code is paged in before measuring
    before = resident_file_kib()
    module = to_torch(loaded)  # the kernels are transposed views: each is read, copied and let go
    assert resident_file_kib() - before < 4000, "the mapped kernels stayed resident after compiling"
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 1024)).astype(np.float32))
    with torch.no_grad():  # the same outputs as the module filled from weights in memory
        np.testing.assert_allclose(module(x).numpy(), reference(x).numpy(), atol=1e-5, rtol=1e-4)
