"""Structural equality of two IR models: what a round trip through a framework must give back.

Two models are *structurally equal* when the graphs match node for node, paired
by walking back from the outputs (output ``i`` with output ``i``, then each
node's input ``j`` with the other's input ``j``), and every pair agrees on:

* the layer kind and every constructor argument (``Layer.config()``: kernel
  sizes, paddings, activations, epsilons, units, ...);
* the output spec: shape, layout letters and dtype;
* the edges: which node, and which of its outputs, feeds each input position;
* for model inputs: their position in ``model.inputs``, shape, layout and dtype;
* with ``weights=True``: every weight array, by the paired layers (exact by
  default, or within ``atol``).

A ``None`` that only stands for a default (a ``Reshape``'s ``layout``, which defaults to the layout it
produces; ``MultiHeadAttention``'s ``value_dim``, which defaults to ``key_dim``) compares as that default.
What it ignores: every name (of the model, its layers and inputs), the order
in which nodes were created (only the wiring counts), block marks
(``twinnet.block``, which change no numbers), a model's ``capture`` report and
its training spec.

>>> from twinnet import ir
>>> from twinnet.ir import layers as L
>>> def net(name):
...     x = ir.Input((4,), name=f"{name}_in")
...     return ir.Model(x, L.Dense(2, name=f"{name}_fc")(x), name=name)
>>> structural_diff(net("a"), net("b"))
[]
"""

from __future__ import annotations

import numpy as np

from .graph import Model, Node


def structural_diff(a: Model, b: Model, *, weights: bool = False, atol: float = 0.0, limit: int = 20) -> list[str]:
    """Every structural difference between ``a`` and ``b`` (empty: structurally equal), at most ``limit`` lines.

    Each line names the node of ``a`` (and of ``b``) where the difference is.
    """
    diffs: list[str] = []
    if len(a.inputs) != len(b.inputs):
        diffs.append(f"{len(a.inputs)} input(s) against {len(b.inputs)}")
    if len(a.outputs) != len(b.outputs):
        diffs.append(f"{len(a.outputs)} output(s) against {len(b.outputs)}")
    if diffs:
        return diffs
    position_a = {id(t.node): i for i, t in enumerate(a.inputs)}
    position_b = {id(t.node): i for i, t in enumerate(b.inputs)}
    pairs: dict[int, Node] = {}  # id(node of a) -> its partner in b
    taken: set[int] = set()
    stack = [(ta.node, tb.node, f"output {i}") for i, (ta, tb) in enumerate(zip(a.outputs, b.outputs))]
    for i, (ta, tb) in enumerate(zip(a.outputs, b.outputs)):
        if ta.index != tb.index:
            diffs.append(f"output {i} is output {ta.index} of {ta.node.label} but output {tb.index} of {tb.node.label}")
    while stack and len(diffs) < limit:
        na, nb, via = stack.pop()
        if id(na) in pairs:
            if pairs[id(na)] is not nb:
                diffs.append(f"{na.label} ({via}) is paired with both {pairs[id(na)].label} and {nb.label}")
            continue
        if id(nb) in taken:
            diffs.append(f"{nb.label} of the second model is reached from two different nodes ({via})")
            continue
        pairs[id(na)] = nb
        taken.add(id(nb))
        found = _node_diff(na, nb, position_a, position_b)
        diffs.extend(f"{na.label} / {nb.label}: {d}" for d in found)
        if found:
            continue  # the inputs of mismatched nodes need not line up; stop this branch
        for j, (ia, ib) in enumerate(zip(na.inputs, nb.inputs)):
            if ia.index != ib.index:
                diffs.append(f"{na.label}: input {j} is output {ia.index} of its producer, against {ib.index}")
            stack.append((ia.node, ib.node, f"input {j} of {na.label}"))
    if weights and not diffs:
        diffs.extend(_weight_diff(a, b, pairs, atol))
    return diffs[:limit]


def structurally_equal(a: Model, b: Model, *, weights: bool = False, atol: float = 0.0) -> bool:
    """Whether :func:`structural_diff` finds nothing."""
    return not structural_diff(a, b, weights=weights, atol=atol, limit=1)


def _node_diff(na: Node, nb: Node, position_a: dict, position_b: dict) -> list[str]:
    if na.is_input != nb.is_input:
        return ["an input against a layer"]
    out = []
    if na.is_input:
        if position_a.get(id(na)) != position_b.get(id(nb)):
            out.append(f"model input {position_a.get(id(na))} against {position_b.get(id(nb))}")
    else:
        if na.layer.kind != nb.layer.kind:
            return [f"kind {na.layer.kind} against {nb.layer.kind}"]
        ca, cb = _config(na), _config(nb)
        for k in sorted(set(ca) | set(cb)):
            if ca.get(k) != cb.get(k):
                out.append(f"{k}={ca.get(k)!r} against {cb.get(k)!r}")
        if len(na.inputs) != len(nb.inputs):
            out.append(f"{len(na.inputs)} input(s) against {len(nb.inputs)}")
    sa, sb = na.spec, nb.spec
    if (sa.shape, sa.layout, sa.dtype) != (sb.shape, sb.layout, sb.dtype):
        out.append(f"output {sa.shape} {sa.layout} {sa.dtype} against {sb.shape} {sb.layout} {sb.dtype}")
    return out


#: (kind, field) -> the value ``None`` stands for, from the layer's config and output spec
_IMPLIED = {
    ("Reshape", "layout"): lambda cfg, spec: spec.layout,
    ("View", "layout"): lambda cfg, spec: spec.layout,
    ("MultiHeadAttention", "value_dim"): lambda cfg, spec: cfg.get("key_dim"),
}


def _config(node: Node) -> dict:
    """The layer's arguments, with a ``None`` that only means its default spelled out (:data:`_IMPLIED`)."""
    cfg = node.layer.config()
    for (kind, field), implied in _IMPLIED.items():
        if node.layer.kind == kind and cfg.get(field) is None:
            cfg[field] = implied(cfg, node.spec)
    return cfg


def _weight_diff(a: Model, b: Model, pairs: dict, atol: float) -> list[str]:
    out = []
    for na in a.layers:
        nb = pairs.get(id(na))
        if nb is None:
            continue
        wa, wb = a.layer_weights(na), b.layer_weights(nb)
        if set(wa) != set(wb):
            out.append(f"{na.label}: weights {sorted(wa)} against {sorted(wb)}")
            continue
        for k in wa:
            x, y = np.asarray(wa[k]), np.asarray(wb[k])
            if x.shape != y.shape:
                out.append(f"{na.label}: weight {k} of shape {x.shape} against {y.shape}")
            elif not np.allclose(x, y, rtol=0.0, atol=atol):
                out.append(f"{na.label}: weight {k} differs by up to {float(np.max(np.abs(x - y))):.3g}")
    return out
