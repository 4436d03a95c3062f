"""Reading the mask of an attention block (for ``attention.py``).

Exporters mask scores in several spellings: torch adds ``Where(mask == 0, -inf, 0)``
and a stored causal triangle; Keras (tf2onnx) computes ``scores * keep + c * (1 - keep)``.
Rather than match each, the mask terms are evaluated on a probe key-padding mask
(0/1, Keras's polarity, key 0 always kept) and compared with what the IR's
MultiHeadAttention does: every blocked score must end at -1e4 or below (its
softmax weight is then exactly 0 in float32), every open one untouched.
Which of "padding", "causal", both or neither is the one that matches.

A *bool* mask input is read with torch's polarity, True = pad (what
``nn.TransformerEncoder``'s ``src_key_padding_mask`` exports as, through
``Where(mask, -inf, 0)``): the probe feeds it ``keep == 0``. The importer then
declares that input as the IR's float mask, 1 = attend (``not mask``), as
``from_torch`` does, so the two importers give one model one contract. A bool
mask that blocks where it is False (True = attend) does not match and is refused.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from .attention_skeleton import Skeleton
from .evaluator import MOVES, PLAIN, Evaluator, NoMatch

_BLOCKED = -1e4  # an additive mask at or below this zeroes a softmax entry in float32
_FLOAT, _BOOL = 1, 9  # ONNX TensorProto element types


def read_mask(graph: Graph, core: Skeleton, ev: Evaluator, codes: np.ndarray, sizes: tuple[int, int, int]):
    """(mask input or None, its layout, causal, ops evaluated, whether the mask input is bool) from the mask
    terms on the scores.

    ``ev`` holds the block's values at the probe sizes ``(batch, t, s)``; ``codes`` says where each
    (batch, head, t, s) score sits at the softmax.

    Each score becomes ``score * kept + added`` (a Where(c, score, fill) is kept = c, added = fill where
    not c). A blocked score needs kept 0 or 1 and added at most -1e4; an open one kept 1 and added 0."""
    c = core
    terms = c.added + c.kept + [n for pair in c.selects for n in pair]
    if not terms:
        return None, None, False, [], False
    leaves = _leaves(graph, ev, terms)
    if len(leaves) > 1:
        raise NoMatch(f"the scores' mask is computed from several tensors ({', '.join(leaves)})", stage=5)
    batch, t, s = sizes
    rng = np.random.default_rng(0)
    keep = (rng.random((batch, s)) < 0.6).astype(np.float32)
    keep[:, 0], keep[0, -1] = 1.0, 0.0  # key 0 always attended, at least one key blocked
    is_bool = bool(leaves) and graph.dtypes.get(leaves[0]) == _BOOL
    if leaves and (graph.dtypes.get(leaves[0]) not in (_FLOAT, _BOOL) or graph.rank(leaves[0]) != 2):
        raise NoMatch(
            f"the key-padding mask {leaves[0]!r} must be a rank-2 float (1 = attend) or bool (True = pad) tensor",
            stage=5,
        )
    fed = (keep == 0) if is_bool else keep  # torch's bool polarity: True = pad
    followed, unfollowed = False, None
    for layout in ("NT", "TN") if leaves else (None,):
        probe = Evaluator(graph, {k: v for k, v in ev.env.items() if k not in ev.tainted}, ev.coded, ev.placeholder)
        if leaves:
            probe.seed(leaves[0], fed if layout == "NT" else fed.T.copy(), False)
        try:
            kept, added = _effect(core, probe, codes, (batch, t, s))
            if any(term in probe.tainted for term in terms):
                raise NoMatch("the mask depends on the values of another input than the key-padding mask")
        except (NoMatch, ValueError, TypeError, IndexError) as e:  # e.g. the mask's axes read in the other order
            unfollowed = unfollowed or NoMatch(f"the scores' mask could not be followed ({e})", stage=5)
            continue
        followed = True
        for causal in (False, True):
            blocked = np.zeros((batch, 1, t, s), bool)
            if leaves:
                blocked |= (keep == 0)[:, None, None, :]
            if causal:
                blocked |= np.triu(np.ones((t, s), bool), 1)[None, None]
            blocked = np.broadcast_to(blocked, kept.shape)
            if (
                np.all(added[blocked] <= _BLOCKED)
                and np.all((kept[blocked] == 0) | (kept[blocked] == 1))
                and np.all(added[~blocked] == 0)
                and np.all(kept[~blocked] == 1)
            ):
                if causal and t != s:
                    raise NoMatch("a causal mask between sequences of different lengths", stage=5)
                return (leaves[0] if leaves else None), layout, causal, probe.ops, is_bool
    if not followed:
        raise unfollowed
    if is_bool:
        raise NoMatch(
            f"the bool mask {leaves[0]!r} does not act as a key-padding mask with True = pad (torch's "
            "convention, the one from_onnx reads bool masks with), with or without the causal mask",
            stage=5,
        )
    raise NoMatch(
        "the mask on the scores is neither a key-padding mask (1 = attend, 0 = ignore) nor the causal mask", stage=5
    )


def _effect(core: Skeleton, probe: Evaluator, codes: np.ndarray, sizes) -> tuple[np.ndarray, np.ndarray]:
    """(kept, added), each (batch, heads, t, s): what the mask terms do to every score."""
    c, (batch, t, s) = core, sizes
    shape = probe.value(core.softmax.inputs[0]).shape
    kept, added = np.ones(shape), np.zeros(shape)
    for name in c.kept:
        kept = kept * probe.value(name).astype(np.float64)
    for name in c.added:
        added = added + probe.value(name).astype(np.float64)
    for cond, fill in c.selects:
        where = np.broadcast_to(probe.value(cond).astype(bool), shape)
        kept = np.where(where, kept, 0.0)
        added = np.where(where, added, np.broadcast_to(probe.value(fill).astype(np.float64), shape))
    codes = codes.reshape(-1)  # where each (batch, head, t, s) score sits at the softmax
    out = []
    for x in (kept, added):
        flat = np.empty(codes.size)
        flat[codes] = np.broadcast_to(x, shape).reshape(-1)
        out.append(flat.reshape(batch, -1, t, s))
    return out[0], out[1]


def _leaves(graph: Graph, ev: Evaluator, terms: list[str]) -> list[str]:
    """The computed tensors the mask terms are made from (values the probe does not know yet)."""
    leaves, todo, seen = [], list(terms), set()
    while todo:
        name = todo.pop()
        if name in seen or (name in ev.env and name not in ev.tainted) or graph.const(name) is not None:
            continue
        seen.add(name)
        op = graph.producer.get(name)
        if op is None or (op.op_type not in PLAIN and op.op_type not in MOVES):
            leaves.append(name)
        else:
            todo.extend(i for i in op.inputs if i)
    return leaves
