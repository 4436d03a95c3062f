"""Source of the few things torch lacks, inlined into generated files so they run standalone.

Their source is written as ruff format writes it, since it is copied into emitted files as is.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from . import helpers_norm


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
            z = torch.sigmoid(gi[t, :, u : 2 * u] + h @ w_hh[u : 2 * u].T)
            n = torch.tanh(gi[t, :, 2 * u :] + (r * h) @ w_hh[2 * u :].T)
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
    """Layer normalisation over arbitrary dims (for tensors held channels-first): F.layer_norm with those dims moved
    last and back (views); the parameters are shaped like the input, with ones on the other axes."""

    def __init__(self, shape, dims, eps, elementwise_affine=True, bias=True):
        super().__init__()
        self.dims, self.eps = tuple(dims), eps
        self.weight = nn.Parameter(torch.ones(shape)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None

    def forward(self, x):
        last = tuple(range(-len(self.dims), 0))
        moved = x.movedim(self.dims, last)  # the normalised axes last (a view), as F.layer_norm takes them
        shape = moved.shape[-len(self.dims) :]  # len(self.dims) >= 1; no len() of a shape (torch.fx traces this)
        weight = None if self.weight is None else self.weight.reshape(shape)
        bias = None if self.bias is None else self.bias.reshape(shape)
        return F.layer_norm(moved, shape, weight, bias, self.eps).movedim(last, self.dims)


class ChannelDense1d(nn.Conv1d):
    """A Dense over the channels of an (N, C, W) tensor: a 1x1 convolution, named as the Dense it is."""


class ChannelDense2d(nn.Conv2d):
    """A Dense over the channels of an (N, C, H, W) tensor: a 1x1 convolution, named as the Dense it is."""


class ChannelDense3d(nn.Conv3d):
    """A Dense over the channels of an (N, C, D, H, W) tensor: a 1x1 convolution, named as the Dense it is."""


class ChannelLastBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last axis of an (N, ..., C) tensor; same parameters and statistics as nn.BatchNorm1d."""

    def forward(self, x):
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class KerasAttention(nn.Module):
    """Keras's MultiHeadAttention where ``nn.MultiheadAttention`` cannot express it (``key_dim * num_heads``
    other than the query features, ``value_dim != key_dim``, or an ``output_shape``): per-head nn.Linear
    projections, then ``F.scaled_dot_product_attention`` (scale 1/sqrt(key_dim), as Keras). Called like
    ``nn.MultiheadAttention``: masks are True where attention is *blocked*; returns ``(output, None)``."""

    def __init__(
        self,
        query_dim,
        key_in,
        value_in,
        num_heads,
        key_dim,
        value_dim,
        output_dim,
        bias=True,
        batch_first=True,
        dropout=0.0,
    ):
        super().__init__()
        self.num_heads, self.batch_first, self.dropout = num_heads, batch_first, dropout
        self.q_proj = nn.Linear(query_dim, num_heads * key_dim, bias=bias)
        self.k_proj = nn.Linear(key_in, num_heads * key_dim, bias=bias)
        self.v_proj = nn.Linear(value_in, num_heads * value_dim, bias=bias)
        self.out_proj = nn.Linear(num_heads * value_dim, output_dim, bias=bias)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None, need_weights=False):
        if not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        b, t, s, h = query.shape[0], query.shape[1], key.shape[1], self.num_heads
        q = self.q_proj(query).reshape(b, t, h, -1).transpose(1, 2)  # (B, H, T, d)
        k = self.k_proj(key).reshape(b, s, h, -1).transpose(1, 2)
        v = self.v_proj(value).reshape(b, s, h, -1).transpose(1, 2)
        keep = None  # scaled_dot_product_attention's bool mask is True where attention is *allowed*
        if key_padding_mask is not None:
            keep = ~key_padding_mask[:, None, None, :]
        if attn_mask is not None:
            keep = ~attn_mask if keep is None else keep & ~attn_mask
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=self.dropout if self.training else 0.0)
        out = self.out_proj(out.transpose(1, 2).reshape(b, t, -1))
        return (out if self.batch_first else out.transpose(0, 1)), None


HELPERS = {
    c.__name__: c
    for c in (
        GRUResetBefore,
        ChannelLayerNorm,
        ChannelDense1d,
        ChannelDense2d,
        ChannelDense3d,
        ChannelLastBatchNorm,
        KerasAttention,
        *helpers_norm.HELPERS,
    )
}


def source(name: str) -> str:
    return inspect.getsource(HELPERS[name]).rstrip()


LOADER = '''def load_weights(module, path):
    """Load a safetensors file into ``module`` (needs only torch)."""
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
    state = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
            begin, end = entry["data_offsets"]
            chunk = bytearray(end - begin)  # each tensor read straight into its own buffer
            f.seek(8 + n + begin)
            f.readinto(chunk)
            state[name] = torch.frombuffer(chunk, dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    module.load_state_dict(state, assign=True)  # the module takes these tensors rather than copying them
    return module'''

_ = math  # helpers' source may use math
