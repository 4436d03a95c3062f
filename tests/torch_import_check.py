"""Helpers for the PyTorch import tests: randomised modules, example inputs, the round-trip check."""

import pytest
import torch

from examples.torch_archs import float_input, ids, randomize  # noqa: F401 (the tests' helpers, one copy)
from twinnet import ir
from twinnet.backends import from_torch, to_torch
from twinnet.exporters import verify

ATOL, RTOL = 1e-5, 1e-4


def check(net, make_inputs, paths=("keras", "torch", "onnx-keras", "onnx-torch")) -> ir.Model:
    """Import ``net`` on batch-2 examples; to_torch must match ``net`` at batch 2 and 3; verify must pass."""
    model = from_torch(net, make_inputs(2, 0))
    tm = to_torch(model)
    worst = 0.0
    for batch in (2, 3):
        xs = make_inputs(batch, batch)
        with torch.no_grad():
            ref, out = net(*xs), tm(*xs)
        refs = ref if isinstance(ref, tuple) else (ref,)
        outs = out if isinstance(out, tuple) else (out,)
        assert len(refs) == len(outs)
        for r, o in zip(refs, outs):
            assert o.shape == r.shape
            torch.testing.assert_close(o, r, atol=ATOL, rtol=RTOL)
            worst = max(worst, float((o.double() - r.double()).abs().max()))
    report = verify(model, paths=paths)
    assert report.ok, "\n" + report.table()
    print(f"{type(net).__name__}: max|diff| torch -> IR -> torch vs the source: {worst:.2e}")
    return model


def problems(net, *xs):
    with pytest.raises(ir.UnsupportedError) as info:
        from_torch(net, xs)
    return info.value, {p.where: p for p in info.value.problems}
