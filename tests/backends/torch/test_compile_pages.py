"""``backends/torch/compile.py``: filling a module from a loaded (memory-mapped) model copies each weight
into its tensor and lets the mapped pages go, so the IR's weights and the module are not both resident."""

import sys

import numpy as np
import pytest
import torch

from twinnet import ir, to_torch


def _resident_file_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RssFile from /proc/self/status")
def test_to_torch_leaves_no_mapped_weights_resident(tmp_path):
    model = ir.Sequential(
        [ir.layers.Dense(1024, name="wide"), ir.layers.Dense(1024, name="again")], input=ir.Input((1024,)), name="m"
    ).randomize(0)
    ir.save(model, tmp_path / "m.json")
    loaded = ir.load(tmp_path / "m.json")  # 8 MiB of kernels, memory-mapped, none read yet
    reference = to_torch(model)  # torch's own code is paged in before measuring
    before = _resident_file_kib()
    module = to_torch(loaded)  # the kernels are transposed views: each is read, copied and let go
    assert _resident_file_kib() - before < 4000, "the mapped kernels stayed resident after compiling"
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 1024)).astype(np.float32))
    with torch.no_grad():  # the same outputs as the module filled from weights in memory
        np.testing.assert_allclose(module(x).numpy(), reference(x).numpy(), atol=1e-5, rtol=1e-4)
