"""``CORE_TABLE`` (joined into ``MODULE_TABLE``): ``torch.nn`` module class -> the function turning one call into IR.

Each entry takes ``(ctx, call)`` (``ctx`` the importer, ``call.module`` the
module, ``call.args`` the converted inputs) and returns an IR tensor, built
with ``ctx.add(call, layer, inputs, weights)``. Weights are converted here
from torch's layout to the IR's (Keras's), one small function per layer: the
inverse of ``backends/torch/*.py``. An option the IR cannot represent raises
``ir.UnsupportedError``; the importer lists it with the module's name.

Torch's ``dim`` arguments are positions in the IR layout (the importer
declares every tensor in torch's axis order), turned into letters by
:func:`letter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from torch import nn

from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import AXES
from .adaptive import adaptive
from .capture import layout_for
from .recurrent import Lazy, rnn


def array(t) -> np.ndarray:
    """A parameter or buffer as a float32 numpy array (refusing other dtypes: the IR computes in float32)."""
    if t.dtype.is_floating_point and str(t.dtype) != "torch.float32":
        raise UnsupportedError(f"has {t.dtype} weights; the IR computes in float32 (convert the module first)")
    return t.detach().cpu().numpy().astype(np.float32)


def letter(x, dim: int, what: str = "dim") -> str:
    """The layout letter at torch position ``dim`` (negatives allowed), never the batch."""
    if isinstance(dim, bool) or not isinstance(dim, int) or not -x.spec.rank <= dim < x.spec.rank:
        raise UnsupportedError(f"{what}={dim!r} does not name an axis of a rank-{x.spec.rank} tensor")
    found = x.layout[dim]
    if found == "N":
        raise UnsupportedError(f"{what}={dim!r} is the batch axis")
    return found


def channels_first(ctx, call, x, nd: int):
    """``x`` as ``N, C, spatial...`` (what torch's conv and pooling read), relabelled if needed."""
    if x.spec.rank != nd + 2:
        raise UnsupportedError(f"expects a rank-{nd + 2} input, got rank {x.spec.rank}")
    return ctx.relabel(x, layout_for(nd + 2, 0, 1), call)


def channels_last(ctx, call, x):
    """``x`` with C last (what Linear and LayerNorm read), relabelled if needed."""
    if x.layout[-1] == "C":
        return x
    return ctx.relabel(x, layout_for(x.spec.rank, x.layout.index("N"), x.spec.rank - 1), call)


def _bias(m, weights: dict, key: str = "bias") -> bool:
    if m.bias is None:
        return False
    weights[key] = array(m.bias)
    return True


# -- core ------------------------------------------------------------------------------


def linear(ctx, call):
    m, x = call.module, channels_last(ctx, call, ctx.tensor(call.args[0]))
    weights = {"kernel": array(m.weight).T}  # torch (out, in) -> (in, out)
    return ctx.add(call, L.Dense(m.out_features, use_bias=_bias(m, weights)), [x], weights)


def conv(nd: int) -> Callable:
    def convert(ctx, call):
        m = call.module
        if m.padding_mode != "zeros":
            raise UnsupportedError(f"padding_mode={m.padding_mode!r} is not supported (only 'zeros')")
        x = channels_first(ctx, call, ctx.tensor(call.args[0]), nd)
        padding = m.padding if isinstance(m.padding, str) else tuple((p, p) for p in m.padding)
        if padding != "same" and all(p == (0, 0) for p in padding):
            padding = "valid"
        # torch (out, in/groups, k...) -> (k..., in/groups, out)
        weights = {"kernel": array(m.weight).transpose(*range(2, nd + 2), 1, 0)}
        layer = (L.Conv1D, L.Conv2D, L.Conv3D)[nd - 1](
            m.out_channels,
            m.kernel_size,
            strides=m.stride,
            padding=padding,
            dilation_rate=m.dilation,
            groups=m.groups,
            use_bias=_bias(m, weights),
        )
        return ctx.add(call, layer, [x], weights)

    return convert


def batch_norm(ctx, call, halves: dict | None = None):
    """``nn.BatchNorm1d/2d/3d``; ``halves`` are the affine parameters it learns by IR weight name (gamma, beta),
    by default both where ``affine``."""
    m, x = call.module, ctx.tensor(call.args[0])
    if not m.track_running_stats or m.running_mean is None:
        raise UnsupportedError("track_running_stats=False normalises with batch statistics even in eval mode")
    if m.momentum is None:
        raise UnsupportedError("momentum=None (a cumulative average) has no IR equivalent")
    if x.layout.index("N") != 0 or x.spec.rank < 2:
        raise UnsupportedError(f"expects the batch axis first, got layout {x.layout}")
    weights = {"moving_mean": array(m.running_mean), "moving_variance": array(m.running_var)}
    if halves is None:
        halves = {"gamma": m.weight, "beta": m.bias} if m.affine else {}
    weights.update({k: array(p) for k, p in halves.items()})
    center, scale = "beta" in halves, "gamma" in halves
    layer = L.BatchNorm(axis=x.layout[1], momentum=1.0 - m.momentum, epsilon=m.eps, center=center, scale=scale)
    return ctx.add(call, layer, [x], weights)


def layer_norm(ctx, call):
    m, x = call.module, ctx.tensor(call.args[0])
    k = len(m.normalized_shape)
    axes = x.layout[-k:]
    if "N" in axes:
        raise UnsupportedError(f"normalized_shape {tuple(m.normalized_shape)} reaches the batch axis")
    weights = {}
    scale = m.weight is not None
    center = m.bias is not None
    if scale:
        weights["gamma"] = array(m.weight)  # shaped like the normalised axes, in torch's (= declared) order
    if center:
        weights["beta"] = array(m.bias)
    return ctx.add(call, L.LayerNorm(axis=axes, epsilon=m.eps, center=center, scale=scale), [x], weights)


def dropout(ctx, call):
    # Dropout1d/2d drop whole channels in training; at inference, which the IR describes, all are identities
    return ctx.add(call, L.Dropout(call.module.p), [ctx.tensor(call.args[0])])


def identity(ctx, call):
    return ctx.tensor(call.args[0])


def flatten(ctx, call):
    m, x = call.module, ctx.tensor(call.args[0])
    if m.start_dim != 1 or m.end_dim not in (-1, x.spec.rank - 1) or x.layout[0] != "N":
        raise UnsupportedError(
            f"only Flatten(start_dim=1, end_dim=-1) on a batch-first tensor is supported "
            f"(got start_dim={m.start_dim}, end_dim={m.end_dim}, layout {x.layout})"
        )
    return ctx.add(call, L.Flatten(), [x])


def embedding(ctx, call):
    m, x = call.module, ctx.tensor(call.args[0])
    if m.max_norm is not None:
        raise UnsupportedError("max_norm renormalises the weights at every lookup, which the IR does not model")
    # padding_idx, scale_grad_by_freq and sparse change only training
    return ctx.add(call, L.Embedding(m.num_embeddings, m.embedding_dim), [x], {"embeddings": array(m.weight)})


# -- pooling ------------------------------------------------------------------------------


def _tuple(value, nd: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd


def windowed_pool(
    ctx,
    call,
    x,
    nd: int,
    ir_class,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    return_indices=False,
    count_include_pad=True,
    divisor_override=None,
    ceil_mode=False,
    extra=None,
):
    """A max/avg pooling (module or function) with torch's arguments -> the IR pool, or UnsupportedError."""
    x = channels_first(ctx, call, x, nd)
    k, pads = _tuple(kernel_size, nd), _tuple(padding, nd)
    s = _tuple(stride if stride not in (None, ()) else kernel_size, nd)
    if ir_class in (L.MaxPool1D, L.MaxPool2D):
        if any(d != 1 for d in _tuple(dilation, nd)) or return_indices:
            raise UnsupportedError("dilation and return_indices are not supported")
    elif divisor_override is not None:
        raise UnsupportedError("divisor_override is not supported (the IR divides by the window or its real count)")
    sizes = [x.spec.dim(a) for a in x.layout[2:]]
    # torch pads both sides alike (with -inf for max); the IR takes the same explicit pads
    pairs = [(p, p) for p in pads]
    if extra is not None:  # a -inf pad in front of a max pool (MaxPads)
        pairs = [(p + b, p + a) for p, (b, a) in zip(pads, extra)]
    is_max = ir_class in (L.MaxPool1D, L.MaxPool2D)
    if ceil_mode:
        pairs = ceil_pads(sizes, k, s, pads)
        if not is_max and any(p and hi > p for p, (_, hi) in zip(pads, pairs)) and count_include_pad:
            # torch then counts the symmetric pads but not the extra window: neither IR divisor
            raise UnsupportedError(
                f"ceil_mode=True with padding={padding} and count_include_pad=True adds a partial window for "
                f"input size {tuple(sizes)} whose divisor counts some pads and not others"
            )
        count_include_pad = count_include_pad and pairs == [(p, p) for p in pads]
    mode = tuple(pairs) if any(b or a for b, a in pairs) else "valid"
    options = {} if is_max else {"count_include_pad": bool(count_include_pad)}
    return ctx.add(call, ir_class(k, strides=s, padding=mode, **options), [x])


def ceil_pads(sizes, kernel, strides, pads) -> list[tuple[int, int]]:
    """Pads (before, after) that give torch's ``ceil_mode=True`` output: the extra partial window at the
    end becomes extra padding after, never a window that starts in it (torch drops such a window)."""
    if any(n is None for n in sizes):
        raise UnsupportedError(f"ceil_mode=True needs known input sizes, got {tuple(sizes)}")
    pairs = []
    for n, k, s, p in zip(sizes, kernel, strides, pads):
        out = -(-(n + 2 * p - k) // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
        pairs.append((p, p + max(0, (out - 1) * s + k - n - 2 * p)))
    return pairs


@dataclass(eq=False)
class MaxPads(Lazy):
    """A channels-first tensor padded with -inf (``nn.ConstantPad2d(pads, -inf)``, how ``to_torch`` writes a max
    pool's uneven pads): only a max pool reads it, taking ``pairs`` (before, after per spatial axis) as its own."""

    x: object
    pairs: tuple
    why = "a -inf pad is read only by a max pooling (which takes it as its own pads)"


def pool(nd: int, ir_class) -> Callable:
    def convert(ctx, call):
        m, x, pairs = call.module, call.args[0], None
        if isinstance(x, MaxPads) and ir_class in (L.MaxPool1D, L.MaxPool2D) and not m.ceil_mode:
            x, pairs = x.x, x.pairs
        out = windowed_pool(
            ctx,
            call,
            ctx.tensor(x),
            nd,
            ir_class,
            m.kernel_size,
            m.stride,
            m.padding,
            getattr(m, "dilation", 1),
            getattr(m, "return_indices", False),
            getattr(m, "count_include_pad", True),
            getattr(m, "divisor_override", None),
            m.ceil_mode,
            extra=pairs,
        )
        return out

    return convert


def adaptive_pool(nd: int, kind: str) -> Callable:
    def convert(ctx, call):
        x = channels_first(ctx, call, ctx.tensor(call.args[0]), nd)
        return adaptive(ctx, call, x, nd, kind, call.module.output_size)

    return convert


# -- activations -------------------------------------------------------------------------


def activation(name: str, **params: Callable) -> Callable:
    """An activation module; ``params`` read IR parameters from the module."""

    def convert(ctx, call):
        m = call.module
        return ctx.add(
            call, L.Activation(name, **{k: read(m) for k, read in params.items()}), [ctx.tensor(call.args[0])]
        )

    return convert


def gelu(ctx, call):
    approximate = call.module.approximate
    return ctx.add(call, L.Activation("gelu", approximate=approximate == "tanh"), [ctx.tensor(call.args[0])])


def softplus(ctx, call):
    if call.module.beta != 1:
        raise UnsupportedError(f"beta={call.module.beta} is not supported (only beta=1)")
    return ctx.add(call, L.Activation("softplus"), [ctx.tensor(call.args[0])])


def softmax(name: str) -> Callable:
    def convert(ctx, call):
        x = ctx.tensor(call.args[0])
        if call.module.dim is None:
            raise UnsupportedError("dim=None picks an axis by rank (a deprecated torch rule); pass dim")
        axis = letter(x, call.module.dim)
        if axis not in AXES:  # a free letter (attention scores' heads): the op tier's softmax
            return ctx.add(call, O.Softmax(axis, log=name == "log_softmax"), [x])
        return ctx.add(call, L.Activation(name, axis=axis), [x])

    return convert


#: the core torch.nn modules -> converter; keyed by the exact class (a subclass may override forward).
#: ``torch_module_table.MODULE_TABLE`` joins it with the conv-variant and attention tables.
CORE_TABLE: dict[type, Callable] = {
    nn.Linear: linear,
    nn.Conv1d: conv(1),
    nn.Conv2d: conv(2),
    nn.Conv3d: conv(3),
    nn.BatchNorm1d: batch_norm,
    nn.BatchNorm2d: batch_norm,
    nn.LayerNorm: layer_norm,
    nn.Dropout: dropout,
    nn.Dropout1d: dropout,
    nn.Dropout2d: dropout,
    nn.Identity: identity,
    nn.Flatten: flatten,
    nn.Embedding: embedding,
    nn.MaxPool1d: pool(1, L.MaxPool1D),
    nn.MaxPool2d: pool(2, L.MaxPool2D),
    nn.AvgPool1d: pool(1, L.AvgPool1D),
    nn.AvgPool2d: pool(2, L.AvgPool2D),
    nn.AdaptiveAvgPool1d: adaptive_pool(1, "avg"),
    nn.AdaptiveAvgPool2d: adaptive_pool(2, "avg"),
    nn.AdaptiveMaxPool1d: adaptive_pool(1, "max"),
    nn.AdaptiveMaxPool2d: adaptive_pool(2, "max"),
    nn.ReLU: activation("relu"),
    nn.Sigmoid: activation("sigmoid"),
    nn.Tanh: activation("tanh"),
    nn.GELU: gelu,
    nn.SiLU: activation("silu"),
    nn.ELU: activation("elu", alpha=lambda m: m.alpha),
    nn.SELU: activation("selu"),
    nn.LeakyReLU: activation("leaky_relu", negative_slope=lambda m: m.negative_slope),
    nn.Softplus: softplus,
    nn.Hardsigmoid: activation("hard_sigmoid"),
    nn.Hardswish: activation("hard_swish"),
    nn.Softmax: softmax("softmax"),
    nn.LogSoftmax: softmax("log_softmax"),
    nn.LSTM: rnn,
    nn.GRU: rnn,
    nn.RNN: rnn,
}
