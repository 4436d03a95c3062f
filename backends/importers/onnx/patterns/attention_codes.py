"""What the integer codes say at the attention block's three joints (see ``attention.py``).

The match seeds the element-moving chains with code tensors and runs them
(``evaluator.py``); these read the codes where they arrive: at the scores (the
softmax runs over key steps, in the canonical (batch, head, query, key) order),
at the projected q/k/v (which projected column is head ``h``'s feature ``j``),
and after the weighted values (how the heads merge into the output projection,
and where the result is back in the query's axis order). ``m`` is the match in
progress (``attention._Match``); each raises ``NoMatch`` with the reason.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Op
from .attention_skeleton import data_user, projection
from .attention_weights import is_output
from .evaluator import MOVES, Evaluator, NoMatch

MAX_CHAIN = 40  # the longest chain of element moves followed from one joint


def constant_operand(graph: Graph, op: Op, name: str) -> bool:
    """``op`` combines ``name`` with a stored tensor (Sub only as ``name - constant``)."""
    if len(op.inputs) != 2 or name not in op.inputs or (op.op_type == "Sub" and op.inputs[0] != name):
        return False
    return isinstance(graph.const(op.inputs[1 - op.inputs.index(name)]), np.ndarray)


def _expect(x: np.ndarray, canonical: np.ndarray, where: str) -> None:
    if x.size != canonical.size or x.ndim not in (3, 4) or np.any(x.reshape(canonical.shape) != canonical):
        raise NoMatch(f"the scores do not reach {where} as (batch, heads, query steps, key steps)", stage=1)


def check_scores(m, ev: Evaluator, heads: int) -> None:
    """The scores reach the softmax, and its result the second MatMul, as (batch, head, query step, key step)
    (or with batch and head folded into one axis); the softmax runs over the key steps."""
    c, batch = m.core, m.batch
    a, b = ev.value(m.scores.inputs[0]), ev.value(m.scores.inputs[1])
    shape = a.shape[:-1] + b.shape[-1:]
    t, s = m.sizes[m.source["query"]][1], m.sizes[m.source["key"]][1]
    canonical = np.arange(batch * heads * t * s, dtype=np.int64).reshape(batch, heads, t, s)
    ev.seed(
        m.scores.outputs[0],
        (canonical.transpose(0, 1, 3, 2) if m.swapped else canonical).reshape(shape),
        True,
    )
    for op in c.moves_in:
        ev.value(op.outputs[0])
    last = c.moves_in[-1].outputs[0] if c.moves_in else m.scores.outputs[0]
    for op in c.arithmetic:  # masks and scales keep every score where it is (checked on a probe later)
        ev.seed(op.outputs[0], ev.value(last), True)
        last = op.outputs[0]
    x = ev.value(m.softmax.inputs[0])
    along = np.moveaxis(x, m.softmax.attr("axis", -1), -1)
    if x.size != canonical.size or np.any(along % s != np.arange(s)) or np.any(along // s != along[..., :1] // s):
        raise NoMatch("the softmax does not run over the key steps", stage=1)
    m.score_codes = x
    ev.seed(m.softmax.outputs[0], x, True)  # normalises each row of keys in place
    if c.guard:
        ev.seed(c.guard[-1].outputs[0], ev.value(m.softmax.outputs[0]), True)
    for op in c.moves_out:
        ev.value(op.outputs[0])
    _expect(ev.value(m.mix.inputs[0]), canonical, "the product with the values")


def head_columns(m, role: str, x: np.ndarray, order: str) -> np.ndarray:
    """Which projected column each head's feature is, shape (H, d); checks batch and step positions."""
    proj, source = m.proj[role], m.source[role]
    batch, steps, _ = m.sizes[source]
    cols = projection(m.graph, proj)[0].shape[1]
    if x.ndim == 3 and x.shape[0] % batch == 0:  # (B*H, ., .): heads folded into the batch axis
        x = x.reshape((batch, -1) + x.shape[1:])
    if x.ndim != 4:
        raise NoMatch(f"the {role} arrives with rank {x.ndim}; expected (batch, heads, steps, size)")
    if order == "k":
        x = x.transpose(0, 1, 3, 2)  # q @ k: the key arrives as (batch, heads, size, steps)
    if x.shape[0] != batch or x.shape[2] != steps:
        raise NoMatch(f"the {role} arrives as {x.shape}, not (batch {batch}, heads, steps {steps}, size)")
    pos, col = x // cols, x % cols
    want = np.arange(batch)[:, None, None, None] * steps + np.arange(steps)[None, None, :, None]
    if np.any(pos != want) or np.any(col != col[:1, :, :1, :]):
        raise NoMatch(f"the {role}'s heads do not keep each (batch, step) together", stage=1)
    heads = col[0, :, 0, :]
    if len(np.unique(heads)) != heads.size:
        raise NoMatch(f"the {role} repeats projected columns", stage=1)
    return heads


def output_projection(m, ev: Evaluator, h: int, dv: int):
    """(output projection, output value, ops after the product, kernel row order)."""
    g, (batch, steps, _) = m.graph, m.sizes[m.source["query"]]
    width = h * dv
    b, hh, t, j = np.meshgrid(np.arange(batch), np.arange(h), np.arange(steps), np.arange(dv), indexing="ij")
    ev.seed(m.mix.outputs[0], ((b * steps + t) * width + hh * dv + j).astype(np.int64), True)
    start, name, before = len(ev.ops), m.mix.outputs[0], len(ev.biases)
    for _ in range(MAX_CHAIN):
        user = data_user(g, name)
        if user is None:
            raise NoMatch("the attention's weighted values are read by several ops", stage=2)
        if projection(g, user) is not None:
            user = m.whole_projection(user)
            if projection(g, user)[2] == name:
                break
        if user.op_type not in MOVES or user.inputs[0] != name:
            raise NoMatch(
                f"{user.op_type} {user.name!r} follows the weighted values before any output projection", stage=2
            )
        name = user.outputs[0]
        ev.value(name)
    else:
        raise NoMatch("no output projection follows the weighted values", stage=2)
    r = ev.value(name)
    if len(ev.biases) != before:
        raise NoMatch("a constant is added to the weighted values before the output projection", stage=2)
    feature, pos = r % width, r // width
    rows = feature.reshape(-1, width)[0]
    if (
        r.shape[-1] != width
        or np.any(feature != rows)
        or np.any(pos != pos[..., :1])
        or sorted(rows) != list(range(width))
    ):
        raise NoMatch("the heads are not merged into the output projection's features", stage=2)
    w_out = projection(g, user)[0]
    e_out = w_out.shape[1]
    ev.seed(user.outputs[0], pos[..., :1] * e_out + np.arange(e_out), True)
    best, name = None, user.outputs[0]
    layout = m.layouts[m.source["query"]]
    for _ in range(MAX_CHAIN):
        if is_output(ev.value(name), layout, batch, steps, e_out):
            best = (name, list(ev.ops[start:]), len(ev.biases))
        next_op = data_user(g, name)
        if next_op is None or not (
            next_op.op_type in MOVES
            and next_op.inputs[0] == name
            or next_op.op_type in ("Add", "Sub")
            and constant_operand(g, next_op, name)
        ):
            break  # tf2onnx adds the output bias after its reshapes
        try:
            ev.value(next_op.outputs[0])
        except (NoMatch, ValueError, IndexError, TypeError):
            break
        name = next_op.outputs[0]
    if best is None:
        raise NoMatch(f"the output projection's result never returns to the query's {layout} order", stage=2)
    ev.ops[start:] = best[1]  # the moves looked at beyond the block's output stay in the graph
    del ev.biases[best[2] :]
    return user, best[0], best[1], rows
