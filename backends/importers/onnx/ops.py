"""``ONNX_TABLE``: ONNX op type -> the function that turns one op into an IR layer.

Each entry takes a :class:`Ctx` and returns ``(ir layer, weights)``: an
unnamed IR layer (the importer names it and calls it on ``ctx.inputs``, the
op's non-constant inputs) and its weights by short name in the IR's layout
(Keras's: conv kernels ``(k..., in, out)``, dense kernels ``(in, units)``).
Anything the IR cannot say raises :class:`twinnet.ir.UnsupportedError`; the importer
collects those for every op before giving up.

Imported tensors are declared in ONNX's own axis order, so an ONNX ``axis``
is a position in the IR layout: ``ctx.letter(axis)`` names it. Adding an op
for a new IR layer is one function and one table line. Window ops (conv,
pooling) live in ``windows.py``, normalisation in ``norm.py``, padding,
cropping and upsampling in ``spatial.py``, recurrent ops in ``rnn.py``, attention in
``attention.py``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .ctx import Converted, Ctx
from .match import axes_of, scalar, unsqueezed_sizes

# -- dense ----------------------------------------------------------------------------------------


def _dense(ctx: Ctx, kernel: np.ndarray, bias) -> Converted:
    x = ctx.x()
    if x.layout[-1] != "C" or kernel.ndim != 2:
        raise UnsupportedError(
            f"multiplies the last axis of a {x.layout!r} tensor by a {kernel.ndim}-D matrix; "
            "the IR's Dense multiplies the feature axis C, which must come last here"
        )
    weights = {"kernel": kernel}
    if bias is not None:
        weights["bias"] = np.broadcast_to(bias.reshape(-1), (kernel.shape[1],)).astype(np.float32)
    return L.Dense(kernel.shape[1], use_bias=bias is not None), weights


def matmul(ctx: Ctx) -> Converted:
    if len(ctx.inputs) == 2:
        return _dot(ctx)
    return _dense(ctx, ctx.array(1, "weights"), ctx.array(2, "bias"))


def _dot(ctx: Ctx) -> Converted:
    """MatMul of two activations: per sample ``(T, K) @ (K, S)``, the IR's Dot contracting a's last axis
    with b's middle one (or, through a folded Transpose, the other one)."""
    a, b = ctx.inputs
    if a.spec.rank != 3 or b.spec.rank != 3 or a.layout[0] != "N" or b.layout[0] != "N":
        raise UnsupportedError(
            f"multiplies {a.layout!r} by {b.layout!r}; the IR's Dot is a batched product of "
            "two rank-3 tensors with the batch axis first"
        )
    layout = ctx.importer.layouts.layout(ctx.op.outputs[0], 3)
    if layout is None or layout[0] != "N":
        raise UnsupportedError(f"the product would need layout {layout!r}; the IR's Dot keeps the batch axis first")
    axes = (1 if ctx.attr("twinnet_trans_a", 0) else 2, 2 if ctx.attr("twinnet_trans_b", 0) else 1)
    return L.Dot(axes=axes, layout=layout), {}


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
            raise UnsupportedError(
                f"opset {ctx.graph.opset} {name} over axes {axis}.. at once; the IR's acts on one axis"
            )
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
    _fixed(
        ctx,
        alpha=(1.67326319217681884765625, 1.6732632423543772),
        gamma=(1.05070102214813232421875, 1.0507009873554805),
    )
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


def clip(ctx: Ctx) -> Converted:
    """Clip(0, m) is ReLU(max_value=m) (Relu6 is Clip(0, 6)); Clip(0, none) a plain ReLU."""
    ctx.x()
    if ctx.graph.opset < 11:
        low, high = ctx.attr("min"), ctx.attr("max")
    else:
        low, high = (None if v is None else float(v.reshape(())) for v in (ctx.array(1, "min"), ctx.array(2, "max")))
    if low != 0.0 or (high is not None and high < 0):
        raise UnsupportedError(f"clips to [{low}, {high}]; the IR's ReLU clips to [0, max_value >= 0]")
    return L.ReLU(max_value=high), {}


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
    value = ctx.const(1, "shape")
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
        raise UnsupportedError("the target shape must be a stored integer tensor")
    shape = [int(s) for s in value.reshape(-1)]
    static = (ctx.graph.shapes.get(ctx.op.inputs[0]) or (None,))[0]  # a file with a fixed batch size writes it
    if not shape or (shape[0] not in (0, -1) and shape[0] != static):
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
    return _reshape_to(ctx, x, unsqueezed_sizes(ctx, x))


def concat(ctx: Ctx) -> Converted:
    if len(ctx.inputs) != len([i for i in ctx.op.inputs if i]):
        raise UnsupportedError("concatenates a constant; the IR's Concatenate joins computed tensors only")
    return L.Concatenate(axis=ctx.letter(ctx.attr("axis"), ctx.inputs[0])), {}


def merge(cls, min_inputs: int = 2) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        if len(ctx.inputs) != len([i for i in ctx.op.inputs if i]):
            raise UnsupportedError(
                "arithmetic with a constant operand has no IR layer (the IR's merge layers "
                "combine computed tensors of one shape)"
            )
        if len(ctx.inputs) < min_inputs:
            return L.Identity(), {}
        # ONNX broadcasts numpy-style; the IR's element-wise layers stretch size-1 axes of inputs of one rank
        # (a squeeze-excitation gate (N, C, 1, 1) times (N, C, H, W)) and check the rest when inferring.
        ranks = {x.spec.rank for x in ctx.inputs}
        if len(ranks) != 1:
            shapes = sorted({str(x.spec.shape) for x in ctx.inputs})
            raise UnsupportedError(
                f"broadcasts shapes {shapes} of different ranks; the IR's merge layers need "
                "one rank (size-1 axes stretch)"
            )
        return cls(), {}

    return convert


def embedding(ctx: Ctx) -> Converted:
    table = ctx.graph.const(ctx.op.inputs[0])
    if table is None or isinstance(table, str) or table.ndim != 2 or ctx.attr("axis", 0) != 0 or len(ctx.inputs) != 1:
        raise UnsupportedError(
            "indexes a tensor; the IR has a layer only for a Gather of rows of a stored 2-D "
            "table by computed integer ids (an embedding lookup)"
        )
    if not ctx.inputs[0].dtype.startswith("int"):
        raise UnsupportedError("gathers with float ids")
    return L.Embedding(table.shape[0], table.shape[1]), {"embeddings": np.asarray(table, np.float32)}
