"""The ``keras.ops`` steps ``to_keras`` writes for the op ``ScaledDotProductAttention``
(``backends/keras/ops_norm.py``), recognised back into that one op.

The steps, q, k and v batch first ``(N, heads, length, features)``:

``[k, v -> repeat(groups, axis=1)] -> scores = multiply(matmul(q, swapaxes(k, 2, 3)), scale)
[-> where(less_equal(cumsum(ones_like(scores), axis=3), cumsum(ones_like(scores), axis=2)), scores, lowest)]
-> softmax(axis=3) -> matmul(weights, v)``

the optional ``where`` being the causal mask (the scores read by it and by one ``ones_like`` per cumsum) and the
``repeat`` grouped-query heads (both k and v, by the same count). Before the causal mask, if any, may come the
mask input: ``add(scores, mask)`` for a float mask or ``where(mask, scores, lowest)`` for a bool one. Every
intermediate call must be called once, be read only inside the steps and not be a model output. The steps
become one op (``causal``, ``scale`` and the mask read back), named after the last matmul. Anything else is
left as its steps.
"""

from __future__ import annotations

import keras
import numpy as np
from keras.src.ops import nn as knn
from keras.src.ops import numpy as knp

from ....ir.layout import free_letters
from .graph import private_maker
from .ops_helpers import relabel

__all__ = ["attention_steps", "masked_inputs"]

_LOWEST = float(np.finfo(np.float32).min)


def attention_steps(calls, consumers: dict, output_keys: set, times: dict) -> dict[int, tuple]:
    """``id(last matmul call) -> (q, k, v, mask (None if unmasked) Keras tensors, causal, scale, ids of the other
    steps)``."""

    def made_by(tensor, cls, readers: int = 1):
        """The call making ``tensor`` if it is a ``cls`` call, called once, read ``readers`` times, no output."""
        if not isinstance(tensor, keras.KerasTensor):
            return None
        return private_maker(tensor, cls, consumers, output_keys, times, readers)

    def args(node, n: int):
        out = list(node.arguments.args)
        return out if len(out) == n and not node.arguments.kwargs else None

    def axis(node):
        value = getattr(node.operation, "axis", None)
        return int(value) if isinstance(value, (int, np.integer)) else None

    def causal_where(tensor, members):
        """The scores before the causal mask, if ``tensor`` is its ``where``; else None."""
        where = made_by(tensor, knp.Where)
        a = args(where, 3) if where else None
        if not a or not isinstance(a[2], float) or a[2] > _LOWEST / 2:
            return None
        seen = made_by(a[0], knp.LessEqual)
        pair = args(seen, 2) if seen else None
        sums = [made_by(t, knp.Cumsum) for t in pair or ()]
        if not pair or None in sums or [axis(s) for s in sums] != [3, 2]:
            return None
        ones = [made_by(args(s, 1)[0], knp.OnesLike) if args(s, 1) else None for s in sums]
        if None in ones or any(args(o, 1) is None for o in ones):
            return None
        scores = args(ones[0], 1)[0]
        if any(args(o, 1)[0] is not scores for o in ones) or a[1] is not scores:
            return None
        members += [where, seen, *sums, *ones]
        return scores

    def masked(tensor, readers, members):
        """(the scores before the mask, the mask) if ``tensor`` is ``add(scores, mask)`` or
        ``where(mask, scores, lowest)``; else None."""
        add = made_by(tensor, knp.Add, readers)
        a = args(add, 2) if add else None
        if a and all(isinstance(t, keras.KerasTensor) for t in a):
            members.append(add)
            return a[0], a[1]
        where = made_by(tensor, knp.Where, readers)
        a = args(where, 3) if where else None
        if not a or not isinstance(a[2], float) or a[2] > _LOWEST / 2:
            return None
        if not all(isinstance(t, keras.KerasTensor) for t in a[:2]) or a[0].dtype != "bool":
            return None
        members.append(where)
        return a[1], a[0]

    def repeated(tensor, members):
        """(the tensor before a ``repeat(n, axis=1)``, n) or (tensor, 1)."""
        rep = made_by(tensor, knp.Repeat)
        a = args(rep, 1) if rep else None
        if rep is None or a is None or rep.operation.axis != 1 or not isinstance(rep.operation.repeats, int):
            return tensor, 1
        members.append(rep)
        return a[0], rep.operation.repeats

    found = {}
    for node in calls:
        if node.is_input or type(node.operation) is not knp.Matmul or args(node, 2) is None:
            continue
        members = []
        w, v = args(node, 2)
        soft = made_by(w, knn.Softmax)
        if soft is None or args(soft, 1) is None or soft.operation.axis not in (3, -1):
            continue
        members.append(soft)
        scores = args(soft, 1)[0]
        before = causal_where(scores, members)
        causal = before is not None
        if causal:
            scores = before
        readers, mask = 3 if causal else 1, None
        unmasked = masked(scores, readers, members)
        if unmasked is not None:
            (scores, mask), readers = unmasked, 1
        scaled = made_by(scores, knp.Multiply, readers=readers)
        a = args(scaled, 2) if scaled else None
        if not a or type(a[1]) is not float or a[1] <= 0:
            continue
        product = made_by(a[0], knp.Matmul)
        q, kt = args(product, 2) if product and args(product, 2) else (None, None)
        swap = made_by(kt, knp.Swapaxes)
        if swap is None or args(swap, 1) is None or (swap.operation.axis1, swap.operation.axis2) != (2, 3):
            continue
        members += [scaled, product, swap]
        k, k_groups = repeated(args(swap, 1)[0], members)
        v, v_groups = repeated(v, members)
        if k_groups != v_groups:
            continue
        found[id(node)] = (q, k, v, mask, causal, a[1], {id(m) for m in members})
    return found


def masked_inputs(layer, qkv: list, mask, fresh) -> list:
    """``[q, k, v, mask]`` for ``layer`` from aligned q, k, v: k and v lettered with a length letter not q's
    (a mask needs them apart), the mask with the scores' letters (Keras pairs its axes with theirs by position)."""
    q, k, v = qkv
    if k.layout[2] in q.layout[:3]:
        length = free_letters(q.layout + k.layout + v.layout, 1)
        k = relabel(k, k.layout[:2] + length + k.layout[3], fresh("_relabel_k"))
        v = relabel(v, v.layout[:2] + length + v.layout[3], fresh("_relabel_v"))
    scores = layer.scores_spec([q.spec, k.spec, v.spec])
    return [q, k, v, relabel(mask, scores.layout, fresh("_relabel_mask"))]
