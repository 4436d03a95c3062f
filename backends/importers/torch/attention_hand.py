"""Hand-written multi-head attention modules (timm ViT ``Attention``, nanoGPT ``CausalSelfAttention``) -> IR.

Users rarely call ``nn.MultiheadAttention``; they write the projections,
the head split, the scores and the head merge themselves. ``from_torch``
keeps such a module whole (one fx node, :func:`find_hand_attention`) and
reads its forward here (:func:`read_attention`), tracking every tensor as
what it is in terms of multi-head attention:

* :class:`View`: features of one ``nn.Linear`` of the module's input,
  rearranged by ``split`` / ``chunk`` / ``unbind`` / ``[i]`` / ``reshape`` /
  ``view`` / ``transpose`` / ``permute`` / ``contiguous``. The view keeps,
  for every element of its feature axes, the Linear's output row it is
  (``codes``), so a packed ``qkv`` Linear in any arrangement gives the IR's
  ``(E, H, d)`` kernels exactly. Scaling by a number is kept (``scale``).
* :class:`Scores`: ``q @ k.transpose(-2, -1)`` with its scale, a causal
  ``masked_fill(mask, -inf)`` and ``softmax(dim=-1)``; ``scores @ v`` or
  ``F.scaled_dot_product_attention(q, k, v)`` give the context (a View of
  ``"ctx"``, codes ``h * dv + j``), merged back to ``(B, T, H*dv)`` and fed
  to the output Linear.

It is the IR's ``MultiHeadAttention`` only when the total scale is
``1/sqrt(head_dim)`` and a mask, if any, is exactly causal (lower-triangular
including the diagonal, from a triangular buffer or built in forward).
Anything else on the way (a q/k norm, rotary embeddings, another scale or
mask, dropout that acts at inference) is refused naming the module and the
operation. Dropout modules are identities at inference; one on the
attention weights sets the layer's ``dropout``. As a last guard the module
is run on a random input and compared with the attention the weights
describe. Only self-attention (one input, ``(B, T, C)``) is read.
"""

from __future__ import annotations

import inspect
import math
import operator

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .attention_read import Reader, Run
from .capture import trace
from .modules import array


# -- finding the modules -----------------------------------------------------------------------------------
def _sizes(node) -> int:
    args = node.args[1:]
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return len(args[0])
    return len(args)


def _is(node, functions: tuple, method: str) -> bool:
    return (node.op == "call_function" and node.target in functions) or (
        node.op == "call_method" and node.target == method
    )


def _behind(node) -> set:
    """``node`` and every node it is computed from."""
    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(n.all_input_nodes)
    return seen


def _looks_like_attention(graph: torch.fx.Graph) -> bool:
    """SDPA, or a softmax of a product of head views (tensors reshaped to four or more axes): multi-head
    attention written out. A softmax over rank-3 products (a non-local block, single-head attention) is not."""
    for n in graph.nodes:
        if n.op == "call_function" and n.target is F.scaled_dot_product_attention:
            return True
        if _is(n, (F.softmax, torch.softmax), "softmax"):
            products = [m for m in _behind(n) if _is(m, (operator.matmul, torch.matmul), "matmul")]
            if any(
                (_is(r, (torch.reshape,), "reshape") or _is(r, (), "view")) and _sizes(r) >= 4
                for m in products
                for r in _behind(m)
            ):
                return True
    return False


def _inputs(m: nn.Module) -> int | None:
    try:
        return len(inspect.signature(m.forward).parameters)
    except (TypeError, ValueError):  # a builtin or wrapped forward
        return None


def find_hand_attention(root: nn.Module) -> dict[str, nn.Module]:
    """The user modules (not ``torch.nn``'s) whose own forward computes multi-head attention, by qualified name.

    Innermost first: a module is kept whole only when its forward, with those
    found inside it kept whole, still looks like attention itself. ``root``
    itself (name ``""``) when it is one, with a one-input forward: the
    importer then traces it inside :class:`Whole`.

    >>> find_hand_attention(nn.Linear(2, 2))
    {}
    """
    found: dict[str, nn.Module] = {}
    for name, m in reversed(list(root.named_modules())):  # a module after everything inside it
        if type(m).__module__.startswith("torch.") or (not name and _inputs(m) != 1):
            continue
        try:
            gm = trace(m, keep={id(v) for v in found.values()}, buffers=True)
        except UnsupportedError:
            continue
        if _looks_like_attention(gm.graph):
            found[name] = m
    return found


class Whole(nn.Module):
    """The imported module, when it is itself hand-written attention, as the one module of a model."""

    def __init__(self, attention: nn.Module):
        super().__init__()
        self.attention = attention

    def forward(self, x):
        return self.attention(x)


# -- the IR layer ------------------------------------------------------------------------------------------
def read_attention(m: nn.Module, in_shape: tuple) -> tuple[L.MultiHeadAttention, dict]:
    """The IR MultiHeadAttention (and its weights) that ``m`` computes on a ``(B, T, C)`` input, or UnsupportedError."""
    gm = trace(m, buffers=True)
    run = Run(gm)
    x = torch.randn(in_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = run.run(x)
    out = Reader(gm, run.values).run()
    s, v = out.attn
    h, d = s.q.codes.shape
    dv = v.codes.shape[1]
    if not math.isclose(s.scale, d**-0.5, rel_tol=1e-6):
        raise UnsupportedError(
            f"scales the scores by {s.scale:.6g}, not 1/sqrt(head_dim) = {d**-0.5:.6g} (the IR's MultiHeadAttention)"
        )
    lins = {p: gm.get_submodule(t.src) for p, t in (("query", s.q), ("key", s.k), ("value", v))}
    proj = gm.get_submodule(out.proj)
    use_bias = any(lin.bias is not None for lin in (*lins.values(), proj))
    weights = {}
    for part, t in (("query", s.q), ("key", s.k), ("value", v)):
        lin = lins[part]
        weights[f"{part}/kernel"] = array(lin.weight)[t.codes].transpose(2, 0, 1)  # rows (H, d, E) -> (E, H, d)
        if use_bias:
            weights[f"{part}/bias"] = array(lin.bias)[t.codes] if lin.bias is not None else np.zeros(t.codes.shape)
    wp = array(proj.weight)  # (E_out, H*dv): column i is the context feature whose code is out.codes[i]
    weights["attention_output/kernel"] = wp[:, np.argsort(out.codes)].T.reshape(h, dv, -1)
    if use_bias:
        weights["attention_output/bias"] = array(proj.bias) if proj.bias is not None else np.zeros(proj.out_features)
    layer = L.MultiHeadAttention(
        num_heads=h,
        key_dim=d,
        value_dim=dv if dv != d else None,
        dropout=s.dropout,
        use_bias=use_bias,
        use_causal_mask=s.causal,
        output_shape=proj.out_features if proj.out_features != in_shape[-1] else None,
    )
    _same(got, _reference(x, weights, s.causal), m)
    return layer, weights


def _reference(x: torch.Tensor, w: dict, causal: bool) -> torch.Tensor:
    """The attention the weights describe (Keras's definition), in float64."""

    def t(key):
        return torch.from_numpy(np.asarray(w[key], dtype=np.float64)) if key in w else None

    def project(part):  # (B, T, C) -> (B, H, T, d)
        y = torch.einsum("btc,chd->bhtd", x.double(), t(f"{part}/kernel"))
        return y if t(f"{part}/bias") is None else y + t(f"{part}/bias")[:, None, :]

    q, k, v = project("query"), project("key"), project("value")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        n = scores.shape[-1]
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    y = torch.einsum("bhtd,hde->bte", scores.softmax(-1) @ v, t("attention_output/kernel"))
    return y if t("attention_output/bias") is None else y + t("attention_output/bias")


def _same(got, want: torch.Tensor, m: nn.Module) -> None:
    """The last guard: the module's own output equals the attention read from it (else an importer bug)."""
    if (
        not isinstance(got, torch.Tensor)
        or got.shape != want.shape
        or not torch.allclose(got.double(), want, atol=1e-4, rtol=1e-3)
    ):
        raise UnsupportedError(
            f"{type(m).__name__}'s output differs from the multi-head attention read from its "
            "forward; it is not imported"
        )


def hand_attention(ctx, call):
    """A module :func:`find_hand_attention` kept whole -> one IR MultiHeadAttention on its ``(B, T, C)`` input."""
    if len(call.node.args) != 1 or call.node.kwargs:
        raise UnsupportedError("takes more than one input; only self-attention on one (B, T, C) input is read")
    x = ctx.tensor(call.args[0])
    if x.spec.rank != 3 or x.layout.index("N") != 0:
        raise UnsupportedError(f"expects a batch-first (B, T, C) input, got {x.layout}")
    layer, weights = read_attention(call.module, ctx.run1[call.node.args[0]].shape)
    x = ctx.relabel(x, "NTC", call)
    return ctx.add(call, layer, [x, x], weights)
