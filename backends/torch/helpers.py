"""Source of the few things torch lacks, inlined into generated files so they run standalone."""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn


class GRUResetBefore(nn.Module):
    """GRU with the reset gate applied *before* the recurrent matmul (Keras ``reset_after=False``):
    ``n = tanh(W_in x + b_in + W_hn (r * h))``. Parameters are named as in ``nn.GRU`` (gates r, z, n),
    with one bias per direction."""

    def __init__(self, input_size, hidden_size, batch_first=True, bidirectional=False, bias=True):
        super().__init__()
        self.hidden_size, self.batch_first, self.bidirectional = hidden_size, batch_first, bidirectional
        for suffix in ["_l0", "_l0_reverse"][: 2 if bidirectional else 1]:
            self.register_parameter("weight_ih" + suffix, nn.Parameter(torch.zeros(3 * hidden_size, input_size)))
            self.register_parameter("weight_hh" + suffix, nn.Parameter(torch.zeros(3 * hidden_size, hidden_size)))
            if bias:
                self.register_parameter("bias" + suffix, nn.Parameter(torch.zeros(3 * hidden_size)))
            else:
                self.register_parameter("bias" + suffix, None)

    def _run(self, x, suffix, reverse):
        w_ih, w_hh, b = (getattr(self, n + suffix) for n in ("weight_ih", "weight_hh", "bias"))
        u = self.hidden_size
        gi = F.linear(x, w_ih, b)  # (T, N, 3U)
        h = x.new_zeros(x.shape[1], u)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outs = []
        for t in steps:
            r = torch.sigmoid(gi[t, :, :u] + h @ w_hh[:u].T)
            z = torch.sigmoid(gi[t, :, u:2 * u] + h @ w_hh[u:2 * u].T)
            n = torch.tanh(gi[t, :, 2 * u:] + (r * h) @ w_hh[2 * u:].T)
            h = z * h + (1 - z) * n
            outs.append(h)
        if reverse:
            outs.reverse()
        return torch.stack(outs), h

    def forward(self, x):
        if self.batch_first:
            x = x.transpose(0, 1)
        out, h = self._run(x, "_l0", False)
        hs = [h]
        if self.bidirectional:
            out_b, h_b = self._run(x, "_l0_reverse", True)
            out, hs = torch.cat([out, out_b], dim=-1), [h, h_b]
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, torch.stack(hs)


class ChannelLayerNorm(nn.Module):
    """Layer normalisation over arbitrary dims (for tensors held channels-first); biased variance as nn.LayerNorm."""

    def __init__(self, shape, dims, eps, elementwise_affine=True, bias=True):
        super().__init__()
        self.dims, self.eps = tuple(dims), eps
        self.weight = nn.Parameter(torch.ones(shape)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None

    def forward(self, x):
        mean = x.mean(self.dims, keepdim=True)
        var = ((x - mean) ** 2).mean(self.dims, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            x = x * self.weight
        if self.bias is not None:
            x = x + self.bias
        return x


class ChannelLastBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last axis of an (N, ..., C) tensor; same parameters and statistics as nn.BatchNorm1d."""

    def forward(self, x):
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


HELPERS = {c.__name__: c for c in (GRUResetBefore, ChannelLayerNorm, ChannelLastBatchNorm)}


def source(name: str) -> str:
    return inspect.getsource(HELPERS[name]).rstrip()


LOADER = '''def load_weights(module, path):
    """Load a safetensors file into ``module`` (needs only torch)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    state = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        chunk = bytearray(data[begin:end])
        state[name] = torch.frombuffer(chunk, dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    module.load_state_dict(state)
    return module'''

_ = math  # helpers' source may use math
