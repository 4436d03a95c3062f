"""Capturing a torch module with ``torch.export`` and folding the module calls back into whole nodes.

``torch.export`` (non-strict) runs the user's forward with symbolic sizes, so
it captures what ``torch.fx`` symbolic tracing cannot (``x.ndim``,
``torch._assert``, optional and keyword arguments, Python control flow on
sizes), and every size it can keep free stays a ``Dim.AUTO`` symbol. Its graph
is ATen ops, though: an ``nn.Conv2d`` call is an ``aten.conv2d`` node, an
``nn.LSTM`` call an ``aten.lstm`` one with flattened weights. To keep the
import idiomatic (a ``Conv2d`` call becomes an IR ``Conv2D`` read from the
module itself), :func:`export_graph` folds every call of a leaf module (a
stock ``torch.nn`` module, or a hand-written attention module kept whole)
back into one ``call_module`` node, found from the nodes' ``nn_module_stack``
metadata. The result is an fx ``GraphModule`` of the same form
``torch.fx`` tracing gives (``call_module`` nodes named by the module's
qualified name, everything else a function), so the importer converts both
alike; the ATen nodes left between module calls are mapped by ``aten.py``.

Which graph values a module was called with cannot be read from the ATen
nodes alone (``mha(x, x, x)`` is one input node used three times), so the
module is also run once eagerly with hooks recording each leaf call's
arguments and result; each tensor argument is matched, by value, to the node
outside the call that produced it, and each node used after the call to the
part of the result it is. A value that matches nothing is a
:class:`CaptureError` and the importer falls back to ``torch.fx``.
"""

from __future__ import annotations

import inspect
import operator
import re
import warnings
from dataclasses import dataclass

import torch
import torch.fx
import torch.utils._pytree as pytree
from torch import nn
from torch.fx.experimental.symbolic_shapes import is_concrete_int

from .hf_capture import rewrite_exported

#: nodes of the exported graph that check sizes at run time; the importer runs the graph at other sizes on purpose
_CHECKS = {"_assert_scalar", "_assert_tensor_metadata", "sym_constrain_range", "sym_constrain_range_for_size"}


class CaptureError(Exception):
    """``torch.export`` could not capture the module, or its graph could not be folded back into module calls."""


@dataclass(frozen=True)
class CaptureReport:
    """How ``from_torch`` captured a module (set on the imported model as ``model.capture``).

    Attributes:
        method: ``"torch.export"`` or ``"torch.fx"`` (the fallback).
        reason: why the fallback was taken (None for ``torch.export``).
        fixed: the input axes ``torch.export`` could not keep free (``"x axis 1 = 3"``): the module
            needs them at the example's size (a weight's in-features, a reshape to a literal size).
    """

    method: str
    reason: str | None = None
    fixed: tuple[str, ...] = ()


def is_leaf(m: nn.Module, keep=frozenset()) -> bool:
    """Whether calls of ``m`` stay one node: stock ``torch.nn`` modules (containers aside) and ``keep`` (ids)."""
    if id(m) in keep:
        return True
    if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return False
    return type(m).__module__.startswith(("torch.nn.", "torch.ao.nn."))


def bind_inputs(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``kwargs`` put in the order of ``forward``'s parameters, so inputs flatten in signature order."""
    try:
        params = list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        return args, dict(kwargs)
    ordered = {k: kwargs[k] for k in params if k in kwargs}
    ordered.update({k: v for k, v in kwargs.items() if k not in ordered})
    return args, ordered


def _batch_ready(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Inputs with a batch of 1 repeated to 2: export keeps a size-1 axis fixed (it could broadcast)."""
    return pytree.tree_map(
        lambda v: torch.cat([v, v]) if _tensor(v) and v.dim() and v.shape[0] == 1 else v, (args, kwargs)
    )


def _tensor(v) -> bool:
    return isinstance(v, torch.Tensor)


def _dynamic_shapes(module: nn.Module, args: tuple, kwargs: dict):
    """Every axis of every tensor input as ``Dim.AUTO``: export keeps free what the module allows."""
    bound = inspect.signature(module.forward).bind(*args, **kwargs)
    auto = torch.export.Dim.AUTO
    return {
        k: pytree.tree_map(lambda v: {i: auto for i in range(v.dim())} if _tensor(v) else None, v)
        for k, v in bound.arguments.items()
    }


def _export(module: nn.Module, args: tuple, kwargs: dict):
    try:
        shapes = _dynamic_shapes(module, args, kwargs)
    except TypeError as e:
        raise CaptureError(f"the example inputs do not fit forward's signature ({e})") from None
    try:
        with warnings.catch_warnings():  # export's note that nn.RNNBase sets _flat_weights in forward: not ours
            warnings.filterwarnings("ignore", "The tensor attributes .* were assigned during export", UserWarning)
            return torch.export.export(module, args, kwargs, dynamic_shapes=shapes, strict=False)
    except Exception as e:  # an untraceable forward: data-dependent control flow, an unsupported Python feature
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CaptureError(f"torch.export failed ({type(e).__name__}: {first})") from None


def _fixed_axes(placeholders, names) -> tuple[str, ...]:
    fixed = []
    for p in placeholders:
        val = p.meta.get("val")
        if _tensor(val):
            fixed += [f"{names[p]} axis {i} = {int(s)}" for i, s in enumerate(val.shape) if is_concrete_int(s)]
    return tuple(fixed)


@dataclass
class _Group:
    """The nodes of one leaf-module call in the exported graph."""

    fqn: str
    index: int  # which call of that module (export's ``@N`` suffix)
    stack: dict  # the fx-style module stack of the call (qualified name -> (name, class))
    nodes: list


def _stack_of(module: nn.Module, node, keep) -> tuple[str | None, dict]:
    """(group key, fx-style stack) of a node: the key of the outermost leaf module it runs in, if any."""
    stack = {}
    for key, (fqn, _) in (node.meta.get("nn_module_stack") or {}).items():
        if not fqn:
            continue
        try:
            m = module.get_submodule(fqn)
        except AttributeError:
            continue
        stack[fqn] = (fqn, type(m))
        if is_leaf(m, keep):
            return key, stack
    return None, stack


def _groups(gm, module, keep, values) -> tuple[dict, dict]:
    """The leaf-module calls ({key: _Group}) and the module stack of every other node."""
    groups: dict[str, _Group] = {}
    stacks = {}
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        key, stack = _stack_of(module, node, keep)
        if key is None:
            stacks[node] = stack
            continue
        if key not in groups:
            suffix = re.search(r"@([0-9]+)$", key)
            groups[key] = _Group(next(reversed(stack)), int(suffix.group(1)) if suffix else 0, stack, [])
        groups[key].nodes.append(node)
    for g in groups.values():  # size arithmetic on values from outside the call is hoisted out of it
        inside = set(g.nodes)
        for node in list(g.nodes):
            if not _tensor(values.get(node)) and all(a not in inside for a in node.all_input_nodes):
                g.nodes.remove(node)
                inside.discard(node)
                stacks[node] = {}
    return {k: g for k, g in groups.items() if g.nodes}, stacks


def _record_calls(module: nn.Module, fqns: set, args: tuple, kwargs: dict) -> dict:
    """Run ``module`` eagerly; every call of the modules in ``fqns``: {fqn: [(args, kwargs, result), ...]}."""
    calls: dict[str, list] = {f: [] for f in fqns}
    handles = []

    def clone(tree):
        return pytree.tree_map(lambda v: v.detach().clone() if _tensor(v) else v, tree)

    for fqn in fqns:
        m = module.get_submodule(fqn)

        def before(_, a, kw, fqn=fqn):
            calls[fqn].append([clone(a), clone(kw), None])

        def after(_, a, kw, out, fqn=fqn):
            calls[fqn][-1][2] = clone(out)

        handles.append(m.register_forward_pre_hook(before, with_kwargs=True))
        handles.append(m.register_forward_hook(after, with_kwargs=True))
    try:
        with torch.no_grad():
            module(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return calls


def _same(a, b) -> bool:
    return _tensor(a) and _tensor(b) and a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def _close(a, b) -> bool:
    if not (_tensor(a) and _tensor(b) and a.shape == b.shape and a.dtype == b.dtype):
        return False
    return torch.allclose(a, b, atol=1e-5, rtol=1e-4) if a.is_floating_point() else torch.equal(a, b)


def _find(value, candidates, values):
    """The candidate node whose recorded value is ``value`` (exactly, else to rounding), or None."""
    for test in (_same, _close):
        for c in candidates:
            if test(values.get(c), value):
                return c
    return None


def _leaf_paths(tree, path=()):
    if isinstance(tree, (tuple, list)):
        for i, v in enumerate(tree):
            yield from _leaf_paths(v, path + (i,))
    elif _tensor(tree):
        yield path, tree


def _emit_group(graph, env, g: _Group, call, module, values, gm_users) -> None:
    """One ``call_module`` node for ``g``, its arguments matched to earlier nodes, its users to its result."""
    call_args, call_kwargs, result = call
    inside = set(g.nodes)
    own = {f"{g.fqn}.{k}" for k, _ in module.get_submodule(g.fqn).named_parameters()} | {
        f"{g.fqn}.{k}" for k, _ in module.get_submodule(g.fqn).named_buffers()
    }
    outside = []
    for node in g.nodes:
        for a in node.all_input_nodes:
            if a not in inside and a not in outside and not (a.op == "get_attr" and a.target in own):
                outside.append(a)

    def argument(v):
        if not _tensor(v):
            return v
        found = _find(v, outside, values)
        if found is None:
            raise CaptureError(f"cannot tell which value {g.fqn!r} was called with (a {tuple(v.shape)} tensor)")
        return env[found]

    node = graph.call_module(g.fqn, pytree.tree_map(argument, tuple(call_args)), pytree.tree_map(argument, call_kwargs))
    node.meta["nn_module_stack"] = dict(g.stack)
    parts = {(): node}
    leaves = list(_leaf_paths(result))
    for n in g.nodes:
        if all(u in inside for u in gm_users(n)):
            continue
        path = next((p for p, v in leaves if _same(values.get(n), v)), None)
        path = path if path is not None else next((p for p, v in leaves if _close(values.get(n), v)), None)
        if path is None:
            raise CaptureError(f"a value computed inside {g.fqn!r} is used after it but is not what it returns")
        for i in range(1, len(path) + 1):
            if path[:i] not in parts:
                parts[path[:i]] = graph.call_function(operator.getitem, (parts[path[: i - 1]], path[i - 1]))
                parts[path[:i]].meta["nn_module_stack"] = {}
        env[n] = parts[path]


def _run_values(gm, flat) -> dict:
    """Every node's value when the exported graph runs on the (flattened) example inputs."""
    values = {}

    class Keep(torch.fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            values[n] = result.clone() if _tensor(result) else result  # a later in-place op (relu_) must not change it
            return result

    with torch.no_grad():
        Keep(gm).run(*flat)
    return values


_INDEXING = (torch.ops.aten.select.int, torch.ops.aten.slice.Tensor)
_OPEN_END = 2**62  # export writes an open slice end as sys.maxsize


def _index_of(chain, rank: int):
    """The one ``x[...]`` index a chain of ATen select / slice nodes applies to a rank-``rank`` tensor (or None)."""
    index, axes = [slice(None)] * rank, list(range(rank))
    for n in chain:
        args = list(n.args) + [None] * (5 - len(n.args))
        if any(isinstance(a, torch.fx.Node) for a in args[1:]) or n.kwargs:
            return None  # a bound that follows a size: left to the table's select / slice entries
        axis = axes[(args[1] or 0) % len(axes)]
        if index[axis] != slice(None):
            return None
        if n.target is torch.ops.aten.select.int:
            axes.remove(axis)
            index[axis] = args[2]
        else:
            end = None if args[3] is not None and args[3] >= _OPEN_END else args[3]
            start, step = args[2] or None, args[4] if args[4] not in (None, 1) else None
            index[axis] = slice(start, end, step)
    while index and index[-1] == slice(None):
        index.pop()
    return tuple(index)


def _fold_indexing(graph, values) -> None:
    """Chains of ATen select / slice on one tensor back into one ``getitem`` (``x[:, 0, 1:]``), as fx records it,
    so the slicing converters see the whole index (one ``Cropping2D`` for the spatial axes, ``slicing.py``)."""
    for last in list(graph.nodes):
        if last.target not in _INDEXING or any(u.target in _INDEXING for u in last.users):
            continue
        chain = [last]
        while chain[0].args[0].target in _INDEXING and len(chain[0].args[0].users) == 1:
            chain.insert(0, chain[0].args[0])
        base = chain[0].args[0]
        index = _index_of(chain, values[base].dim()) if _tensor(values.get(base)) else None
        if index is None:
            continue
        if not index:
            last.replace_all_uses_with(base)
        else:
            with graph.inserting_after(last):
                folded = graph.call_function(operator.getitem, (base, index[0] if len(index) == 1 else index))
            folded.meta = dict(last.meta)
            values[folded] = values[last]
            last.replace_all_uses_with(folded)
        for n in reversed(chain):
            graph.erase_node(n)


def export_graph(module: nn.Module, args: tuple, kwargs: dict, keep=frozenset()):
    """``module`` captured by ``torch.export``: (fx GraphModule of leaf-module calls and ATen ops, fixed axes).

    The GraphModule's placeholders are the tensor inputs in flattened order (non-tensor inputs are
    baked in, as export does); its submodules and attributes are the module's own (shared weights).
    Raises :class:`CaptureError` when export fails or a module call cannot be folded.
    """
    args, kwargs = _batch_ready(args, kwargs)
    ep = _export(module, args, kwargs)
    exported = ep.module()
    for node in list(exported.graph.nodes):
        if (node.op == "call_module" and node.target == "_guards_fn") or (
            node.op == "call_function" and getattr(node.target, "__name__", "").split(".")[0] in _CHECKS
        ):
            exported.graph.erase_node(node)
    exported.recompile()
    flat = pytree.tree_leaves((args, kwargs))
    placeholders = [n for n in exported.graph.nodes if n.op == "placeholder"]
    if len(flat) != len(placeholders):
        raise CaptureError(f"the exported graph takes {len(placeholders)} inputs where {len(flat)} were given")
    try:
        values = _run_values(exported, flat)
    except Exception as e:
        raise CaptureError(f"the exported graph failed on the example ({type(e).__name__}: {e})") from None
    _fold_indexing(exported.graph, values)
    rewrite_exported(exported, values)  # Hugging Face attention and position ids (hf_capture.py)
    groups, stacks = _groups(exported, module, keep, values)
    try:
        calls = _record_calls(module, {g.fqn for g in groups.values()}, args, kwargs)
    except Exception as e:
        raise CaptureError(f"the module failed on the example inputs ({type(e).__name__}: {e})") from None
    owner = {n: g for g in groups.values() for n in g.nodes}
    last = {g.nodes[-1]: g for g in groups.values()}
    graph, env, names = torch.fx.Graph(), {}, {}
    for node in exported.graph.nodes:
        if node in owner:
            if node in last:
                g = last[node]
                if g.index >= len(calls[g.fqn]):
                    raise CaptureError(f"the export saw a call of {g.fqn!r} the eager run did not make")
                _emit_group(graph, env, g, calls[g.fqn][g.index], module, values, lambda n: n.users)
            continue
        if node.op == "placeholder":
            if _tensor(values[node]):
                env[node] = graph.placeholder(node.name)
                env[node].meta = dict(node.meta)  # its symbolic sizes, which hf_capture.py reads
                names[node] = node.name
            else:
                env[node] = values[node]
        elif node.op == "output":
            graph.output(torch.fx.node.map_arg(node.args[0], lambda n: env[n]))
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
            env[node].meta["nn_module_stack"] = stacks.get(node, {})
    for node in reversed(list(graph.nodes)):  # parameters and sizes only the folded calls read
        if not node.users and node.op in ("get_attr", "call_function"):
            graph.erase_node(node)
    root = {}
    for node in graph.nodes:
        if node.op == "call_module":
            root[node.target] = module.get_submodule(node.target)
        elif node.op == "get_attr":
            root[node.target] = operator.attrgetter(node.target)(exported)
    fixed = _fixed_axes([p for p in placeholders if p in names], names)
    return torch.fx.GraphModule(root, graph, class_name=type(module).__name__), fixed
