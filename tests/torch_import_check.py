"""Helpers for the PyTorch import tests: randomised modules, example inputs, the round-trip check."""
import pytest
import torch
from torch import nn

import ir
from backends import from_torch, to_torch
from exporters import verify

ATOL, RTOL = 1e-5, 1e-4


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and BatchNorm statistic random; returns the module in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
    return net.eval()


def float_input(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def ids(*shape, vocab=20, seed=0):
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


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
