"""Pattern rule: an attention block written as small ops -> one ``twinnet.MultiHeadAttention`` op.

Exporters spell ``softmax(q k^T * scale + mask) v`` between four projections
in many ways (torch's ``nn.MultiheadAttention`` packs q/k/v into one matrix and
picks thirds with Gather; ``scaled_dot_product_attention`` scales q and k by
``sqrt(scale)`` each; reshapes are computed at run time from ``Shape``). The
rule therefore fixes only the skeleton by structure:

  * ``Softmax`` over the last axis, reading ``MatMul(q, k)`` (through
    ``Add`` of mask terms and ``Mul``/``Div`` by scalars), read by ``MatMul(., v)``;
  * q, k and v each come, through ops that only move elements, from a
    projection (``MatMul`` by a stored matrix, with its bias, or ``Gemm``);
  * the product's result reaches, the same way, an output projection.

What the moving ops do is then *computed*, not guessed: the element-moving
chains are run on integer code tensors (``onnx_eval.py``) at a small
concrete batch and length. The codes arriving at the MatMuls say which
projected column holds head ``h``'s feature ``j`` at which (batch, step):
that gives the IR's ``(E, H, d)`` kernels exactly, the number of heads, the
head sizes, and each input's axis order (``NTC`` or ``TNC``). The mask terms
are evaluated on a probe mask and must be a key-padding mask (0 = ignore,
Keras's polarity, blocked scores at -1e4 or below) and/or the causal mask; the
scalar factors must multiply to ``1/sqrt(key_dim)``, the IR's only scale.

When the skeleton is there with a heads axis (rank-4 scores, which no other
IR layer reads) but a detail is not what the IR computes (another scale, a
mask of another kind, a value used outside the block), the Softmax keeps the
reason (``twinnet_attention``) and the importer refuses it with that reason.
Rank-3 scores that do not match are left alone: they may be plain Dots.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from .onnx_eval import Evaluator, NoMatch, _MOVES, _PLAIN
from .onnx_graph import Graph, Op
from .onnx_match import replace

ATTENTION = "twinnet.MultiHeadAttention"
_BATCH, _LENGTHS = 2, (3, 5)  # concrete sizes for symbolic axes (query length, key length)
_BLOCKED = -1e4  # an additive mask at or below this zeroes a softmax entry in float32
_MAX_CHAIN = 40


def fuse_attention(graph: Graph, op: Op) -> None:
    """Softmax(MatMul(q, k) [+ mask] [* scale]) read by MatMul(., v): fuse the block, or note why not."""
    core = _core(graph, op)
    if core is None:
        return
    try:
        new, group = _Match(graph, core).run()
    except (NoMatch, ValueError, TypeError, IndexError, KeyError) as e:
        if 4 in (graph.rank(op.inputs[0]), graph.rank(core.scores.outputs[0])):  # heads: no other layer reads it
            op.attrs["twinnet_attention"] = str(e)
        return  # rank-3 scores may still be plain Dots and a softmax
    replace(graph, group, new)


@dataclass
class _Core:
    """The skeleton around one Softmax: what the rule found by structure alone."""

    softmax: Op
    scores: Op  # MatMul(q, k)
    mix: Op  # MatMul(weights, v)
    moves_in: list[Op]  # element moves from the scores MatMul to the arithmetic (reshapes of the einsum form)
    arithmetic: list[Op]  # Add/Mul/Div/Where on the scores
    guard: list[Op]  # torch's NaN guard after the softmax
    moves_out: list[Op]  # element moves from the softmax (or guard) to the mixing MatMul
    added: list[str] = field(default_factory=list)  # additive mask terms
    kept: list[str] = field(default_factory=list)  # multiplicative 0/1 mask terms
    selects: list[tuple[str, str]] = field(default_factory=list)  # Where(condition, scores, fill)
    scales: list[tuple[str, str]] = field(default_factory=list)  # ("Mul" | "Div", scalar)


def _core(graph: Graph, softmax: Op) -> _Core | None:
    rank = graph.rank(softmax.inputs[0]) if softmax.op_type == "Softmax" else None
    if rank not in (3, 4) or not -rank <= softmax.attr("axis", -1) < rank:
        return None  # which axis holds the key steps is checked on codes
    guard, name = _nan_guard(graph, softmax)
    moves_out = []
    for _ in range(8):
        user = _data_user(graph, name)
        if user is None or user.inputs[0] != name:
            return None
        if user.op_type == "MatMul" and len(user.inputs) == 2 and graph.const(user.inputs[1]) is None:
            break
        if user.op_type not in _MOVES:
            return None
        moves_out.append(user)
        name = user.outputs[0]
    else:
        return None
    core = _Core(softmax, None, user, [], [], guard, moves_out)
    name = softmax.inputs[0]
    for _ in range(16):
        op = graph.producer.get(name)
        if op is None or _data_user(graph, name) is None:
            return None
        if op.op_type == "MatMul" and len(op.inputs) == 2 and all(graph.const(i) is None for i in op.inputs):
            core.scores = op
            return core
        if op.op_type in _MOVES:
            core.moves_in.insert(0, op)
            name = op.inputs[0]
            continue
        if core.moves_in:
            return None  # arithmetic before a reshape of the scores: its mask would need reshaping too
        scores = _scores_input(graph, op)
        if scores is None:
            return None
        if op.op_type == "Where" and len(op.inputs) == 3 and scores == op.inputs[1]:
            core.selects.append((op.inputs[0], op.inputs[2]))
        elif op.op_type not in ("Add", "Mul", "Div") or len(op.inputs) != 2:
            return None
        else:
            other = op.inputs[1 - op.inputs.index(scores)]
            if op.op_type == "Add":
                core.added.append(other)
            elif op.op_type == "Div" and scores != op.inputs[0]:
                return None
            elif op.op_type == "Mul" and _is_tensor(graph, other):
                core.kept.append(other)
            else:
                core.scales.append((op.op_type, other))
        core.arithmetic.insert(0, op)
        name = scores
    return None


def _data_user(graph: Graph, name: str) -> Op | None:
    """The one op reading ``name`` other than ops taking its shape (the einsum form reads shapes at run time)."""
    users = [u for u in graph.consumers.get(name, []) if u.op_type != "Shape"]
    return users[0] if len(users) == 1 and name not in graph.outputs else None


def _is_tensor(graph: Graph, name: str) -> bool:
    """More than one number, as far as the file says."""
    shape = graph.shapes.get(name)
    return shape is not None and any(d != 1 for d in shape)


def _nan_guard(graph: Graph, softmax: Op) -> tuple[list[Op], str]:
    """torch's ``Where(IsNaN(p), 0, p)`` after a masked softmax (rows with every key masked, which the IR
    leaves undefined): ([IsNaN, Where], its output), or ([], the softmax's output)."""
    users = graph.consumers.get(softmax.outputs[0], [])
    isnan = next((u for u in users if u.op_type == "IsNaN"), None)
    where = next((u for u in users if u.op_type == "Where"), None)
    if len(users) == 2 and isnan is not None and where is not None and softmax.outputs[0] not in graph.outputs \
            and where.inputs[0] == isnan.outputs[0] and where.inputs[2] == softmax.outputs[0] \
            and graph.only_consumer(isnan.outputs[0]) is where:
        zero = graph.const(where.inputs[1])
        if isinstance(zero, np.ndarray) and zero.size == 1 and not zero.any():
            return [isnan, where], where.outputs[0]
    return [], softmax.outputs[0]


def _scores_input(graph: Graph, op: Op) -> str | None:
    """The input of an arithmetic op on the score path that leads back to the q k^T MatMul."""
    for name in op.inputs:
        if name and _leads_to_scores(graph, name, 12):
            return name
    return None


def _leads_to_scores(graph: Graph, name: str, depth: int) -> bool:
    p = graph.producer.get(name)
    if p is None or depth == 0:
        return False
    if p.op_type == "MatMul" and len(p.inputs) == 2 and all(graph.const(i) is None for i in p.inputs):
        return True
    if p.op_type in ("Add", "Mul", "Div", "Where"):
        return any(i and _leads_to_scores(graph, i, depth - 1) for i in p.inputs)
    return p.op_type in _MOVES and _leads_to_scores(graph, p.inputs[0], depth - 1)


def _projection(graph: Graph, op: Op | None):
    """(W (in, out), bias or None, the input it multiplies, ops it stands for) if ``op`` ends a projection
    (MatMul by a stored matrix, with a fused bias, or Gemm), else None. A bias computed from constants (torch
    splits its packed ``in_proj_bias`` when key and value have other sizes) is evaluated here."""
    if op is None:
        return None
    if op.op_type == "Add" and len(op.inputs) == 2:
        for i, name in enumerate(op.inputs):
            mul = graph.producer.get(name)
            if mul is not None and mul.op_type == "MatMul" and len(mul.inputs) == 2 \
                    and graph.only_consumer(name) is op and _projection(graph, mul) is not None:
                probe = Evaluator(graph, {}, set())
                try:
                    bias = probe.value(op.inputs[1 - i])
                except (NoMatch, ValueError, TypeError, IndexError, KeyError):
                    return None
                w, _, x, extra = _projection(graph, mul)
                if bias.size != w.shape[1]:
                    return None
                return w, bias.astype(np.float32).reshape(-1), x, [mul] + extra + probe.ops
        return None
    if op.op_type == "MatMul" and len(op.inputs) in (2, 3):
        w, extra = graph.const(op.inputs[1]), []
        if w is None and graph.producer.get(op.inputs[1]) is not None:  # torch splits a packed in_proj_weight
            probe = Evaluator(graph, {}, set())
            try:
                w, extra = probe.value(op.inputs[1]), probe.ops
            except (NoMatch, ValueError, TypeError, IndexError, KeyError):
                return None
        b = graph.const(op.inputs[2]) if len(op.inputs) == 3 else None
        if isinstance(w, np.ndarray) and w.ndim == 2 and w.dtype.kind == "f" and not isinstance(b, str):
            return w.astype(np.float32), None if b is None else np.asarray(b, np.float32).reshape(-1), \
                op.inputs[0], extra
    if op.op_type == "Gemm" and not op.attr("transA", 0):
        w = graph.const(op.inputs[1])
        c = graph.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else None
        if isinstance(w, np.ndarray) and w.ndim == 2 and not isinstance(c, str):
            w = (w.T if op.attr("transB", 0) else w) * np.float32(op.attr("alpha", 1.0))
            bias = None if c is None else (np.asarray(c, np.float32) * np.float32(op.attr("beta", 1.0))).reshape(-1)
            return w.astype(np.float32), bias, op.inputs[0], []
    return None


def _expect(x: np.ndarray, canonical: np.ndarray, where: str) -> None:
    if x.size != canonical.size or x.ndim not in (3, 4) or np.any(x.reshape(canonical.shape) != canonical):
        raise NoMatch(f"the scores do not reach {where} as (batch, heads, query steps, key steps)", stage=1)


class _Match:
    """One attempt to read the block around a Softmax as the IR's MultiHeadAttention."""

    def __init__(self, graph: Graph, core: _Core):
        self.graph, self.core = graph, core
        self.softmax, self.scores, self.mix = core.softmax, core.scores, core.mix

    def run(self) -> tuple[Op, list[Op]]:
        """Try q @ k^T (scores (.., T, S)) and k @ q^T (Keras with dropout: (.., S, T), transposed after the
        softmax), and each input's batch axis first or second; the first reading that checks out wins."""
        for op in self.core.moves_in + self.core.moves_out:
            training = op.inputs[2] if op.op_type == "Dropout" and len(op.inputs) > 2 else ""
            value = self.graph.const(training) if training else None
            if training and (not isinstance(value, np.ndarray) or value.any()):
                raise NoMatch(f"Dropout {op.name!r} runs in training mode (it drops attention weights at "
                              "inference); the IR's attention dropout is inactive at inference")
        best = None
        for swapped, batch_axes in self._readings():
            try:
                self._roles(swapped)
                return self._attempt(dict(zip(self.sources, batch_axes)))
            except (ValueError, TypeError, IndexError, KeyError) as e:  # a wrong guess of the sizes: next guess
                error = NoMatch(f"the ops between the projections could not be followed ({type(e).__name__}: {e})")
            except NoMatch as e:
                error = e
            if best is None or error.stage >= best.stage:
                best = error
        raise best or self.role_error

    def _readings(self):
        for swapped in (False, True):
            try:
                self._roles(swapped)
            except NoMatch as e:
                self.role_error = e
                continue
            for batch_axes in itertools.product((0, 1), repeat=len(self.sources)):
                yield swapped, batch_axes

    def _roles(self, swapped: bool) -> None:
        """Which MatMul input is the query's, which the key's; their projections and sources."""
        g, a, b = self.graph, self.scores.inputs[0], self.scores.inputs[1]
        self.swapped = swapped
        self.arrives = {"query": (b, "k") if swapped else (a, "t"), "key": (a, "t") if swapped else (b, "k"),
                        "value": (self.mix.inputs[1], "t")}
        self.proj = {role: self._walk_back(name) for role, (name, _) in self.arrives.items()}
        self.source = {role: self._source(p) for role, p in self.proj.items()}
        self.sources = list(dict.fromkeys(self.source.values()))
        for s in self.sources:
            if g.rank(s) != 3:
                raise NoMatch(f"the projections read {s!r} of rank {g.rank(s)}; the IR's attention reads sequences "
                              "(batch, time, features)")

    # -- structure ---------------------------------------------------------------------------
    def _walk_back(self, name: str) -> Op:
        g = self.graph
        for _ in range(_MAX_CHAIN):
            op = g.producer.get(name)
            if op is None:
                break
            if _projection(g, op) is not None:
                return op
            if op.op_type in _MOVES:
                name = op.inputs[0]
            elif op.op_type in ("Mul", "Div", "Add", "Sub") and len(op.inputs) == 2:  # scalings, Keras's biases
                name = op.inputs[0] if g.const(op.inputs[0]) is None and (g.rank(op.inputs[0]) or 0) > 1 \
                    else op.inputs[1]
            else:
                raise NoMatch(f"{op.op_type} {op.name!r} lies between a projection and the attention's MatMuls; "
                              "only ops that move elements, scalings and biases may")
        raise NoMatch(f"{name!r} does not come from a projection (MatMul by a stored matrix, or Gemm)")

    def _source(self, proj: Op) -> str:
        """The projection's input, before Transposes that keep the feature axis last."""
        name = _projection(self.graph, proj)[2]
        for _ in range(_MAX_CHAIN):
            op = self.graph.producer.get(name)
            perm = list(op.attr("perm", [])) if op is not None and op.op_type == "Transpose" else []
            if not perm or perm[-1] != len(perm) - 1:
                break
            name = op.inputs[0]
        return name

    # -- one guess of which axis is the batch, per source ----------------------------------------
    def _attempt(self, batch_axis: dict[str, int]) -> tuple[Op, list[Op]]:
        g = self.graph
        ev = Evaluator(g, {}, set())
        self.sizes, layouts = {}, {}
        for i, (s, axis) in enumerate(batch_axis.items()):
            shape = list(g.shapes.get(s) or (None, None, None))
            length = _LENGTHS[0] if s == self.source["query"] else _LENGTHS[1]
            shape[axis] = shape[axis] if shape[axis] is not None else _BATCH
            shape[1 - axis] = shape[1 - axis] if shape[1 - axis] is not None else length
            if shape[2] is None:
                raise NoMatch(f"{s!r} has no static feature size")
            batch, steps, features = shape[axis], shape[1 - axis], shape[2]
            a0, a1 = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
            pos = a0 * steps + a1 if axis == 0 else a1 * steps + a0  # b * steps + t
            ev.seed(s, (pos[..., None] * features + np.arange(features)).astype(np.int64), True)
            self.sizes[s] = (batch, steps, features)
            layouts[s] = "NTC" if axis == 0 else "TNC"
        self.layouts = layouts
        batches = {b for b, _, _ in self.sizes.values()}
        if len(batches) != 1:
            raise NoMatch("the inputs disagree on the batch size", stage=-1)
        self.batch = batches.pop()
        pre = len(ev.ops)
        for p in dict.fromkeys(self.proj.values()):
            self._seed_projection(ev, p)
        pre_ops = ev.ops[pre:]
        heads, self.chain_biases = {}, {}
        for role, (name, order) in self.arrives.items():
            scaled, biased = len(ev.scales), len(ev.biases)
            heads[role] = self._columns(role, ev.value(name), order)
            self.chain_biases[role] = ev.biases[biased:]
            if role == "value" and len(ev.scales) != scaled:
                raise NoMatch("the values are scaled on their way to the product; the IR scales only the scores",
                              stage=3)
        h, d = heads["query"].shape
        hv, dv = heads["value"].shape
        if heads["key"].shape != (h, d) or hv != h:
            raise NoMatch(f"query {heads['query'].shape}, key {heads['key'].shape} and value {heads['value'].shape} "
                          "heads do not line up", stage=1)
        self._check_scores(ev, h)
        out_proj, out_name, out_ops, kernel_rows = self._output(ev, h, dv)
        if ev.biases[sum(len(b) for b in self.chain_biases.values()):]:
            raise NoMatch("a constant is added to the weighted values before the output projection", stage=2)
        scale = math.prod(ev.scales) * math.prod(self._score_scale(ev, op, v) for op, v in self.core.scales)
        if not math.isclose(scale, 1 / math.sqrt(d), rel_tol=1e-5):
            raise NoMatch(f"the scores are scaled by {scale:.6g}, not 1/sqrt({d}) = {1 / math.sqrt(d):.6g}; the IR's "
                          "MultiHeadAttention always scales by 1/sqrt(key_dim)", stage=3)
        mask, mask_layout, causal, mask_ops = self._mask(ev)
        w = self._weights(heads, out_proj, kernel_rows)
        query, key, value = (self.source[r] for r in ("query", "key", "value"))
        inputs = [query, value] + ([key] if key != value else []) + ([mask] if mask else [])
        letters = [layouts[s] for s in inputs[:len(inputs) - bool(mask)]] + ([mask_layout] if mask else [])
        e_out = w["attention_output/kernel"].shape[-1]
        attrs = {"num_heads": h, "key_dim": d, "value_dim": dv, "use_causal_mask": causal,
                 "output_shape": e_out, "twinnet_layouts": letters, "twinnet_weights": w}
        projections = list(dict.fromkeys(list(self.proj.values()) + [out_proj]))
        c = self.core
        core = [self.softmax, self.scores, self.mix] + c.moves_in + c.arithmetic + c.guard + c.moves_out \
            + projections \
            + [op for p in projections for op in _projection(g, p)[3]]
        data_ops = [op for op in ev.ops + out_ops if op not in pre_ops and any(o in ev.coded for o in op.outputs)]
        group = self._removable(core + data_ops + pre_ops + mask_ops + ev.ops, out_name)
        missing = [op.name for op in core + data_ops if op not in group]
        if missing:
            raise NoMatch(f"values inside the attention block (from {', '.join(missing[:3])}) are also read "
                          "elsewhere, so it cannot become one layer", stage=4)
        return Op(ATTENTION, self.softmax.name, inputs, [out_name], attrs), [op for op in group if op in g.ops]

    def _check_scores(self, ev: Evaluator, heads: int) -> None:
        """The scores reach the softmax, and its result the second MatMul, as (batch, head, query step, key step)
        (or with batch and head folded into one axis); the softmax runs over the key steps."""
        c, batch = self.core, self.batch
        a, b = ev.value(self.scores.inputs[0]), ev.value(self.scores.inputs[1])
        shape = a.shape[:-1] + b.shape[-1:]
        t, s = self.sizes[self.source["query"]][1], self.sizes[self.source["key"]][1]
        canonical = np.arange(batch * heads * t * s, dtype=np.int64).reshape(batch, heads, t, s)
        ev.seed(self.scores.outputs[0], (canonical.transpose(0, 1, 3, 2) if self.swapped else canonical)
                .reshape(shape), True)
        for op in c.moves_in:
            ev.value(op.outputs[0])
        last = c.moves_in[-1].outputs[0] if c.moves_in else self.scores.outputs[0]
        for op in c.arithmetic:  # masks and scales keep every score where it is (checked on a probe later)
            ev.seed(op.outputs[0], ev.value(last), True)
            last = op.outputs[0]
        x = ev.value(self.softmax.inputs[0])
        along = np.moveaxis(x, self.softmax.attr("axis", -1), -1)
        if x.size != canonical.size or np.any(along % s != np.arange(s)) or np.any(along // s != along[..., :1] // s):
            raise NoMatch("the softmax does not run over the key steps", stage=1)
        self.score_codes = x
        ev.seed(self.softmax.outputs[0], x, True)  # normalises each row of keys in place
        if c.guard:
            ev.seed(c.guard[-1].outputs[0], ev.value(self.softmax.outputs[0]), True)
        for op in c.moves_out:
            ev.value(op.outputs[0])
        _expect(ev.value(self.mix.inputs[0]), canonical, "the product with the values")

    def _whole_projection(self, op: Op) -> Op:
        """A MatMul whose only reader adds a bias computed from constants: the Add ends the projection."""
        user = self.graph.only_consumer(op.outputs[0])
        return user if op.op_type == "MatMul" and user is not None and _projection(self.graph, user) is not None \
            and user.op_type == "Add" else op

    def _seed_projection(self, ev: Evaluator, proj: Op) -> None:
        """The projection's output as codes: (position code) * columns + column."""
        x = ev.value(_projection(self.graph, proj)[2])
        features = self.sizes[self._source(proj)][2]
        if x.shape[-1] != features or np.any(x % features != np.arange(features)):
            raise NoMatch(f"{proj.name!r} does not multiply the features of its input as they arrive")
        pos = x[..., :1] // features
        cols = _projection(self.graph, proj)[0].shape[1]
        ev.seed(proj.outputs[0], pos * cols + np.arange(cols), True)

    def _columns(self, role: str, x: np.ndarray, order: str) -> np.ndarray:
        """Which projected column each head's feature is, shape (H, d); checks batch and step positions."""
        proj, source = self.proj[role], self.source[role]
        batch, steps, _ = self.sizes[source]
        cols = _projection(self.graph, proj)[0].shape[1]
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

    def _output(self, ev: Evaluator, h: int, dv: int):
        """(output projection, output value, ops after the product, kernel row order)."""
        g, (batch, steps, _) = self.graph, self.sizes[self.source["query"]]
        width = h * dv
        b, hh, t, j = np.meshgrid(np.arange(batch), np.arange(h), np.arange(steps), np.arange(dv), indexing="ij")
        ev.seed(self.mix.outputs[0], ((b * steps + t) * width + hh * dv + j).astype(np.int64), True)
        start, name = len(ev.ops), self.mix.outputs[0]
        for _ in range(_MAX_CHAIN):
            user = g.only_consumer(name)
            if user is None:
                raise NoMatch("the attention's weighted values are read by several ops", stage=2)
            if _projection(g, user) is not None:
                user = self._whole_projection(user)
                if _projection(g, user)[2] == name:
                    break
            if user.op_type not in _MOVES or user.inputs[0] != name:
                raise NoMatch(f"{user.op_type} {user.name!r} follows the weighted values before any output "
                              "projection", stage=2)
            name = user.outputs[0]
            ev.value(name)
        else:
            raise NoMatch("no output projection follows the weighted values", stage=2)
        r = ev.value(name)
        feature, pos = r % width, r // width
        rows = feature.reshape(-1, width)[0]
        if r.shape[-1] != width or np.any(feature != rows) or np.any(pos != pos[..., :1]) \
                or sorted(rows) != list(range(width)):
            raise NoMatch("the heads are not merged into the output projection's features", stage=2)
        w_out = _projection(g, user)[0]
        e_out = w_out.shape[1]
        ev.seed(user.outputs[0], pos[..., :1] * e_out + np.arange(e_out), True)
        ops, best, name = ev.ops[start:], None, user.outputs[0]
        layout = self.layouts[self.source["query"]]
        for _ in range(_MAX_CHAIN):
            if self._is_output(ev.value(name), layout, batch, steps, e_out):
                best = (name, list(ev.ops[start:]))
            next_op = g.only_consumer(name)
            if next_op is None or next_op.op_type not in _MOVES or next_op.inputs[0] != name:
                break
            try:
                ev.value(next_op.outputs[0])
            except (NoMatch, ValueError, IndexError, TypeError):
                break
            name = next_op.outputs[0]
        if best is None:
            raise NoMatch(f"the output projection's result never returns to the query's {layout} order", stage=2)
        return user, best[0], best[1], rows

    @staticmethod
    def _is_output(y, layout, batch, steps, e_out) -> bool:
        want = (batch, steps, e_out) if layout == "NTC" else (steps, batch, e_out)
        if y.shape != want:
            return False
        pos, feature = y // e_out, y % e_out
        b, t = np.meshgrid(np.arange(batch), np.arange(steps), indexing="ij")
        if layout == "TNC":
            b, t = b.T, t.T
        return bool(np.all(feature == np.arange(e_out)) and np.all(pos == (b * steps + t)[..., None]))

    def _score_scale(self, ev: Evaluator, kind: str, name: str) -> float:
        value = ev.value(name)
        if value.size != 1:
            raise NoMatch("the scores are multiplied by a tensor, not one number", stage=3)
        value = float(value.reshape(()))
        return value if kind == "Mul" else 1 / value

    # -- masks ----------------------------------------------------------------------------------
    def _mask(self, ev: Evaluator):
        """(mask input or None, its layout, causal, ops evaluated) from the mask terms on the scores.

        Each score becomes ``score * kept + added`` (a Where(c, score, fill) is kept = c, added = fill where
        not c). A blocked score needs kept 0 or 1 and added at most -1e4; an open one kept 1 and added 0."""
        c = self.core
        terms = c.added + c.kept + [n for pair in c.selects for n in pair]
        if not terms:
            return None, None, False, []
        leaves = self._mask_leaves(ev, terms)
        if len(leaves) > 1:
            raise NoMatch(f"the scores' mask is computed from several tensors ({', '.join(leaves)})", stage=5)
        batch, t = self.batch, self.sizes[self.source["query"]][1]
        s = self.sizes[self.source["key"]][1]
        rng = np.random.default_rng(0)
        keep = (rng.random((batch, s)) < 0.6).astype(np.float32)
        keep[:, 0], keep[0, -1] = 1.0, 0.0  # key 0 always attended, at least one key blocked
        for layout in ("NT", "TN") if leaves else (None,):
            probe = Evaluator(self.graph, ev.env, ev.coded)
            if leaves:
                if self.graph.dtypes.get(leaves[0]) != 1 or self.graph.rank(leaves[0]) != 2:
                    raise NoMatch(f"the key-padding mask {leaves[0]!r} must be a rank-2 float tensor", stage=5)
                probe.seed(leaves[0], keep if layout == "NT" else keep.T.copy(), False)
            try:
                kept, added = self._mask_effect(probe, batch, t, s)
            except (NoMatch, ValueError, TypeError, IndexError) as e:
                raise NoMatch(f"the scores' mask could not be followed ({e})", stage=5) from None
            for causal in (False, True):
                blocked = np.zeros((batch, 1, t, s), bool)
                if leaves:
                    blocked |= (keep == 0)[:, None, None, :]
                if causal:
                    blocked |= np.triu(np.ones((t, s), bool), 1)[None, None]
                blocked = np.broadcast_to(blocked, kept.shape)
                if np.all(added[blocked] <= _BLOCKED) and np.all((kept[blocked] == 0) | (kept[blocked] == 1)) \
                        and np.all(added[~blocked] == 0) and np.all(kept[~blocked] == 1):
                    if causal and t != s:
                        raise NoMatch("a causal mask between sequences of different lengths", stage=5)
                    return (leaves[0] if leaves else None), layout, causal, probe.ops
        raise NoMatch("the mask on the scores is neither a key-padding mask (1 = attend, 0 = ignore) nor the "
                      "causal mask", stage=5)

    def _mask_effect(self, probe: Evaluator, batch: int, t: int, s: int) -> tuple[np.ndarray, np.ndarray]:
        """(kept, added), each (batch, heads, t, s): what the mask terms do to every score."""
        c = self.core
        shape = probe.value(self.softmax.inputs[0]).shape
        kept, added = np.ones(shape), np.zeros(shape)
        for name in c.kept:
            kept = kept * probe.value(name).astype(np.float64)
        for name in c.added:
            added = added + probe.value(name).astype(np.float64)
        for cond, fill in c.selects:
            where = np.broadcast_to(probe.value(cond).astype(bool), shape)
            kept = np.where(where, kept, 0.0)
            added = np.where(where, added, np.broadcast_to(probe.value(fill).astype(np.float64), shape))
        codes = self.score_codes.reshape(-1)  # where each (batch, head, t, s) score sits at the softmax
        out = []
        for x in (kept, added):
            flat = np.empty(codes.size)
            flat[codes] = np.broadcast_to(x, shape).reshape(-1)
            out.append(flat.reshape(batch, -1, t, s))
        return out[0], out[1]

    def _mask_leaves(self, ev: Evaluator, terms: list[str]) -> list[str]:
        leaves, todo, seen = [], list(terms), set()
        while todo:
            name = todo.pop()
            if name in seen or name in ev.env or self.graph.const(name) is not None:
                continue
            seen.add(name)
            op = self.graph.producer.get(name)
            if op is None or (op.op_type not in _PLAIN and op.op_type not in _MOVES):
                leaves.append(name)
            else:
                todo.extend(i for i in op.inputs if i)
        return leaves

    # -- weights and the group --------------------------------------------------------------------
    def _weights(self, heads: dict, out_proj: Op, rows: np.ndarray) -> dict[str, np.ndarray]:
        g, w, biases = self.graph, {}, []
        for role in ("query", "key", "value"):
            kernel, bias = _projection(g, self.proj[role])[:2]
            bias = self._with_chain_biases(role, kernel.shape[1], bias)
            cols = heads[role]
            w[f"{role}/kernel"] = kernel[:, cols]
            biases.append((f"{role}/bias", None if bias is None else bias[cols], cols.shape))
        kernel, bias = _projection(g, out_proj)[:2]
        h, dv = heads["value"].shape
        ordered = np.empty_like(kernel)
        ordered[rows] = kernel  # row f of the file's matrix holds head rows[f] // dv, feature rows[f] % dv
        w["attention_output/kernel"] = ordered.reshape(h, dv, -1)
        biases.append(("attention_output/bias", bias, (kernel.shape[1],)))
        if any(b is not None for _, b, _ in biases):
            for key, b, shape in biases:
                w[key] = np.zeros(shape, np.float32) if b is None else b
        return w

    def _with_chain_biases(self, role: str, columns: int, bias):
        """The projection's bias plus constants added on the way to the MatMul (Keras adds its (H, d) bias after
        splitting heads): each must add one number per projected column."""
        for codes, added in self.chain_biases[role]:
            bias = np.zeros(columns, np.float32) if bias is None else bias.copy()
            cols, added = (codes % columns).reshape(-1), added.reshape(-1)
            per = np.zeros(columns, np.float64)
            per[cols] = added
            if np.any(per[cols] != added):
                raise NoMatch(f"a constant added to the {role} differs along the sequence", stage=2)
            bias = (bias + per[:columns]).astype(np.float32)
        return bias

    def _removable(self, ops: list[Op], final: str) -> list[Op]:
        """The ops of the block no one else reads (shape computations shared with others stay)."""
        g = self.graph
        keep = list(dict.fromkeys(ops))
        changed = True
        while changed:
            changed = False
            for op in list(keep):
                for o in op.outputs:
                    if o and o != final and (o in g.outputs or any(c not in keep for c in g.consumers.get(o, []))):
                        keep.remove(op)
                        changed = True
                        break
        return keep
