"""Pattern rule: an attention block written as small ops -> one ``twinnet.MultiHeadAttention`` op.

Exporters spell ``softmax(q k^T * scale + mask) v`` between four projections
in many ways (torch's ``nn.MultiheadAttention`` packs q/k/v into one matrix and
picks thirds with Gather; ``scaled_dot_product_attention`` scales q and k by
``sqrt(scale)`` each; reshapes are computed at run time from ``Shape``). The
rule therefore fixes only the skeleton by structure:

  * a ``Softmax`` reading ``MatMul(a, b)`` (through element moves, then scalings
    and mask terms: ``Add``, ``Mul``, ``Div``, ``Where``), read (through moves, and
    torch's NaN guard) by ``MatMul(., v)`` (``attention_skeleton.py``);
  * q, k and v each come, through element moves, scalings and constant
    biases, from a projection (``MatMul``/``Gemm`` by a constant matrix);
  * the product's result reaches, through moves, an output projection, and
    then (moves, constant biases) a value in the query's axis order.

What the moving ops do is then *computed*, not guessed: the element-moving
chains are run on integer code tensors (``evaluator.py``) at a small
concrete batch and length. The codes arriving at the MatMuls say which
projected column holds head ``h``'s feature ``j`` at which (batch, step):
that gives the IR's ``(E, H, d)`` kernels exactly, the number of heads, the
head sizes, each input's axis order (``NTC`` or ``TNC``), whether the scores
are ``q k^T`` or ``k q^T`` (Keras with attention dropout), and that the softmax
runs over the key steps. Symbolic sizes get probe sizes by their names in the
file, so every shape computed at run time agrees. The mask terms are evaluated
on a probe mask (``attention_mask.py``) and must be a key-padding mask
(a float mask with 0 = ignore, Keras's polarity, or a bool input with True =
pad, torch's) and/or the causal mask; the scalar factors must
multiply to ``1/sqrt(key_dim)``, the IR's only scale.

When the skeleton is there with a heads axis (rank-4 scores, which no other
IR layer reads) but a detail is not what the IR computes (another scale, a
mask of another kind, a value used outside the block), the Softmax keeps the
reason (``twinnet_attention``) and the importer refuses it with that reason.
Rank-3 scores that do not match are left alone: they may be plain Dots.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..graph import Graph, Op
from ..match import replace
from .attention_codes import MAX_CHAIN, check_scores, head_columns, output_projection
from .attention_mask import read_mask
from .attention_skeleton import Skeleton, find_skeleton, projection
from .attention_weights import attention_weights, removable
from .evaluator import MOVES, Evaluator, NoMatch

ATTENTION = "twinnet.MultiHeadAttention"
_BATCH, _LENGTHS = 2, (3, 5)  # concrete sizes for symbolic axes (query length, key length)


def fuse_attention(graph: Graph, op: Op) -> None:
    """Softmax(MatMul(q, k) [+ mask] [* scale]) read by MatMul(., v): fuse the block, or note why not."""
    core = find_skeleton(graph, op)
    if core is None:
        return
    try:
        new, group = _Match(graph, core).run()
    except (NoMatch, ValueError, TypeError, IndexError, KeyError, RecursionError) as e:
        if 4 in (graph.rank(op.inputs[0]), graph.rank(core.scores.outputs[0])):  # heads: no other layer reads it
            op.attrs["twinnet_attention"] = str(e)
        return  # rank-3 scores may still be plain Dots and a softmax
    replace(graph, group, new)


class _Match:
    """One attempt to read the block around a Softmax as the IR's MultiHeadAttention."""

    def __init__(self, graph: Graph, core: Skeleton):
        self.graph, self.core = graph, core
        self.softmax, self.scores, self.mix = core.softmax, core.scores, core.mix

    def run(self) -> tuple[Op, list[Op]]:
        """Try q @ k^T (scores (.., T, S)) and k @ q^T (Keras with dropout: (.., S, T), transposed after the
        softmax), and each input's batch axis first or second; the first reading that checks out wins."""
        for op in self.core.moves_in + self.core.moves_out:
            training = op.inputs[2] if op.op_type == "Dropout" and len(op.inputs) > 2 else ""
            value = self.graph.const(training) if training else None
            if training and (not isinstance(value, np.ndarray) or value.any()):
                raise NoMatch(
                    f"Dropout {op.name!r} runs in training mode (it drops attention weights at "
                    "inference); the IR's attention dropout is inactive at inference"
                )
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
        self.arrives = {
            "query": (b, "k") if swapped else (a, "t"),
            "key": (a, "t") if swapped else (b, "k"),
            "value": (self.mix.inputs[1], "t"),
        }
        self.proj = {role: self._walk_back(name) for role, (name, _) in self.arrives.items()}
        self.source = {role: self._source(p) for role, p in self.proj.items()}
        self.sources = list(dict.fromkeys(self.source.values()))
        for s in self.sources:
            if g.rank(s) != 3:
                raise NoMatch(
                    f"the projections read {s!r} of rank {g.rank(s)}; the IR's attention reads sequences "
                    "(batch, time, features)"
                )

    # -- structure ---------------------------------------------------------------------------
    def _walk_back(self, name: str) -> Op:
        g = self.graph
        for _ in range(MAX_CHAIN):
            op = g.producer.get(name)
            if op is None:
                break
            if projection(g, op) is not None:
                return op
            if op.op_type in MOVES:
                name = op.inputs[0]
            elif op.op_type in ("Mul", "Div", "Add", "Sub") and len(op.inputs) == 2:  # scalings, Keras's biases
                name = (
                    op.inputs[0] if g.const(op.inputs[0]) is None and (g.rank(op.inputs[0]) or 0) > 1 else op.inputs[1]
                )
            else:
                raise NoMatch(
                    f"{op.op_type} {op.name!r} lies between a projection and the attention's MatMuls; "
                    "only ops that move elements, scalings and biases may"
                )
        raise NoMatch(f"{name!r} does not come from a projection (MatMul by a stored matrix, or Gemm)")

    def _source(self, proj: Op) -> str:
        """The projection's input, before Transposes that keep the feature axis last and Reshapes (Squeeze,
        Unsqueeze) that keep its size (tf2onnx flattens (B, T, E) to (B*T, E)); the codes check later that
        the features arrive in place."""
        g = self.graph
        name = projection(g, proj)[2]
        for _ in range(MAX_CHAIN):
            op = g.producer.get(name)
            perm = list(op.attr("perm", [])) if op is not None and op.op_type == "Transpose" else []
            before, after = (g.shapes.get(op.inputs[0]), g.shapes.get(name)) if op is not None else (None, None)
            if perm and perm[-1] == len(perm) - 1:
                name = op.inputs[0]
            elif (
                op is not None
                and op.op_type in ("Reshape", "Unsqueeze", "Squeeze")
                and before
                and after
                and before[-1] is not None
                and before[-1] == after[-1]
            ):
                name = op.inputs[0]
            else:
                break
        return name

    # -- one guess of which axis is the batch, per source ----------------------------------------
    def _size(self, static, symbol, default: int) -> int:
        """A probe size: the static one, else the one already given to the same symbolic name, else ``default``."""
        if static is not None:
            return static
        if symbol is not None:
            return self.assigned.setdefault(symbol, default)
        return default

    def _placeholder(self, name: str):
        """Zeros shaped like a graph input the block reads only the shape of (None if a size is unknown)."""
        shape, symbols = self.graph.shapes.get(name), self.graph.symbols.get(name)
        if (
            shape is None
            or symbols is None
            or any(s is None and y not in self.assigned for s, y in zip(shape, symbols))
        ):
            return None
        return np.zeros([s if s is not None else self.assigned[y] for s, y in zip(shape, symbols)], np.float32)

    def _attempt(self, batch_axis: dict[str, int]) -> tuple[Op, list[Op]]:
        g = self.graph
        self.assigned: dict[str, int] = {}  # symbolic size name -> its probe size
        ev = Evaluator(g, {}, set(), self._placeholder)
        self.sizes, layouts = {}, {}
        for i, (s, axis) in enumerate(batch_axis.items()):
            shape = list(g.shapes.get(s) or (None, None, None))
            symbols = g.symbols.get(s) or (None,) * len(shape)
            length = _LENGTHS[0] if s == self.source["query"] else _LENGTHS[1]
            shape[axis] = self._size(shape[axis], symbols[axis], _BATCH)
            shape[1 - axis] = self._size(shape[1 - axis], symbols[1 - axis], length)
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
            heads[role] = head_columns(self, role, ev.value(name), order)
            self.chain_biases[role] = ev.biases[biased:]
            if role == "value" and len(ev.scales) != scaled:
                raise NoMatch(
                    "the values are scaled on their way to the product; the IR scales only the scores", stage=3
                )
        h, d = heads["query"].shape
        hv, dv = heads["value"].shape
        if heads["key"].shape != (h, d) or hv != h:
            raise NoMatch(
                f"query {heads['query'].shape}, key {heads['key'].shape} and value {heads['value'].shape} "
                "heads do not line up",
                stage=1,
            )
        check_scores(self, ev, h)
        before = len(ev.biases)
        out_proj, out_name, out_ops, kernel_rows = output_projection(self, ev, h, dv)
        self.out_biases = ev.biases[before:]
        scale = math.prod(ev.scales) * math.prod(self._score_scale(ev, op, v) for op, v in self.core.scales)
        if not math.isclose(scale, 1 / math.sqrt(d), rel_tol=1e-5):
            raise NoMatch(
                f"the scores are scaled by {scale:.6g}, not 1/sqrt({d}) = {1 / math.sqrt(d):.6g}; the IR's "
                "MultiHeadAttention always scales by 1/sqrt(key_dim)",
                stage=3,
            )
        t, s = self.sizes[self.source["query"]][1], self.sizes[self.source["key"]][1]
        mask, mask_layout, causal, mask_ops, bool_mask = read_mask(
            g, self.core, ev, self.score_codes, (self.batch, t, s)
        )
        w = attention_weights(self.graph, self.proj, heads, (out_proj, kernel_rows), self.chain_biases, self.out_biases)
        query, key, value = (self.source[r] for r in ("query", "key", "value"))
        inputs = [query, value] + ([key] if key != value else []) + ([mask] if mask else [])
        letters = [layouts[s] for s in inputs[: len(inputs) - bool(mask)]] + ([mask_layout] if mask else [])
        e_out = w["attention_output/kernel"].shape[-1]
        attrs = {
            "num_heads": h,
            "key_dim": d,
            "value_dim": dv,
            "use_causal_mask": causal,
            "output_shape": e_out,
            "twinnet_layouts": letters,
            "twinnet_weights": w,
            "twinnet_bool_mask": bool_mask,
        }  # the importer declares a bool mask input as 1 = attend
        projections = list(dict.fromkeys(list(self.proj.values()) + [out_proj]))
        c = self.core
        core = (
            [self.softmax, self.scores, self.mix]
            + c.moves_in
            + c.arithmetic
            + c.guard
            + c.moves_out
            + projections
            + [op for p in projections for op in projection(g, p)[3]]
        )
        data_ops = [op for op in ev.ops + out_ops if op not in pre_ops and any(o in ev.coded for o in op.outputs)]
        group = removable(self.graph, core + data_ops + pre_ops + mask_ops + ev.ops, out_name)
        missing = [op.name for op in core + data_ops if op not in group]
        if missing:
            raise NoMatch(
                f"values inside the attention block (from {', '.join(missing[:3])}) are also read "
                "elsewhere, so it cannot become one layer",
                stage=4,
            )
        return Op(ATTENTION, self.softmax.name, inputs, [out_name], attrs), [op for op in group if op in g.ops]

    def whole_projection(self, op: Op) -> Op:
        """A MatMul whose only reader adds a bias computed from constants: the Add ends the projection."""
        user = self.graph.only_consumer(op.outputs[0])
        return (
            user
            if op.op_type == "MatMul"
            and user is not None
            and projection(self.graph, user) is not None
            and user.op_type == "Add"
            else op
        )

    def _seed_projection(self, ev: Evaluator, proj: Op) -> None:
        """The projection's output as codes: (position code) * columns + column."""
        x = ev.value(projection(self.graph, proj)[2])
        features = self.sizes[self._source(proj)][2]
        if x.shape[-1] != features or np.any(x % features != np.arange(features)):
            raise NoMatch(f"{proj.name!r} does not multiply the features of its input as they arrive")
        pos = x[..., :1] // features
        cols = projection(self.graph, proj)[0].shape[1]
        ev.seed(proj.outputs[0], pos * cols + np.arange(cols), True)

    def _score_scale(self, ev: Evaluator, kind: str, name: str) -> float:
        value = ev.value(name)
        if value.size != 1:
            raise NoMatch("the scores are multiplied by a tensor, not one number", stage=3)
        value = float(value.reshape(()))
        return value if kind == "Mul" else 1 / value
