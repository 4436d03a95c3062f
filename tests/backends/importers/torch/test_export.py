"""from_torch captures with torch.export (``export.py``), torch.fx symbolic tracing being the reported fallback.

Each module is imported on batch-2 examples and compared with the source at
batch 2 and 3 (atol 1e-5, rtol 1e-4, seeded random weights and statistics);
``model.capture`` says which capture ran and why a fallback was taken.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import ATOL, RTOL, float_input, randomize

from twinnet import ir
from twinnet.backends import from_torch, to_torch
from twinnet.backends.importers.torch.aten import ATEN_TABLE
from twinnet.backends.importers.torch.export import export_graph


def same(model, net, make, fixed=None, **kwargs_at):
    """``to_torch(model)`` on the flat inputs equals ``net`` called with them (keywords from ``kwargs_at``,
    non-tensor keywords ``fixed`` as at the import)."""
    tm = to_torch(model)
    for batch in (2, 3):
        xs = make(batch, batch)
        kws = {k: f(batch, batch) for k, f in kwargs_at.items()}
        with torch.no_grad():
            torch.testing.assert_close(tm(*xs, *kws.values()), net(*xs, **kws, **(fixed or {})), atol=ATOL, rtol=RTOL)


class Gated(nn.Module):
    """A keyword tensor argument, an optional one left out, a Python flag given by keyword."""

    def __init__(self):
        super().__init__()
        self.fc, self.gate = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x, gate=None, bias=None, double: bool = False):
        y = self.fc(x)
        if gate is not None:
            y = y * torch.sigmoid(self.gate(gate))
        if bias is not None:
            y = y + bias
        return y + y if double else y


def test_keyword_and_optional_arguments():
    net = randomize(Gated())
    model = from_torch(net, (float_input(2, 4),), example_kwargs={"gate": float_input(2, 4, seed=1), "double": True})
    assert model.capture.method == "torch.export" and model.capture.reason is None
    assert len(model.inputs) == 2  # x and gate; bias stays None, double is fixed at True
    make = lambda b, s: (float_input(b, 4, seed=s),)  # noqa: E731
    same(model, net, make, {"double": True}, gate=lambda b, s: float_input(b, 4, seed=s + 7))


class Checked(nn.Module):
    """A forward symbolic tracing cannot follow: it branches on ``x.ndim`` and checks with ``torch._assert``."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 2)

    def forward(self, x):
        if x.ndim == 3:
            x = x.unsqueeze(0)
        torch._assert(x.shape[1] == 3, "expects three channels")
        return self.fc(F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1))


def test_a_forward_only_export_captures():
    net = randomize(Checked())
    try:
        torch.fx.symbolic_trace(net)
        raise AssertionError("torch.fx traced it: the test no longer shows what export adds")
    except torch.fx.proxy.TraceError:
        pass
    model = from_torch(net, (float_input(2, 3, 6, 6),), rewrites=False)  # the layers as read, before the rewrites
    assert model.capture.method == "torch.export"
    assert [type(n.layer).__name__ for n in model.nodes if not n.is_input][:2] == ["Conv2D", "Activation"]
    same(model, net, lambda b, s: (float_input(b, 3, 6, 6, seed=s),))


class Pooled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        return F.adaptive_max_pool2d(self.conv(x), 1)


def test_the_fallback_is_reported():
    # aten.adaptive_max_pool2d has no ATen table entry; F.adaptive_max_pool2d, as torch.fx records it, has one
    net = randomize(Pooled())
    model = from_torch(net, (float_input(2, 2, 4, 5),))
    assert model.capture.method == "torch.fx"
    assert "aten.adaptive_max_pool2d" in model.capture.reason
    same(model, net, lambda b, s: (float_input(b, 2, 4, 5, seed=s),))


class MaxOverTime(nn.Module):
    """``nn.AdaptiveMaxPool1d(1)``, whose ATen op returns values and indices (a tuple): its call folds back."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv1d(2, 3, 3, padding=1), nn.AdaptiveMaxPool1d(1)

    def forward(self, x):
        return self.pool(torch.relu(self.conv(x))).flatten(1)


def test_a_module_returning_a_tuple_folds_back_under_export():
    net = randomize(MaxOverTime())
    model = from_torch(net, (float_input(2, 2, 7),))
    assert model.capture.method == "torch.export", model.capture.reason
    same(model, net, lambda b, s: (float_input(b, 2, 7, seed=s),))


class Upsampled(nn.Module):
    """Bilinear and nearest upsampling, and a bilinear halving (MobileViT at small sizes), under export."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        up = F.interpolate(self.conv(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        near = F.interpolate(x, size=(8, 10), mode="nearest")
        return F.interpolate(up, size=(4, 5), mode="bilinear", align_corners=False), near


def test_upsampling_under_export():
    net = randomize(Upsampled())
    model = from_torch(net, (float_input(2, 2, 4, 5),))
    assert model.capture.method == "torch.export"
    assert {"UpSampling2D", "AvgPool2D"} <= {type(n.layer).__name__ for n in model.layers}
    same(model, net, lambda b, s: (float_input(b, 2, 4, 5, seed=s),))


class Cumulative(nn.Module):
    """``torch.cumsum`` (no IR layer) behind an ``x.ndim`` branch that symbolic tracing cannot follow."""

    def forward(self, x):
        return torch.cumsum(x, 1) if x.ndim == 2 else x


def test_an_unmapped_aten_op_is_refused_by_name():
    try:
        from_torch(Cumulative(), (float_input(2, 5),))
        raise AssertionError("imported an op the IR has no layer for")
    except ir.UnsupportedError as e:
        assert [(p.where, p.what) for p in e.problems] == [("cumsum", "aten.cumsum.default")], e


def test_module_calls_fold_back_into_modules():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha, self.lstm = nn.MultiheadAttention(4, 2, batch_first=True), nn.LSTM(4, 3, batch_first=True)

        def forward(self, x):
            y, _ = self.mha(x, x, x)
            out, (h, c) = self.lstm(y + x)
            return out[:, -1] + h[0]

    gm, _ = export_graph(Shared().eval(), (float_input(2, 5, 4),), {})
    calls = [(n.target, n.args) for n in gm.graph.nodes if n.op == "call_module"]
    assert [t for t, _ in calls] == ["mha", "lstm"]
    assert len(set(calls[0][1][:3])) == 1  # mha(x, x, x): one graph value three times
    assert not any(str(n.target).startswith("aten.lstm") for n in gm.graph.nodes)


def test_every_aten_entry_has_a_converter_the_tables_join():
    from twinnet.backends.importers.torch.tables import FUNCTION_TABLE

    assert all(FUNCTION_TABLE[k] is v for k, v in ATEN_TABLE.items())
