"""``ONNX_TABLE``: ONNX op type -> the function that turns one op into an IR layer.

Each entry takes a :class:`Ctx` and returns ``(ir layer, weights)``: an
unnamed IR layer (the importer names it and calls it on ``ctx.inputs``, the
op's non-constant inputs) and its weights by short name in the IR's layout
(Keras's: conv kernels ``(k..., in, out)``, dense kernels ``(in, units)``).
Anything the IR cannot say raises :class:`ir.UnsupportedError`; the importer
collects those for every op before giving up.

Imported tensors are declared in ONNX's own axis order, so an ONNX ``axis``
is a position in the IR layout: ``ctx.letter(axis)`` names it. Adding an op
for a new IR layer is one function and one table line. Recurrent ops live in
``onnx_rnn.py``.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ir import layers as L
from ir.errors import UnsupportedError
from ir.layers.conv import resolve_pads

from .onnx_layout import channels_first
from .onnx_patterns import axes_of, scalar
from .onnx_rnn import recurrent

Converted = tuple[L.Layer, dict[str, np.ndarray]]


class Ctx:
    """What an entry may ask about the op it converts."""

    def __init__(self, importer, op, inputs):
        self.importer, self.op, self.graph, self.inputs = importer, op, importer.graph, inputs

    def attr(self, key: str, default=None):
        value = self.op.attrs.get(key, default)
        return value.decode() if isinstance(value, bytes) else value

    def const(self, index: int, what: str = "") -> np.ndarray | str | None:
        """Input ``index`` as a constant (None when absent); refused when it is computed in the graph."""
        if index >= len(self.op.inputs) or not self.op.inputs[index]:
            return None
        value = self.graph.const(self.op.inputs[index])
        if value is None:
            raise UnsupportedError(f"input {index} ({what or self.op.inputs[index]!r}) must be a constant (an "
                                   "initializer): the IR keeps weights and options fixed")
        return value

    def array(self, index: int, what: str = "") -> np.ndarray | None:
        value = self.const(index, what)
        if isinstance(value, str):
            raise UnsupportedError(f"input {index} ({what}) must be a stored tensor")
        return None if value is None else np.asarray(value, dtype=np.float32)

    def x(self, layout: str | None = None):
        """The one data input (checked to hold ``layout``'s letters in that order, when given)."""
        if len(self.inputs) != 1:
            raise UnsupportedError(f"expects one computed input and the rest constants, got {len(self.inputs)} "
                                   "computed inputs")
        x = self.inputs[0]
        # channels-first ops need N then C; the other letters only have to be non-batch, non-channel axes
        if layout is not None and layout == channels_first(len(layout)):
            ok = x.layout[:2] == "NC" and x.spec.rank == len(layout)
        else:
            ok = layout is None or x.layout == layout
        if not ok:
            raise UnsupportedError(f"reads its input as {layout!r} but the tensor arriving is {x.layout!r} "
                                   "(layout inference could not line the axes up)")
        return x

    def letter(self, axis: int, x=None) -> str:
        x = x if x is not None else self.inputs[0]
        if not -x.spec.rank <= axis < x.spec.rank:
            raise UnsupportedError(f"axis {axis} is out of range for a rank-{x.spec.rank} tensor")
        found = x.layout[axis]
        if found == "N":
            raise UnsupportedError(f"axis {axis} is the batch axis, which the IR keeps symbolic and untouched")
        return found

    def outputs_used(self) -> list[int]:
        return [i for i, o in enumerate(self.op.outputs) if o and (self.graph.consumers.get(o) or o in self.graph.outputs)]

    def only_first_output(self) -> None:
        extra = [i for i in self.outputs_used() if i]
        if extra:
            raise UnsupportedError(f"output(s) {extra} are used, and the IR's layer returns only the first")


# -- windows: conv and pooling ---------------------------------------------------------------

def _window(ctx: Ctx, nd: int, kernel, strides, dilations, explicit: bool):
    """IR ``padding`` from auto_pad / pads: 'valid', 'same' (SAME_UPPER is TensorFlow's rule) or per-side pads."""
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto == "VALID":
        return "valid"
    if auto == "SAME_UPPER":
        return "same"
    if auto != "NOTSET":
        raise UnsupportedError(f"auto_pad={auto!r} is not supported (NOTSET, VALID or SAME_UPPER)")
    pads = list(ctx.attr("pads", [0] * 2 * nd))
    pairs = tuple(zip(pads[:nd], pads[nd:]))
    if not any(pads):
        return "valid"
    x = ctx.inputs[0]
    sizes = [x.spec.shape[2 + i] for i in range(nd)]
    if resolve_pads("same", sizes, kernel, strides, dilations) == pairs:
        return "same"
    if explicit:
        return pairs
    raise UnsupportedError(f"pads {pads} are neither none nor TensorFlow's 'same' pads, the only padding the IR's "
                           "pooling layers have")


def conv(ctx: Ctx) -> Converted:
    w = ctx.array(1, "weights")
    nd = w.ndim - 2
    if nd not in (1, 2):
        raise UnsupportedError(f"{nd}-D convolution: the IR has Conv1D and Conv2D")
    ctx.x(channels_first(nd + 2))
    kernel = list(ctx.attr("kernel_shape", w.shape[2:]))
    strides, dilations = list(ctx.attr("strides", [1] * nd)), list(ctx.attr("dilations", [1] * nd))
    group = ctx.attr("group", 1)
    padding = _window(ctx, nd, kernel, strides, dilations, explicit=True)
    weights = {"kernel": w.transpose(*range(2, nd + 2), 1, 0)}
    bias = ctx.array(2, "bias")
    if bias is not None:
        weights["bias"] = bias
    cls = L.Conv1D if nd == 1 else L.Conv2D
    return cls(w.shape[0], kernel, strides=strides, padding=padding, dilation_rate=dilations, groups=group,
               use_bias=bias is not None), weights


def _ceil_mode_ok(ctx: Ctx, nd: int, kernel, strides) -> None:
    """ceil_mode matters only when a last, partial window exists."""
    if not ctx.attr("ceil_mode", 0):
        return
    x, pads = ctx.inputs[0], list(ctx.attr("pads", [0] * 2 * nd))
    for i in range(nd):
        n = x.spec.shape[2 + i]
        span = None if n is None else n + pads[i] + pads[nd + i] - kernel[i]
        if span is None or span % strides[i]:
            raise UnsupportedError("ceil_mode=1 adds a partial last window here; the IR's pooling has floor mode only")


def pool(max_pool: bool) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        kernel = list(ctx.attr("kernel_shape"))
        nd = len(kernel)
        if nd not in (1, 2):
            raise UnsupportedError(f"{nd}-D pooling: the IR has 1-D and 2-D pooling")
        ctx.x(channels_first(nd + 2))
        ctx.only_first_output()
        strides = list(ctx.attr("strides", [1] * nd))
        if any(d != 1 for d in ctx.attr("dilations", [1] * nd)):
            raise UnsupportedError("dilated pooling has no IR layer")
        _ceil_mode_ok(ctx, nd, kernel, strides)
        padding = _window(ctx, nd, kernel, strides, [1] * nd, explicit=False)
        if not max_pool and padding == "same" and ctx.attr("count_include_pad", 0):
            raise UnsupportedError("count_include_pad=1 averages the padding zeros; the IR's AvgPool divides by "
                                   "the real elements")
        if max_pool:
            cls = L.MaxPool1D if nd == 1 else L.MaxPool2D
        else:
            cls = L.AvgPool1D if nd == 1 else L.AvgPool2D
        return cls(kernel, strides=strides, padding=padding), {}
    return convert


def global_pool(max_pool: bool) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        x = ctx.x()
        return _global(x, max_pool, keepdims=True, spatial=range(2, x.spec.rank))
    return convert


def _global(x, max_pool: bool, keepdims: bool, spatial) -> Converted:
    nd = x.spec.rank - 2
    letters = {x.layout[a] for a in spatial}
    if nd not in (1, 2) or letters != set(x.layout) - {"N", "C"}:
        raise UnsupportedError(f"reduces axes {sorted(spatial)} of a {x.layout!r} tensor; the IR's global pooling "
                               "reduces every axis but N and C of a rank-3 or rank-4 tensor")
    kinds = {(False, 1): L.GlobalAvgPool1D, (False, 2): L.GlobalAvgPool2D,
             (True, 1): L.GlobalMaxPool1D, (True, 2): L.GlobalMaxPool2D}
    return kinds[max_pool, nd](keepdims=keepdims), {}


def reduce(max_pool: bool) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        x = ctx.x()
        axes = axes_of(ctx.graph, ctx.op)
        if axes is None or not axes:
            raise UnsupportedError("the axes must be constant and not empty")
        return _global(x, max_pool, bool(ctx.attr("keepdims", 1)), sorted({a % x.spec.rank for a in axes}))
    return convert


# -- normalisation and dense ----------------------------------------------------------------

def batch_norm(ctx: Ctx) -> Converted:
    x = ctx.x()
    ctx.only_first_output()
    if ctx.attr("training_mode", 0):
        raise UnsupportedError("training_mode=1 normalises with batch statistics; the IR uses the stored ones")
    names = ("gamma", "beta", "moving_mean", "moving_variance")
    weights = {k: ctx.array(i + 1, k) for i, k in enumerate(names)}
    layer = L.BatchNorm(axis=ctx.letter(1, x), momentum=min(max(float(ctx.attr("momentum", 0.9)), 0.0), 1.0),
                        epsilon=float(ctx.attr("epsilon", 1e-5)))
    return layer, weights


def layer_norm(ctx: Ctx) -> Converted:
    x = ctx.x()
    ctx.only_first_output()
    rank = x.spec.rank
    start = ctx.attr("axis", -1) % rank
    letters = "".join(ctx.letter(a, x) for a in range(start, rank))
    shape = tuple(x.spec.shape[start:])
    if any(s is None for s in shape):
        raise UnsupportedError("normalises over an axis of unknown size")
    weights = {"gamma": np.broadcast_to(ctx.array(1, "scale"), shape).copy()}
    beta = ctx.array(2, "bias")
    if beta is not None:
        weights["beta"] = np.broadcast_to(beta, shape).copy()
    return L.LayerNorm(axis=letters, epsilon=float(ctx.attr("epsilon", 1e-5)), center=beta is not None), weights


def _dense(ctx: Ctx, kernel: np.ndarray, bias) -> Converted:
    x = ctx.x()
    if x.layout[-1] != "C" or kernel.ndim != 2:
        raise UnsupportedError(f"multiplies the last axis of a {x.layout!r} tensor by a {kernel.ndim}-D matrix; "
                               "the IR's Dense multiplies the feature axis C, which must come last here")
    weights = {"kernel": kernel}
    if bias is not None:
        weights["bias"] = np.broadcast_to(bias.reshape(-1), (kernel.shape[1],)).astype(np.float32)
    return L.Dense(kernel.shape[1], use_bias=bias is not None), weights


def matmul(ctx: Ctx) -> Converted:
    return _dense(ctx, ctx.array(1, "weights"), ctx.array(2, "bias"))


def gemm(ctx: Ctx) -> Converted:
    if ctx.attr("transA", 0):
        raise UnsupportedError("transA=1 multiplies a transposed input; the IR's Dense does not")
    b = ctx.array(1, "B")
    kernel = (b.T if ctx.attr("transB", 0) else b) * np.float32(ctx.attr("alpha", 1.0))
    c = ctx.array(2, "C")
    return _dense(ctx, kernel, None if c is None else c * np.float32(ctx.attr("beta", 1.0)))


# -- activations ------------------------------------------------------------------------------

def activation(name: str, **fixed) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        ctx.x()
        return L.Activation(name, **fixed), {}
    return convert


def softmax(name: str) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        x = ctx.x()
        axis = ctx.attr("axis", -1 if ctx.graph.opset >= 13 else 1) % x.spec.rank
        if ctx.graph.opset < 13 and axis != x.spec.rank - 1:
            raise UnsupportedError(f"opset {ctx.graph.opset} {name} over axes {axis}.. at once; the IR's acts on one axis")
        return L.Activation(name, axis=ctx.letter(axis, x)), {}
    return convert


def gelu(ctx: Ctx) -> Converted:
    ctx.x()
    return L.Activation("gelu", approximate=ctx.attr("approximate", "none") == "tanh"), {}


def _fixed(ctx: Ctx, **expected) -> None:
    for key, (default, want) in expected.items():
        got = float(ctx.attr(key, default))
        if not math.isclose(got, want, rel_tol=1e-6):
            raise UnsupportedError(f"{key}={got} is not supported (the IR's form needs {key}={want:.6g})")


def selu(ctx: Ctx) -> Converted:
    _fixed(ctx, alpha=(1.67326319217681884765625, 1.6732632423543772), gamma=(1.05070102214813232421875, 1.0507009873554805))
    return activation("selu")(ctx)


def hard_sigmoid(ctx: Ctx) -> Converted:
    _fixed(ctx, alpha=(0.2, 1 / 6), beta=(0.5, 0.5))  # the IR's is relu6(x + 3) / 6
    return activation("hard_sigmoid")(ctx)


def elu(ctx: Ctx) -> Converted:
    ctx.x()
    return L.Activation("elu", alpha=float(ctx.attr("alpha", 1.0))), {}


def leaky_relu(ctx: Ctx) -> Converted:
    ctx.x()
    return L.Activation("leaky_relu", negative_slope=float(ctx.attr("alpha", 0.01))), {}


def dropout(ctx: Ctx) -> Converted:
    ctx.x()
    ctx.only_first_output()
    if len(ctx.op.inputs) > 2 and ctx.op.inputs[2] and scalar(ctx.graph, ctx.op.inputs[2]) != 0:
        raise UnsupportedError("training_mode must be a constant false: the IR compares inference")
    ratio = scalar(ctx.graph, ctx.op.inputs[1]) if len(ctx.op.inputs) > 1 and ctx.op.inputs[1] else None
    return L.Dropout(ctx.attr("ratio", 0.5) if ratio is None else ratio), {}


def identity(ctx: Ctx) -> Converted:
    ctx.x()
    return L.Identity(), {}


# -- shapes --------------------------------------------------------------------------------------

def transpose(ctx: Ctx) -> Converted:
    x = ctx.x()
    perm = ctx.attr("perm", list(range(x.spec.rank))[::-1])
    return L.Permute("".join(x.layout[p] for p in perm)), {}  # moves letters with the data: no computation


def flatten(ctx: Ctx) -> Converted:
    x = ctx.x()
    if ctx.attr("axis", 1) % max(x.spec.rank, 1) != 1 or x.layout[0] != "N":
        raise UnsupportedError("flattens at an axis other than right after a leading batch axis")
    return L.Flatten(), {}


def _reshape_to(ctx: Ctx, x, target: list[int]) -> Converted:
    """Reshape ``x`` (batch first) to the non-batch sizes ``target``, letters inferred downstream."""
    if x.layout[0] != "N":
        raise UnsupportedError(f"reshapes a {x.layout!r} tensor; the IR reshapes around a leading batch axis")
    out = ctx.op.outputs[0]
    layout = ctx.importer.layouts.layout(out, len(target) + 1)
    if len(target) == 1 and layout == "NC":
        return L.Flatten(), {}
    if layout is None or layout[0] != "N":
        raise UnsupportedError(f"the reshaped tensor would need layout {layout!r}; the IR keeps the batch axis first")
    return L.Reshape(tuple(target), layout=layout), {}


def reshape(ctx: Ctx) -> Converted:
    x = ctx.x()
    shape = [int(s) for s in ctx.array(1, "shape").astype(np.int64).reshape(-1)]
    if not shape or shape[0] not in (0, -1):
        raise UnsupportedError(f"target shape {shape} does not keep the batch axis first (0 or -1 there)")
    target = shape[1:]
    for i, s in enumerate(target):
        if s == 0 and not ctx.attr("allowzero", 0):
            if i + 1 >= x.spec.rank or x.spec.shape[i + 1] is None:
                raise UnsupportedError(f"target shape {shape} copies a size that is not known")
            target[i] = x.spec.shape[i + 1]
    if shape[0] == -1 and -1 in target:
        raise UnsupportedError(f"target shape {shape} has two -1 sizes")
    return _reshape_to(ctx, x, target)


def squeeze(ctx: Ctx) -> Converted:
    x = ctx.x()
    axes = axes_of(ctx.graph, ctx.op)
    rank = x.spec.rank
    if axes is None or not axes:
        raise UnsupportedError("squeezes axes that are not given as constants")
    drop = {a % rank for a in axes}
    if any(x.spec.shape[a] != 1 for a in drop):
        raise UnsupportedError(f"squeezes axes {sorted(drop)}, which are not all of size 1")
    return _reshape_to(ctx, x, [s for i, s in enumerate(x.spec.shape) if i and i not in drop])


def unsqueeze(ctx: Ctx) -> Converted:
    x = ctx.x()
    axes = axes_of(ctx.graph, ctx.op)
    if not axes:
        raise UnsupportedError("unsqueezes axes that are not given as constants")
    rank = x.spec.rank + len(axes)
    shape = list(x.spec.shape)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    if shape[0] is not None:
        raise UnsupportedError("inserts an axis before the batch axis")
    return _reshape_to(ctx, x, shape[1:])


def concat(ctx: Ctx) -> Converted:
    if len(ctx.inputs) != len([i for i in ctx.op.inputs if i]):
        raise UnsupportedError("concatenates a constant; the IR's Concatenate joins computed tensors only")
    return L.Concatenate(axis=ctx.letter(ctx.attr("axis"), ctx.inputs[0])), {}


def merge(cls, min_inputs: int = 2) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        if len(ctx.inputs) != len([i for i in ctx.op.inputs if i]):
            raise UnsupportedError("arithmetic with a constant operand has no IR layer (the IR's merge layers "
                                   "combine computed tensors of one shape)")
        if len(ctx.inputs) < min_inputs:
            return L.Identity(), {}
        shapes = {x.spec.shape for x in ctx.inputs}
        if len(shapes) != 1:
            raise UnsupportedError(f"broadcasts shapes {sorted(map(str, shapes))}; the IR's merge layers need one shape")
        return cls(), {}
    return convert


def embedding(ctx: Ctx) -> Converted:
    table = ctx.const(0, "table")
    if table is None or isinstance(table, str) or table.ndim != 2 or ctx.attr("axis", 0) != 0 or len(ctx.inputs) != 1:
        raise UnsupportedError("only a Gather of rows of a stored 2-D table by computed integer ids (an "
                               "embedding lookup) has an IR layer")
    if not ctx.inputs[0].dtype.startswith("int"):
        raise UnsupportedError("gathers with float ids")
    return L.Embedding(table.shape[0], table.shape[1]), {"embeddings": np.asarray(table, np.float32)}


#: ONNX op type -> converter. ``twinnet.*`` ops are made by the pattern rules (onnx_patterns.py).
ONNX_TABLE: dict[str, Callable] = {
    "Conv": conv, "MaxPool": pool(True), "AveragePool": pool(False),
    "GlobalAveragePool": global_pool(False), "GlobalMaxPool": global_pool(True),
    "ReduceMean": reduce(False), "ReduceMax": reduce(True),
    "BatchNormalization": batch_norm, "LayerNormalization": layer_norm,
    "MatMul": matmul, "Gemm": gemm,
    "Relu": activation("relu"), "Sigmoid": activation("sigmoid"), "Tanh": activation("tanh"),
    "Softplus": activation("softplus"), "HardSwish": activation("hard_swish"), "twinnet.Silu": activation("silu"),
    "Softmax": softmax("softmax"), "LogSoftmax": softmax("log_softmax"), "Gelu": gelu, "Elu": elu, "Selu": selu,
    "LeakyRelu": leaky_relu, "HardSigmoid": hard_sigmoid, "Identity": identity, "Dropout": dropout,
    "Transpose": transpose, "Flatten": flatten, "Reshape": reshape, "Squeeze": squeeze, "Unsqueeze": unsqueeze,
    "Concat": concat, "Add": merge(L.Add), "Sub": merge(L.Subtract), "Mul": merge(L.Multiply),
    "Max": merge(L.Maximum, 1), "Sum": merge(L.Add, 1), "Mean": merge(L.Average, 1),
    "Gather": embedding, "LSTM": recurrent, "GRU": recurrent, "RNN": recurrent,
}
