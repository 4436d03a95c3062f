"""``CORE_FUNCTIONS`` and ``CORE_METHODS`` (joined into ``tables.py``'s ``FUNCTION_TABLE`` and
``METHOD_TABLE``): functions, operators and tensor methods in a traced graph -> IR.

Keys are the function objects fx records (``operator.add``, ``torch.cat``,
``F.gelu``) and, for methods, the ``torch.Tensor`` method itself
(``torch.Tensor.view``), never names. Entries take ``(ctx, call)`` like
``MODULE_TABLE``'s. Shape-only values (``x.size(0)``, ``x.shape``) are the
numbers recorded on the example run; reshapes read their target shape from
the recorded output, the batch axis from the two recorded runs, and a size
that changed on the run at another sequence length becomes the target's -1.
"""

from __future__ import annotations

import operator
from typing import Callable

import torch
import torch.nn.functional as F

from .... import ir
from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .adaptive import adaptive
from .arith import is_number, with_constant
from .capture import guess_layout, layout_for
from .modules import channels_first, letter, windowed_pool
from .recurrent import Lazy, concat_halves, select, squeeze_state
from .slicing import index_tensor

__all__ = ["CORE_FUNCTIONS", "CORE_METHODS", "Lazy"]

#: what a squeeze is recorded as: fx's method name and function, export's ATen ops (an LSTM state's squeeze)
SQUEEZES = (
    "squeeze",
    torch.squeeze,
    torch.ops.aten.squeeze.dim,
    torch.ops.aten.squeeze.dims,
    torch.ops.aten.squeeze.default,
)


def _is_tensor(v) -> bool:
    return isinstance(v, (ir.Tensor, Lazy))


# -- arithmetic and merges -------------------------------------------------------------------


def elementwise(ir_class, op) -> Callable:
    def convert(ctx, call):
        a, b = call.arg(0, "input"), call.arg(1, "other")
        if not _is_tensor(a) and not _is_tensor(b):
            return op(a, b)  # arithmetic on sizes (x.size(1) * x.size(2)): plain numbers
        if call.kwargs.get("alpha", 1) != 1:
            raise UnsupportedError("alpha != 1 is not supported")
        if not (_is_tensor(a) and _is_tensor(b)):
            if is_number(a) or is_number(b):
                return with_constant(ctx, call, op, a, b)
            raise UnsupportedError(f"an operation with a {type(b if _is_tensor(a) else a).__name__} has no IR layer")
        x, y = ctx.tensor(a), ctx.tensor(b)
        return ctx.add(call, ir_class(), [x, ctx.relabel(y, x.layout, call)])

    return convert


def cat(ctx, call):
    values, dim = list(call.arg(0, "tensors")), call.arg(1, "dim", 0)
    halves = concat_halves(ctx, call, values, dim)
    if halves is not None:
        return halves
    xs = [ctx.tensor(v) for v in values]
    if len(xs) == 1:
        return xs[0]
    xs = [xs[0]] + [ctx.relabel(x, xs[0].layout, call) for x in xs[1:]]
    return ctx.add(call, L.Concatenate(axis=letter(xs[0], dim)), xs)


# -- activations --------------------------------------------------------------------------


def unary(name: str, **params: tuple) -> Callable:
    """An activation function; ``params``: IR parameter -> (position, keyword, torch default)."""

    def convert(ctx, call):
        x = ctx.tensor(call.arg(0, "input"))
        kwargs = {k: call.arg(pos, key, default) for k, (pos, key, default) in params.items()}
        return ctx.add(call, L.Activation(name, **kwargs), [x])

    return convert


def gelu(ctx, call):
    approximate = call.arg(1, "approximate", "none")
    return ctx.add(call, L.Activation("gelu", approximate=approximate == "tanh"), [ctx.tensor(call.arg(0, "input"))])


def softplus(ctx, call):
    if call.arg(1, "beta", 1) != 1:
        raise UnsupportedError("beta != 1 is not supported")
    return ctx.add(call, L.Activation("softplus"), [ctx.tensor(call.arg(0, "input"))])


def softmax(name: str) -> Callable:
    def convert(ctx, call):
        x, dim = ctx.tensor(call.arg(0, "input")), call.arg(1, "dim")
        if dim is None:
            raise UnsupportedError("dim=None picks an axis by rank (a deprecated torch rule); pass dim")
        if call.kwargs.get("dtype") is not None:
            raise UnsupportedError("dtype= is not supported (the IR computes in float32)")
        return ctx.add(call, L.Activation(name, axis=letter(x, dim)), [x])

    return convert


def dropout(ctx, call):
    if call.arg(2, "training", True):
        raise UnsupportedError(
            "F.dropout with training=True (its default) drops at inference too; pass training=self.training"
        )
    return ctx.add(call, L.Dropout(call.arg(1, "p", 0.5)), [ctx.tensor(call.arg(0, "input"))])


# -- shapes -------------------------------------------------------------------------------------


def _flatten_to(ctx, call, x):
    if x.spec.rank == 2:
        return x
    return ctx.add(call, L.Flatten(), [x])


def flatten(ctx, call):
    x = ctx.tensor(call.arg(0, "input"))
    start = call.arg(1, "start_dim", 0)
    end = call.arg(2, "end_dim", -1)
    if x.layout[0] != "N" or start < 1 or end not in (-1, x.spec.rank - 1):
        raise UnsupportedError(
            f"only flatten(x, start_dim >= 1) of a batch-first tensor is supported "
            f"(start_dim={start}, end_dim={end}, layout {x.layout})"
        )
    return _flatten_to(ctx, call, x) if start == 1 else reshape(ctx, call)  # merging trailing axes: a Reshape


def reshape(ctx, call):
    """view / reshape / squeeze / unsqueeze: the recorded output shape, the batch kept first."""
    value = call.arg(0, "input")
    if call.node.target in SQUEEZES:
        dims = tuple(a for a in call.args[1:] if isinstance(a, int)) or (
            (call.kwargs["dim"],) if "dim" in call.kwargs else ()
        )
        state = squeeze_state(ctx, call, value, dims)
        if state is not None:
            return state
    x = ctx.tensor(value)
    info, n = call.info, ctx.n_pos(call.node)
    src = call.node.args[0] if call.node.args else None
    before = ctx.run1.get(src) if isinstance(src, torch.fx.Node) else None
    if n == 0 and before is not None and ctx.n_pos(src) == 0 and info is not None:
        n = None if info.shape[0] != before.shape[0] else n  # x.reshape(-1, ...) of a batch grown with it
    if x.layout[0] != "N" or n != 0:
        raise UnsupportedError(
            f"reshapes that move or merge the batch axis are not supported (input {x.layout}, "
            f"output shape {getattr(info, 'shape', '?')})"
        )
    shape = ctx.shape(call.node)[1:]  # None: a size that follows a symbolic length
    if shape == tuple(s for s in x.shape[1:]):
        return x
    if len(shape) == 1:
        return _flatten_to(ctx, call, x)
    if shape.count(None) > 1:
        raise UnsupportedError(f"a reshape to {shape} has more than one size that follows the sequence length")
    layout = guess_layout(ctx.gm, call.node, len(shape) + 1, False, reshaped=(x.layout, x.shape[1:], shape))
    shape = tuple(-1 if s is None else s for s in shape)
    if layout.index("N") != 0:
        layout = layout_for(len(shape) + 1, 0, 1)
    return ctx.add(call, L.Reshape(shape, layout=layout), [x])


def dims_of(call, first: int = 1) -> tuple:
    rest = call.args[first:] or (call.kwargs.get("dims"),)
    return tuple(rest[0]) if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else tuple(rest)


def permute(ctx, call):
    x = ctx.tensor(call.arg(0, "input"))
    dims = dims_of(call)
    if sorted(d % x.spec.rank for d in dims) != list(range(x.spec.rank)):
        raise UnsupportedError(f"dims {dims} are not a permutation of the {x.spec.rank} axes")
    target = "".join(x.layout[d] for d in dims)
    return x if target == x.layout else ctx.add(call, L.Permute(target), [x])


def transpose(ctx, call):
    x = ctx.tensor(call.arg(0, "input"))
    a, b = (d % x.spec.rank for d in (call.arg(1, "dim0"), call.arg(2, "dim1")))
    letters = list(x.layout)
    letters[a], letters[b] = letters[b], letters[a]
    target = "".join(letters)
    return x if target == x.layout else ctx.add(call, L.Permute(target), [x])


def passthrough(ctx, call):
    return call.args[0]  # contiguous(): same values, whatever the memory order


def size(ctx, call):
    return ctx.consts[call.node]  # a number (or torch.Size) from the example run


def attribute(ctx, call):
    if call.args[1] != "shape":
        raise UnsupportedError(f"reading attribute {call.args[1]!r} is not supported")
    return ctx.consts[call.node]


def getitem(ctx, call):
    value, index = call.args[0], call.args[1]
    if isinstance(value, Lazy):
        found = value.pick(index) if hasattr(value, "pick") else select(ctx, call, value, index)
        if found is None:
            raise UnsupportedError(value.why)
        return found
    if isinstance(value, ir.Tensor):
        return index_tensor(ctx, call, value, index)
    return value[index]  # a tuple of results, or sizes


def reduce(avg: bool) -> Callable:
    """mean / amax over exactly the spatial axes -> global pooling (keepdim kept)."""

    def convert(ctx, call):
        x = ctx.tensor(call.arg(0, "input"))
        dim = call.arg(1, "dim")
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        if dim is None or not all(isinstance(d, int) for d in dims):
            raise UnsupportedError("a reduction over every axis (no dim) is not supported")
        letters = {letter(x, d) for d in dims}
        spatial = {a for a in x.layout if a not in "NC"}
        if "C" not in x.layout or letters != spatial or len(spatial) not in (1, 2):
            raise UnsupportedError(
                f"only a reduction over all the spatial axes of a tensor with channels is "
                f"supported (global pooling); got dim={dim} on layout {x.layout}"
            )
        kind = {
            (True, 1): L.GlobalAvgPool1D,
            (True, 2): L.GlobalAvgPool2D,
            (False, 1): L.GlobalMaxPool1D,
            (False, 2): L.GlobalMaxPool2D,
        }[avg, len(spatial)]
        if call.kwargs.get("dtype") is not None:
            raise UnsupportedError("dtype= is not supported")
        return ctx.add(call, kind(keepdims=bool(call.arg(2, "keepdim", False))), [x])

    return convert


def functional_pool(nd: int, ir_class, names: tuple) -> Callable:
    """F.max_poolNd / F.avg_poolNd: torch's arguments by position or keyword, after the input."""

    def convert(ctx, call):
        given = {name: call.arg(i + 1, name) for i, name in enumerate(names) if call.arg(i + 1, name) is not None}
        return windowed_pool(ctx, call, ctx.tensor(call.arg(0, "input")), nd, ir_class, **given)

    return convert


_MAX_ARGS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_ARGS = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")


def functional_adaptive(nd: int, kind: str) -> Callable:
    def convert(ctx, call):
        if call.arg(2, "return_indices", False):
            raise UnsupportedError("return_indices=True is not supported")
        x = channels_first(ctx, call, ctx.tensor(call.arg(0, "input")), nd)
        return adaptive(ctx, call, x, nd, kind, call.arg(1, "output_size"))

    return convert


_ADD, _SUB, _MUL = (
    elementwise(L.Add, operator.add),
    elementwise(L.Subtract, operator.sub),
    elementwise(L.Multiply, operator.mul),
)
_SIMPLE = {"relu": unary("relu"), "sigmoid": unary("sigmoid"), "tanh": unary("tanh")}
_SOFTMAX, _LOG_SOFTMAX = softmax("softmax"), softmax("log_softmax")

#: function (as fx records it) -> converter
CORE_FUNCTIONS: dict[Callable, Callable] = {
    operator.add: _ADD,
    operator.sub: _SUB,
    operator.mul: _MUL,
    torch.add: _ADD,
    torch.sub: _SUB,
    torch.mul: _MUL,
    torch.cat: cat,
    torch.concat: cat,
    torch.flatten: flatten,
    torch.reshape: reshape,
    torch.squeeze: reshape,
    torch.unsqueeze: reshape,
    torch.permute: permute,
    torch.transpose: transpose,
    torch.relu: _SIMPLE["relu"],
    torch.sigmoid: _SIMPLE["sigmoid"],
    torch.tanh: _SIMPLE["tanh"],
    torch.softmax: _SOFTMAX,
    torch.log_softmax: _LOG_SOFTMAX,
    F.softmax: _SOFTMAX,
    F.log_softmax: _LOG_SOFTMAX,
    F.relu: _SIMPLE["relu"],
    F.gelu: gelu,
    F.silu: unary("silu"),
    F.elu: unary("elu", alpha=(1, "alpha", 1.0)),
    F.selu: unary("selu"),
    F.leaky_relu: unary("leaky_relu", negative_slope=(1, "negative_slope", 0.01)),
    F.softplus: softplus,
    F.hardsigmoid: unary("hard_sigmoid"),
    F.hardswish: unary("hard_swish"),
    F.dropout: dropout,
    torch.mean: reduce(True),
    torch.amax: reduce(False),
    torch.maximum: elementwise(L.Maximum, max),
    F.max_pool1d: functional_pool(1, L.MaxPool1D, _MAX_ARGS),
    F.max_pool2d: functional_pool(2, L.MaxPool2D, _MAX_ARGS),
    F.avg_pool1d: functional_pool(1, L.AvgPool1D, _AVG_ARGS),
    F.avg_pool2d: functional_pool(2, L.AvgPool2D, _AVG_ARGS),
    F.adaptive_avg_pool1d: functional_adaptive(1, "avg"),
    F.adaptive_avg_pool2d: functional_adaptive(2, "avg"),
    F.adaptive_max_pool1d: functional_adaptive(1, "max"),
    F.adaptive_max_pool2d: functional_adaptive(2, "max"),
    operator.getitem: getitem,
    getattr: attribute,
}

#: torch.Tensor method -> converter
CORE_METHODS: dict[Callable, Callable] = {
    torch.Tensor.add: _ADD,
    torch.Tensor.sub: _SUB,
    torch.Tensor.mul: _MUL,
    torch.Tensor.view: reshape,
    torch.Tensor.reshape: reshape,
    torch.Tensor.squeeze: reshape,
    torch.Tensor.unsqueeze: reshape,
    torch.Tensor.flatten: flatten,
    torch.Tensor.permute: permute,
    torch.Tensor.transpose: transpose,
    torch.Tensor.contiguous: passthrough,
    torch.Tensor.size: size,
    torch.Tensor.relu: _SIMPLE["relu"],
    torch.Tensor.sigmoid: _SIMPLE["sigmoid"],
    torch.Tensor.tanh: _SIMPLE["tanh"],
    torch.Tensor.softmax: _SOFTMAX,
    torch.Tensor.log_softmax: _LOG_SOFTMAX,
    torch.Tensor.mean: reduce(True),
    torch.Tensor.amax: reduce(False),
}
