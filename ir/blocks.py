"""Blocks: marking a group of layer calls as one instance of a named, repeated block.

Inside ``with ir.block("BasicBlock", "layer1_0"):`` every layer call is marked
``node.block == ("BasicBlock", "layer1_0")``. Marks change no numerics; they
tell the emitters that the group is a unit, so torch source gets one
``class BasicBlock(nn.Module)`` instantiated per instance and Keras source one
builder function per kind. Unnamed layers inside a block are named after the
instance (``layer1_0_conv2d``), so names stay unique and readable.

:func:`check_blocks` (run by ``twinnet.Model``) requires that each instance is a
connected region that can run as one call (no path leaves it and comes back)
and that all instances of a kind have the same layers, configs and wiring.

>>> from twinnet import ir
>>> from twinnet.ir import layers as L
>>> x = ir.Input((4,), name="x")
>>> with ir.block("Mlp", "mlp_0"):
...     y = L.Dense(4, name="mlp_0_fc")(x)
>>> ir.Model(x, y).node("mlp_0_fc").block
('Mlp', 'mlp_0')
"""

from __future__ import annotations

import itertools
import re
from contextlib import contextmanager

from .errors import ConfigError, GraphError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_stack: list[tuple[str, str]] = []
_unnamed = itertools.count()


def _is_placeholder(name: str) -> bool:
    return name.startswith("#")


@contextmanager
def block(kind: str, name: str | None = None):
    """Mark the layer calls made inside the ``with`` as one instance of block ``kind``.

    Args:
        kind: the block's kind, a class-style identifier (``"BasicBlock"``); the
            torch emitter names the block class after it.
        name: this instance's name, an identifier unique among the model's
            blocks (default: ``basic_block``, ``basic_block_1``, ... given in
            order by ``twinnet.Model``).

    Raises:
        ConfigError: a kind or name that is not an identifier, or a nested block.

    >>> from twinnet import ir
    >>> from twinnet.ir import layers as L
    >>> x = ir.Input((4,))
    >>> with ir.block("Head"):
    ...     y = L.Dense(2)(x)
    >>> [n.name for n in ir.Model(x, y).layers]
    ['head_dense']
    """
    if not isinstance(kind, str) or not _IDENT.match(kind):
        raise ConfigError(f"block kind must be an identifier, got {kind!r}", layer="block")
    if name is not None and (not isinstance(name, str) or not _IDENT.match(name)):
        raise ConfigError(f"block name must be an identifier, got {name!r}", layer=f"block {kind}")
    if _stack:
        raise ConfigError(
            f"blocks do not nest: {kind!r} opened inside {_stack[-1][0]} {_stack[-1][1]!r}", layer=f"block {kind}"
        )
    _stack.append((kind, name if name is not None else f"#{next(_unnamed)}"))
    try:
        yield
    finally:
        _stack.pop()


def current() -> tuple[str, str] | None:
    """The mark new layer calls get (``None`` outside any block)."""
    return _stack[-1] if _stack else None


def name_blocks(nodes, snake) -> None:
    """Give unnamed block instances names (``snake(kind)``, ``_1``, ...) in order of first appearance."""
    used = {n.block[1] for n in nodes if n.block and not _is_placeholder(n.block[1])}
    used |= {n.name for n in nodes if n.name is not None}  # instance names must not be layer names either
    given: dict[str, str] = {}
    counts: dict[str, int] = {}
    for node in nodes:
        if node.block is None or not _is_placeholder(node.block[1]):
            continue
        kind, key = node.block
        if key not in given:
            base = snake(kind)
            while True:
                k = counts.get(base, 0)
                counts[base] = k + 1
                candidate = base if k == 0 else f"{base}_{k}"
                if candidate not in used:
                    break
            given[key] = candidate
            used.add(candidate)
        node.block = (kind, given[key])


def instances(nodes) -> dict[str, list]:
    """Block instance name -> its layer nodes, in topological order (instances in order of appearance)."""
    out: dict[str, list] = {}
    for node in nodes:
        if node.block is not None:
            out.setdefault(node.block[1], []).append(node)
    return out


def signature(members: list, outputs: set[str]) -> tuple:
    """What must match between instances of one kind: layers, configs, wiring, which layers are outputs."""
    inside = {n.name: i for i, n in enumerate(members)}
    external: dict[str, int] = {}
    rows = []
    for n in members:
        refs = []
        for t in n.inputs:
            if t.node.name in inside:
                refs.append(("layer", inside[t.node.name], t.index))
            else:
                refs.append(("input", external.setdefault(t.name, len(external))))
        rows.append((n.layer.kind, repr(sorted(n.layer.config().items())), tuple(refs), n.name in outputs))
    return tuple(rows)


def check_blocks(model) -> None:
    """Raise GraphError unless every block instance is a convex, connected region and instances of a kind match."""
    groups = instances(model.nodes)
    layer_names = {n.name for n in model.nodes}
    kinds: dict[str, tuple[str, tuple]] = {}
    consumers = model.consumers()
    model_outputs = {t.node.name for t in model.outputs}
    position = {id(n): i for i, n in enumerate(model.nodes)}
    for name, members in groups.items():
        kind = members[0].block[0]
        label = f"block {kind} {name!r}"
        for n in members:
            if n.block[0] != kind:
                raise GraphError(f"instance name {name!r} is used by blocks {kind} and {n.block[0]}", layer=label)
        if name in layer_names:
            raise GraphError("the instance name is also a layer's name", layer=label)
        _check_region(members, _window(model.nodes, members, position), label)
        outs = {
            n.name for n in members if n.name in model_outputs or any(c.block != n.block for c in consumers[n.name])
        }
        sig = signature(members, outs)
        if kind not in kinds:
            kinds[kind] = (name, sig)
        elif kinds[kind][1] != sig:
            first, first_sig = kinds[kind]
            raise GraphError(
                f"differs from instance {first!r} of the same kind: {_difference(first_sig, sig)}"
                "; instances of a block must have the same layers, configs and wiring",
                layer=label,
            )


def _window(nodes: list, members: list, position: dict[int, int]) -> list:
    """The nodes from the instance's first layer to its last: a path that leaves and re-enters lies in it."""
    return nodes[position[id(members[0])] : position[id(members[-1])] + 1]


def _check_region(members: list, nodes: list, label: str) -> None:
    inside = {id(n) for n in members}
    # connected: the members, linked by the edges between them, form one piece
    parent = {id(n): id(n) for n in members}

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for n in members:
        for t in n.inputs:
            if id(t.node) in inside:
                parent[root(id(n))] = root(id(t.node))
    pieces = {root(id(n)) for n in members}
    if len(pieces) > 1:
        raise GraphError(
            f"its layers form {len(pieces)} separate pieces; a block must be one connected region", layer=label
        )
    # convex: no path leaves the block and comes back into it (else it cannot run as one call)
    downstream: set[int] = set()  # outside nodes that depend on a member
    for n in nodes:
        if id(n) in inside:
            for t in n.inputs:
                if id(t.node) in downstream:
                    raise GraphError(
                        f"layer {n.name!r} takes {t.node.name!r}, which is outside the block but computed "
                        "from it; a block must run as one call",
                        layer=label,
                    )
        elif any(id(t.node) in inside or id(t.node) in downstream for t in n.inputs):
            downstream.add(id(n))


def _difference(a: tuple, b: tuple) -> str:
    if len(a) != len(b):
        return f"{len(b)} layers instead of {len(a)}"
    for i, (ra, rb) in enumerate(zip(a, b)):
        if ra[0] != rb[0]:
            return f"layer {i} is {rb[0]} instead of {ra[0]}"
        if ra[1] != rb[1]:
            return f"layer {i} ({rb[0]}) has another config"
        if ra[2] != rb[2]:
            return f"layer {i} ({rb[0]}) is wired differently"
        if ra[3] != rb[3]:
            return f"layer {i} ({rb[0]}) is {'' if rb[3] else 'not '}used outside the block"
    return "different"


def nodes_behind(outputs) -> list:
    """Every node the tensors ``outputs`` depend on (themselves included), in the order they were made."""
    seen: dict[int, object] = {}
    stack = [t.node for t in outputs]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            stack.extend(t.node for t in node.inputs)
    return sorted(seen.values(), key=lambda n: n.order)


def _marked(outputs) -> tuple[dict, list]:
    """The block instances of the graph behind ``outputs`` (name -> members, as ``instances``) and, per
    instance, (name, kind, members, signature), the signature None where the instance is not one region of
    one kind (it cannot run as one call)."""
    nodes = nodes_behind(outputs)
    consumers: dict[int, list] = {id(n): [] for n in nodes}
    for n in nodes:
        for t in n.inputs:
            consumers[id(t.node)].append(n)
    out_ids = {id(t.node) for t in outputs}
    position = {id(n): i for i, n in enumerate(nodes)}
    found = instances(n for n in nodes if not n.is_input)
    rows = []
    for name, members in found.items():
        kind = members[0].block[0]
        try:
            if any(n.block[0] != kind for n in members):
                raise GraphError("two kinds")
            _check_region(members, _window(nodes, members, position), name)
        except GraphError:
            rows.append((name, kind, members, None))
            continue
        outs = {n.name for n in members if id(n) in out_ids or any(c.block != n.block for c in consumers[id(n)])}
        rows.append((name, kind, members, signature(members, outs)))
    return found, rows


def unmatched_kinds(outputs) -> set[str]:
    """The block kinds of the graph behind ``outputs`` that ``check_blocks`` would refuse: an instance that
    is not one region, or instances that differ (for a rewrite that changed some instances of a kind only)."""
    first: dict[str, tuple] = {}
    bad = set()
    for _, kind, _, sig in _marked(outputs)[1]:
        if sig is None or first.setdefault(kind, sig) != sig:
            bad.add(kind)
    return bad


def settle(outputs) -> None:
    """For importers, before ``twinnet.Model``: make the marks on the graph behind ``outputs`` valid.

    An importer marks every call of a user module class (kind = the class
    name, instance = its qualified name) without knowing whether the calls
    match. Here, instances of one kind with another structure get their own
    kind (``BasicBlock``, ``BasicBlock2``, ...), and an instance that is not
    one region that runs as one call loses its marks (it is emitted inline).
    """
    found, rows = _marked(outputs)
    used = {n.block[0] for members in found.values() for n in members}  # class names, never a variant's
    variants: dict[str, list[tuple]] = {}
    named: dict[tuple[str, int], str] = {}
    for name, kind, members, sig in rows:
        if sig is None:
            for n in members:
                n.block = None
            continue
        sigs = variants.setdefault(kind, [])
        if sig not in sigs:
            sigs.append(sig)
        k = sigs.index(sig)
        if (kind, k) not in named:  # BasicBlock2 may already be a class of its own (a module emitted by twinnet)
            suffix = k + 1
            while k and f"{kind}{suffix}" in used:
                suffix += 1
            named[kind, k] = kind if k == 0 else f"{kind}{suffix}"
            used.add(named[kind, k])
        for n in members:
            n.block = (named[kind, k], name)
