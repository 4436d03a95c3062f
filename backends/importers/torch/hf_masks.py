"""Masks Hugging Face models build for attention, read back: which terms added to the scores depend on
sizes only, what such a term is (:func:`term_kind`: nothing masked, causal, or something else), and a
key-padding mask built from an input (:func:`padding_mask`).

:func:`evaluate` runs the part of the exported graph a value comes from on
its own: at grown sizes (a mask built from sizes, checked at another length
than the example's) or with other values for some inputs (a padding mask,
checked on another attention mask).
"""

from __future__ import annotations

import operator

import torch
import torch.fx

aten = torch.ops.aten
BLOCKED = -1e30  # a masked score: float32's lowest value (or -inf) in Hugging Face's masks


def shape_only(node, memo) -> bool:
    """Whether ``node`` depends on the inputs' sizes only, never on their values."""
    if node in memo:
        return memo[node]
    if node.op == "get_attr":
        found = True
    elif node.op == "call_function" and node.target is aten.sym_size.int:
        found = True
    elif node.op == "call_function":
        found = all(shape_only(a, memo) for a in node.all_input_nodes)
    else:
        found = False
    memo[node] = found
    return found


def evaluate(node, gm, grow: int, given: dict | None = None):
    """``node``'s value with every symbolic size grown by ``grow``, or with the inputs in ``given`` (input
    node -> value) at those values (None when it does not run there)."""
    order, seen, given = [], set(), given or {}

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for a in n.all_input_nodes if n.target is not aten.sym_size.int and n not in given else ():
            visit(a)
        order.append(n)

    visit(node)
    env = {}
    try:
        for n in order:
            if n in given:
                env[n] = given[n]
            elif n.op == "get_attr":
                env[n] = operator.attrgetter(n.target)(gm)
            elif n.target is aten.sym_size.int and n.args[0] in given:
                env[n] = given[n.args[0]].shape[n.args[1]]
            elif n.target is aten.sym_size.int:
                size = n.args[0].meta["val"].shape[n.args[1]]
                env[n] = int(size.node.hint) + grow if isinstance(size, torch.SymInt) else int(size)
            else:
                args = torch.fx.node.map_arg(n.args, lambda a: env[a])
                kwargs = torch.fx.node.map_arg(n.kwargs, lambda a: env[a])
                env[n] = n.target(*args, **kwargs)
    except Exception:  # a size the model does not allow (past its position table): not evidence either way
        return None
    return env[node]


def _kind(m) -> str:
    """``"zero"``, ``"causal"`` or ``"other"`` for a mask value (the last two axes queries x keys)."""
    if not isinstance(m, torch.Tensor) or m.dim() < 2:
        return "other"
    t, s = m.shape[-2:]
    lower = torch.ones(t, s, dtype=torch.bool).tril()
    if m.dtype == torch.bool:
        if bool(m.all()):
            return "zero"
        return "causal" if t == s and bool((m == lower).all()) else "other"
    if bool((m == 0).all()):
        return "zero"
    if t == s and bool((m[..., lower] == 0).all()) and bool((m[..., ~lower] <= BLOCKED).all()):
        return "causal"
    return "other"


def term_kind(term, gm, values, memo) -> str:
    if not shape_only(term, memo):
        return "other"
    kinds = {_kind(values.get(term))}
    grown = evaluate(term, gm, 3)
    if grown is not None:
        kinds.add(_kind(grown))
    return kinds.pop() if len(kinds) == 1 else "other"


def _padding_of(m, keep, causal: bool) -> bool:
    """Whether additive mask ``m`` (N, heads or 1, T, S) is 0 where ``keep`` (N, S) is nonzero (and, if
    ``causal``, the key is not after the query), blocked elsewhere."""
    if not (isinstance(m, torch.Tensor) and m.is_floating_point() and m.dim() == 4):
        return False
    if m.shape[0] != keep.shape[0] or m.shape[3] != keep.shape[1] or (causal and m.shape[2] != m.shape[3]):
        return False
    see = (keep != 0)[:, None, None, :]
    if causal:
        see = see & torch.ones(m.shape[2], m.shape[3], dtype=torch.bool).tril()
    see = see.expand(m.shape)
    return bool((m[see] == 0).all()) and bool((m[~see] <= BLOCKED).all())


def padding_mask(term, gm, values, causal: bool = False):
    """``term`` (an additive mask) as a key-padding mask of an integer or bool input ``p`` (N, S), 0 where
    ``p`` is nonzero (and, with ``causal``, on and below the diagonal) and blocked elsewhere: new nodes
    ``(p != 0)[:, None, None, :]`` (bool, True = attend), inserted where the graph is being written; None
    when it is not one (checked on the example and on another ``p``)."""
    graph = gm.graph
    for p in graph.find_nodes(op="placeholder"):
        keep = values.get(p)
        if not isinstance(keep, torch.Tensor) or keep.dim() != 2 or keep.is_floating_point():
            continue
        if not _padding_of(values.get(term), keep, causal):
            continue
        other = torch.ones_like(keep)
        other[:, : keep.shape[1] // 2] = 0  # another padding: the first half masked
        other[0] = 1
        if not _padding_of(evaluate(term, gm, 0, {p: other}), other, causal):
            continue
        ne = graph.call_function(aten.ne.Scalar, (p, 0))
        heads = graph.call_function(aten.unsqueeze.default, (ne, 1))
        mask = graph.call_function(aten.unsqueeze.default, (heads, 2))
        for n in (ne, heads, mask):
            n.meta["nn_module_stack"] = dict(term.meta.get("nn_module_stack", {}))
        values[ne] = keep != 0
        values[heads], values[mask] = values[ne][:, None], values[ne][:, None, None]
        return mask
    return None
