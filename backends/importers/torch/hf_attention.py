"""Attention written out op by op (Hugging Face's eager attention) folded into one ATen
``scaled_dot_product_attention`` node of the exported graph, before the importer converts it.

Hugging Face models compute attention as ``softmax(q @ k^T * scale + mask) @ v``
spelled in ATen ops, with a mask the model builds from the sequence length
(``arange``, ``le``, ``where``: 0 where a query may see a key, float32's
lowest value elsewhere), and, for grouped-query attention, the keys and
values repeated per query head (``unsqueeze``, ``expand``, ``reshape``:
``repeat_kv``). :func:`fold_attention` finds that chain around each
``softmax`` and writes it as ``aten.scaled_dot_product_attention(q, k, v,
mask, is_causal=, scale=, enable_gqa=)``:

* the scale is the number the scores are multiplied (or divided) by, 1 where
  there is none (T5);
* each term added to the scores that depends only on sizes (never on an
  input's values) is evaluated, at the example's sizes and at larger ones:
  all zeros (a mask that lets every query see every key) is dropped; 0 on and
  below the diagonal and at most -1e30 above it (or a bool lower triangle) is
  ``is_causal``; any other term stays, summed into one additive mask (T5's
  relative position bias); a lone term built from an ``attention_mask``
  input is that input's key-padding mask (``hf_masks.py``);
* repeated keys and values are taken before the repetition, with
  ``enable_gqa`` (the IR's ``ScaledDotProductAttention`` serves several query
  heads per key head itself).

``to_torch`` writes the IR's attention in the same steps, with a causal mask kept by ``torch.where`` over a
bool lower triangle and grouped keys and values repeated by ``repeat_interleave``: those fold too, so what
twinnet emitted reads back as the one op.

A chain is folded only when each step's result has no other user, and only
when the folded node, run on the example, gives what the chain gave (to
float32 rounding); otherwise the graph is left as it was.
"""

from __future__ import annotations

import torch
import torch.fx

from .hf_masks import BLOCKED, padding_mask, shape_only, term_kind

aten = torch.ops.aten
_SOFTMAX = (aten.softmax.int, aten._softmax.default)
_CASTS = (aten.to.dtype, aten.to.dtype_layout, aten.contiguous.default, aten.clone.default)
_ADD = (aten.add.Tensor, aten.add_.Tensor)
SDPA = aten.scaled_dot_product_attention.default
_WHERE = aten.where.ScalarOther


def _tensor(v) -> bool:
    return isinstance(v, torch.Tensor)


def _only_user(node, user) -> bool:
    return isinstance(node, torch.fx.Node) and list(node.users) == [user]


def _skip_casts(node, values):
    """The node behind float32 -> float32 casts and copies (``to(float32)``, ``contiguous``)."""
    while isinstance(node, torch.fx.Node) and node.target in _CASTS and len(node.users) == 1:
        src = node.args[0]
        if not (_tensor(values.get(src)) and values[src].dtype == values[node].dtype):
            break
        node = src
    return node


def _follow(node, values):
    """From a softmax forward to the ``probs @ v`` matmul: (matmul node, v) or None."""
    while True:
        if len(node.users) != 1:
            return None
        (user,) = node.users
        if user.target in _CASTS and values[user].dtype == values[node].dtype:
            node = user
        elif user.target is aten.dropout.default and (user.args[2:3] == (False,) or user.args[1] == 0.0):
            node = user
        elif user.target is aten.matmul.default and user.args[0] is node:
            return user, user.args[1]
        else:
            return None


def _unrepeat(node, values):
    """``repeat_kv(x)`` or ``x.repeat_interleave(r, dim=1)`` (how ``to_torch`` writes it) -> (x, repeats);
    anything else -> (node, 1)."""
    if node.target is aten.repeat_interleave.self_int and len(node.users) == 1:
        x, out = values.get(node.args[0]), values.get(node)
        dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim")
        if _tensor(x) and _tensor(out) and x.dim() == 4 and dim in (1, -3) and isinstance(node.args[1], int):
            return node.args[0], node.args[1]
        return node, 1
    if node.target not in (aten.reshape.default, aten.view.default, aten._unsafe_view.default):
        return node, 1
    expand = node.args[0]
    if getattr(expand, "target", None) is not aten.expand.default or len(expand.users) != 1:
        return node, 1
    unsq = expand.args[0]
    if getattr(unsq, "target", None) is not aten.unsqueeze.default or unsq.args[1] != 2 or len(unsq.users) != 1:
        return node, 1
    src = unsq.args[0]
    x, out = values.get(src), values.get(node)
    if not (_tensor(x) and _tensor(out) and x.dim() == 4 and out.dim() == 4 and out.shape[1] % x.shape[1] == 0):
        return node, 1
    reps = out.shape[1] // x.shape[1]
    if not torch.equal(out, x.repeat_interleave(reps, dim=1)):
        return node, 1
    return src, reps


def _key(node, values):
    """``k`` from ``k^T`` (a transpose of the last two axes of a rank-4 tensor), or None."""
    if getattr(node, "target", None) is not aten.transpose.int or len(node.users) != 1:
        return None
    rank = values[node].dim()
    if rank != 4 or {node.args[1] % rank, node.args[2] % rank} != {2, 3}:
        return None
    return node.args[0]


def _blocking(node) -> bool:
    """``torch.where(cond, scores, lowest)``: scores kept where ``cond``, blocked elsewhere (``to_torch``'s
    causal and bool masks)."""
    if getattr(node, "target", None) is not _WHERE or len(node.users) != 1:
        return False
    cond, _, other = node.args
    return isinstance(cond, torch.fx.Node) and isinstance(other, float) and other <= BLOCKED


def _scores(node, values):
    """Walk back from the softmax input: (matmul q @ k^T, scale, added terms, kept-where conditions) or None."""
    terms, conds = [], []
    node = _skip_casts(node, values)
    while _blocking(node):
        conds.append(node.args[0])
        node = _skip_casts(node.args[1], values)
    while getattr(node, "target", None) in _ADD and len(node.users) == 1 and len(node.args) == 2:
        a, b = node.args
        if _tensor(values.get(a)) and values[a].shape == values[node].shape and isinstance(a, torch.fx.Node):
            node, term = a, b
        else:
            node, term = b, a
        if not isinstance(term, torch.fx.Node):
            return None
        terms.append(term)
        node = _skip_casts(node, values)
    scale = 1.0
    target = getattr(node, "target", None)
    if target in (aten.mul.Tensor, aten.div.Tensor) and len(node.users) == 1 and isinstance(node.args[1], float):
        scale = node.args[1] if target is aten.mul.Tensor else 1.0 / node.args[1]
        node = node.args[0]
    if getattr(node, "target", None) is not aten.matmul.default or len(node.users) != 1:
        return None
    return node, scale, terms, conds


def causal_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, *, scale=None, enable_gqa=False):
    """torch's ``scaled_dot_product_attention`` taking a bool ``attn_mask`` (True = attend) and ``is_causal``
    together, as the IR's ``ScaledDotProductAttention`` does: a blocked score is float32's lowest value, so a
    query that sees no key averages them all (Hugging Face's eager attention does the same)."""
    if is_causal and attn_mask is not None:
        t, s = query.shape[-2], key.shape[-2]
        see = attn_mask & torch.ones(t, s, dtype=torch.bool, device=query.device).tril()
        attn_mask = torch.zeros(see.shape, dtype=query.dtype).masked_fill(~see, torch.finfo(query.dtype).min)
    return SDPA(query, key, value, attn_mask, dropout_p, False, scale=scale, enable_gqa=enable_gqa)


def _close(a, b) -> bool:
    return _tensor(a) and _tensor(b) and a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def fold_attention(gm: torch.fx.GraphModule, values: dict) -> int:
    """Fold every written-out attention of ``gm`` into one ``aten.scaled_dot_product_attention`` node
    (``values``: each node's value on the example, updated); returns how many were folded."""
    graph, memo, folded = gm.graph, {}, 0
    for sm in [n for n in graph.nodes if n.op == "call_function" and n.target in _SOFTMAX]:
        probs = values.get(sm)
        if not _tensor(probs) or probs.dim() != 4 or sm.args[1] % 4 != 3:
            continue
        after, before = _follow(sm, values), _scores(sm.args[0], values)
        if after is None or before is None:
            continue
        (out, v), (qk, scale, terms, conds) = after, before
        q, kt = qk.args
        k = _key(kt, values)
        if k is None:
            continue
        (k, kr), (v, vr) = _unrepeat(k, values), _unrepeat(v, values)
        if kr != vr:
            continue
        kinds = [term_kind(t, gm, values, memo) for t in terms]
        kept = [t for t, kind in zip(terms, kinds) if kind == "other"]
        if any(term_kind(c, gm, values, memo) != "causal" for c in conds) or (conds and kept):
            continue  # only a causal lower triangle kept by where, and then no other mask
        causal = ("causal" in kinds or bool(conds)) and not kept  # torch's attention: a mask or is_causal
        if kept:
            kept = [t for t, kind in zip(terms, kinds) if kind != "zero"]
        target = SDPA
        with graph.inserting_before(out):
            if len(kept) == 1 and not shape_only(kept[0], memo):
                padding = padding_mask(kept[0], gm, values)
                if padding is None:  # a decoder's: padding and causal in one term
                    padding = padding_mask(kept[0], gm, values, causal=True)
                    causal, target = (True, causal_sdpa) if padding is not None else (causal, target)
                kept = [padding if padding is not None else kept[0]]
            mask = kept[0] if kept else None
            for t in kept[1:]:
                mask = graph.call_function(aten.add.Tensor, (mask, t))
                mask.meta = dict(out.meta)
                values[mask] = values[mask.args[0]] + values[t]
            node = graph.call_function(
                target, (q, k, v, mask, 0.0, causal), {"scale": float(scale), "enable_gqa": kr > 1}
            )
        node.meta = dict(out.meta)
        args = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: values[n])
        try:
            with torch.no_grad():
                got = target(*args[0], **args[1])
        except RuntimeError:  # shapes torch's attention does not take
            got = None
        if not _close(got, values[out]):
            graph.erase_node(node)
            if kept[1:]:
                graph.erase_node(mask)
            continue
        values[node] = got
        out.replace_all_uses_with(node)
        folded += 1
    if folded:
        graph.eliminate_dead_code()
    return folded
