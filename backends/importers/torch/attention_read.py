"""Reading a hand-written attention module's forward as multi-head attention (``attention_hand.py``).

:class:`Reader` walks the module's own fx graph once, with every node's
value from one run (:class:`Run`): a node that does not depend on the input
tensor (a size, a buffer, a mask built from them) is its value; one that
does is a :class:`View` (features of a projection, rearranged), a
:class:`Scores` or, at the end, an :class:`Out`. An operation it does not
know on the attention path is refused, naming the node.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ....ir.errors import UnsupportedError


# -- what each tensor is ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class View:
    """Features of one Linear (``src``: its qualified name, or ``"ctx"``) on axes ``B``, ``T`` and ``F``."""

    src: str
    axes: tuple
    codes: np.ndarray  # the source row of every element of the F axes, shaped by them in order
    scale: float = 1.0
    attn: tuple | None = None  # the context's (Scores, value View)

    def permute(self, perm) -> "View":
        perm = [p % len(self.axes) for p in perm]
        old_f = [i for i, a in enumerate(self.axes) if a == "F"]
        order = [old_f.index(p) for p in perm if self.axes[p] == "F"]
        return replace(self, axes=tuple(self.axes[p] for p in perm), codes=self.codes.transpose(order))


@dataclass(frozen=True)
class Scores:
    """``q @ k^T`` of two head views, then scaled, causally masked, softmaxed."""

    q: View
    k: View
    scale: float = 1.0
    causal: bool = False
    soft: bool = False
    dropout: float = 0.0


@dataclass(frozen=True, eq=False)
class Out:
    """The output Linear applied to the merged context."""

    proj: str
    codes: np.ndarray  # the context's code (h * dv + j) of every input feature
    attn: tuple  # (Scores, value View)


HEADS = ("B", "F", "T", "F")  # (B, H, T, d)


class Run(torch.fx.Interpreter):
    """Runs the graph keeping every node's value."""

    def __init__(self, gm):
        super().__init__(gm)
        self.values = {}

    def run_node(self, n):
        self.values[n] = super().run_node(n)
        return self.values[n]


def _number(v):
    if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.requires_grad:
        return float(v)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _is_causal_mask(cond: torch.Tensor) -> bool:
    """A bool mask True exactly above the diagonal (the keys after each query), leading axes of size 1."""
    if (
        cond.dtype != torch.bool
        or cond.dim() < 2
        or cond.shape[-1] != cond.shape[-2]
        or any(s != 1 for s in cond.shape[:-2])
    ):
        return False
    upper = torch.ones(cond.shape[-2:], dtype=torch.bool).triu(1)
    return bool(torch.equal(cond.reshape(upper.shape), upper))


def _triangular(t: torch.Tensor) -> bool:
    """A buffer whose nonzeros are a square triangle (tril or strict triu): every top-left slice is one too."""
    if t.dim() < 2 or t.shape[-1] != t.shape[-2] or any(s != 1 for s in t.shape[:-2]):
        return False
    nz = t.reshape(t.shape[-2:]) != 0
    ones = torch.ones(nz.shape, dtype=torch.bool)
    return bool(torch.equal(nz, ones.tril()) or torch.equal(nz, ones.triu(1)))


@dataclass
class Reader:
    """Reads one module's traced forward, node by node (see the module docstring)."""

    gm: torch.fx.GraphModule
    values: dict

    def fail(self, node, why: str):
        raise UnsupportedError(f"is not multi-head attention the IR can hold: {node.name} ({_what(node)}) {why}")

    def module(self, node):
        return self.gm.get_submodule(node.target)

    # the operations, each on tracked values
    def run(self):
        tracked: dict = {}
        x_node = next(n for n in self.gm.graph.nodes if n.op == "placeholder")
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if node is not x_node:
                    self.fail(node, "is a second input; only self-attention on one (B, T, C) input is read")
                tracked[node] = "x"
                continue
            if node.op == "output":
                return self.output(node, tracked)
            ins = [tracked[n] for n in node.all_input_nodes if n in tracked]
            if not ins:
                continue  # a constant, a buffer, a mask built from them: read as its value
            value = self.values[node]
            if not isinstance(value, torch.Tensor) and not (
                isinstance(value, (tuple, list)) and any(isinstance(t, torch.Tensor) for t in value)
            ):
                continue  # a size (x.shape, k.size(-1)): its value
            tracked[node] = self.step(node, tracked)
        raise UnsupportedError("has no output")

    def arg(self, node, tracked, i, key=None, default=None):
        a = node.args[i] if i < len(node.args) else node.kwargs.get(key, default)
        if isinstance(a, torch.fx.Node):
            return tracked[a] if a in tracked else self.values[a]
        return a

    def step(self, node, tracked):
        target, op = node.target, node.op
        first = self.arg(node, tracked, 0)
        if op == "call_module":
            m = self.module(node)
            if isinstance(m, nn.Dropout):
                return replace(first, dropout=m.p) if isinstance(first, Scores) and first.soft else first
            if isinstance(m, nn.Linear) and len(node.args) == 1:
                return self.linear(node, m, first)
            self.fail(
                node,
                "is on the attention path (a q/k norm, rotary embedding or other layer has no place "
                "in the IR's MultiHeadAttention)",
            )
        name = target if op == "call_method" else getattr(target, "__name__", "")
        if target is F.dropout and self.arg(node, tracked, 2, "training", True):
            self.fail(node, "drops out at inference too (training=True); pass training=self.training")
        if name in ("contiguous", "clone") or target is F.dropout:
            return first
        if target is F.scaled_dot_product_attention:
            return self.sdpa(node, tracked)
        if isinstance(first, View):
            return self.view_op(node, tracked, name, first)
        if isinstance(first, Scores):
            return self.scores_op(node, tracked, name, first)
        if isinstance(first, tuple) and target is operator.getitem:
            return first[node.args[1]]
        second = self.arg(node, tracked, 1)
        if (
            name == "mul"
            and _number(first) is not None
            and (
                isinstance(second, View)  # c * q, c * scores
                or isinstance(second, Scores)
                and not second.soft
            )
        ):
            return replace(second, scale=second.scale * _number(first))
        self.fail(node, "is on the attention path")

    def linear(self, node, m: nn.Linear, x):
        if isinstance(x, str):  # the input: a projection
            return View(node.target, ("B", "T", "F"), np.arange(m.out_features))
        if isinstance(x, View) and x.src == "ctx" and x.axes == ("B", "T", "F") and x.scale == 1.0:
            return Out(node.target, x.codes, x.attn)
        self.fail(node, "reads something other than the input or the merged heads")

    def view_op(self, node, tracked, name, v: View):
        value = self.values[node]
        args = [self.arg(node, tracked, i) for i in range(1, len(node.args))]
        if name in ("transpose", "swapaxes"):
            a, b = (d % len(v.axes) for d in args[:2])
            perm = list(range(len(v.axes)))
            perm[a], perm[b] = b, a
            return v.permute(perm)
        if name == "permute":
            return v.permute(args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args)
        if name in ("reshape", "view", "flatten", "unflatten"):  # whatever the call, the shape it gave
            return self.reshape(node, v, tuple(value.shape))
        if name in ("split", "chunk", "unbind", "getitem"):
            return self.pieces(node, tracked, name, v, value)
        if name in ("mul", "truediv", "div") and _number(args[0] if args else None) is not None:
            c = _number(args[0])
            return replace(v, scale=v.scale * (c if name == "mul" else 1.0 / c))
        if name == "matmul" and isinstance(args[0], View):
            return self.scores(node, v, args[0])
        self.fail(node, "is on the attention path")

    def reshape(self, node, v: View, shape: tuple) -> View:
        k = next((i for i, a in enumerate(v.axes) if a == "F"), len(v.axes))
        if (
            "F" not in v.axes[:k]
            and all(a == "F" for a in v.axes[k:])
            and tuple(self.values[node.args[0]].shape[:k]) == shape[:k]
            and int(np.prod(shape[k:], dtype=np.int64)) == v.codes.size
        ):
            return replace(v, axes=v.axes[:k] + ("F",) * (len(shape) - k), codes=v.codes.reshape(shape[k:]))
        self.fail(node, "reshapes the batch or sequence axes (only the features may be split or merged)")

    def pieces(self, node, tracked, name, v: View, value):
        if name == "getitem":
            index = node.args[1]
            if not isinstance(index, int) or v.axes[0] != "F":
                self.fail(node, "indexes something other than the leading head/part axis with an int")
            return replace(v, axes=v.axes[1:], codes=v.codes[index])
        dim = self.arg(node, tracked, 2 if name != "unbind" else 1, "dim", 0)
        dim = dim % len(v.axes)
        if v.axes[dim] != "F":
            self.fail(node, f"splits axis {dim}, which is not a feature axis")
        f = [i for i, a in enumerate(v.axes) if a == "F"].index(dim)
        if name == "unbind":
            return tuple(
                replace(v, axes=v.axes[:dim] + v.axes[dim + 1 :], codes=np.take(v.codes, i, axis=f))
                for i in range(v.codes.shape[f])
            )
        bounds = np.cumsum([0] + [t.shape[dim] for t in value])
        return tuple(
            replace(v, codes=np.take(v.codes, np.arange(a, b), axis=f)) for a, b in zip(bounds[:-1], bounds[1:])
        )

    def scores(self, node, q: View, kt: View) -> Scores:
        if q.axes != HEADS or kt.axes != ("B", "F", "F", "T") or q.codes.shape != kt.codes.shape:
            self.fail(node, f"multiplies {q.axes} by {kt.axes}; q (B, H, T, d) @ k.transpose(-2, -1) is expected")
        return Scores(q, replace(kt, axes=HEADS), q.scale * kt.scale)

    def scores_op(self, node, tracked, name, s: Scores):
        other = self.arg(node, tracked, 1, "other")
        if name in ("mul", "truediv", "div") and not s.soft and _number(other) is not None:
            c = _number(other)
            return replace(s, scale=s.scale * (c if name == "mul" else 1.0 / c))
        if name == "masked_fill" and not s.soft and not s.causal:
            fill = _number(self.arg(node, tracked, 2, "value"))
            cond = self.arg(node, tracked, 1, "mask")
            if not isinstance(cond, torch.Tensor) or not _is_causal_mask(cond) or not self.buffers_triangular(node):
                self.fail(
                    node,
                    "masks the scores with something other than a causal (lower-triangular incl. the diagonal) mask",
                )
            if fill is None or not (fill == float("-inf") or fill <= torch.finfo(torch.float32).min):
                self.fail(node, f"fills masked scores with {fill!r}, not -inf")
            return replace(s, causal=True)
        if name == "softmax" and not s.soft:
            dim = self.arg(node, tracked, 1, "dim")
            if dim not in (-1, 3) or node.kwargs.get("dtype") not in (None, torch.float32):
                self.fail(node, f"takes softmax over dim {dim!r}, not the keys (-1)")
            return replace(s, soft=True)
        if name == "matmul" and s.soft and isinstance(other, View):
            return self.context(node, s, other)
        self.fail(node, "is applied to the attention scores")

    def buffers_triangular(self, node) -> bool:
        """Every buffer behind the mask is triangular (so the mask is causal at every length, not only this one)."""
        seen, todo = set(), [node.args[1] if len(node.args) > 1 else node.kwargs.get("mask")]
        while todo:
            n = todo.pop()
            if not isinstance(n, torch.fx.Node) or n in seen:
                continue
            seen.add(n)
            if n.op == "get_attr" and not _triangular(self.values[n]):
                return False
            todo.extend(n.all_input_nodes)
        return True

    def context(self, node, s: Scores, v: View) -> View:
        if v.axes != HEADS or v.codes.shape[0] != s.q.codes.shape[0] or v.scale != 1.0:
            self.fail(node, f"multiplies the weights by {v.axes}; weights @ v (B, H, S, d) is expected")
        h, dv = v.codes.shape
        return View("ctx", HEADS, np.arange(h * dv).reshape(h, dv), attn=(s, v))

    def sdpa(self, node, tracked):
        q, k, v = (self.arg(node, tracked, i, key) for i, key in enumerate(("query", "key", "value")))
        mask = self.arg(node, tracked, 3, "attn_mask")
        drop = self.arg(node, tracked, 4, "dropout_p", 0.0)
        causal = self.arg(node, tracked, 5, "is_causal", False)
        scale = self.arg(node, tracked, 6, "scale")
        if not all(isinstance(t, View) and t.axes == HEADS for t in (q, k, v)) or q.codes.shape != k.codes.shape:
            self.fail(node, "is called on something other than (B, H, T, d) head views of the projections")
        if mask is not None or self.arg(node, tracked, 7, "enable_gqa", False):
            self.fail(node, "has an attn_mask (or enable_gqa); only is_causal=True is read")
        if drop:
            self.fail(node, f"drops out with p={drop} at inference (dropout in training has no IR form here)")
        s = Scores(
            q,
            k,
            q.scale * k.scale * (scale if scale is not None else q.codes.shape[1] ** -0.5),
            causal=bool(causal),
            soft=True,
        )
        return self.context(node, s, v)

    def output(self, node, tracked):
        out = tracked.get(node.args[0]) if isinstance(node.args[0], torch.fx.Node) else None
        if not isinstance(out, Out):
            self.fail(node, "does not return the output projection of the merged heads")
        return out


def _what(node) -> str:
    if node.op == "call_module":
        return f"module {node.target}"
    return f"{node.op.replace('call_', '')} {getattr(node.target, '__name__', node.target)}"
