"""Folding each leaf-module call of an exported graph back into one ``call_module`` node (``export.py``).

The nodes of one call are found from their ``nn_module_stack`` metadata
(:func:`groups_of`). Which graph values the call took, and which of its nodes
are parts of its result, are matched by value against an eager run of the
module with hooks recording every leaf call (:func:`record_calls`,
:func:`emit_group`): exactly first, then to float32 rounding.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import torch
import torch.utils._pytree as pytree
from torch import nn


class CaptureError(Exception):
    """``torch.export`` could not capture the module, or its graph could not be folded back into module calls."""


def is_leaf(m: nn.Module, keep=frozenset()) -> bool:
    """Whether calls of ``m`` stay one node: stock ``torch.nn`` modules (containers aside) and ``keep`` (ids)."""
    if id(m) in keep:
        return True
    if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return False
    return type(m).__module__.startswith(("torch.nn.", "torch.ao.nn."))


def is_tensor(v) -> bool:
    return isinstance(v, torch.Tensor)


def _holds_tensor(v) -> bool:
    """A tensor, or a tuple or list holding one (``adaptive_max_pool1d``'s values and indices)."""
    return is_tensor(v) or isinstance(v, (tuple, list)) and any(map(_holds_tensor, v))


@dataclass
class Group:
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


def groups_of(gm, module, keep, values) -> tuple[dict, dict]:
    """The leaf-module calls ({key: Group}) and the module stack of every other node."""
    groups: dict[str, Group] = {}
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
            groups[key] = Group(next(reversed(stack)), int(suffix.group(1)) if suffix else 0, stack, [])
        groups[key].nodes.append(node)
    for g in groups.values():  # size arithmetic on values from outside the call is hoisted out of it
        inside = set(g.nodes)
        for node in list(g.nodes):
            if not _holds_tensor(values.get(node)) and all(a not in inside for a in node.all_input_nodes):
                g.nodes.remove(node)
                inside.discard(node)
                stacks[node] = {}
    return {k: g for k, g in groups.items() if g.nodes}, stacks


def record_calls(module: nn.Module, fqns: set, args: tuple, kwargs: dict) -> dict:
    """Run ``module`` eagerly; every call of the modules in ``fqns``: {fqn: [(args, kwargs, result), ...]}."""
    calls: dict[str, list] = {f: [] for f in fqns}
    handles = []

    def clone(tree):
        return pytree.tree_map(lambda v: v.detach().clone() if is_tensor(v) else v, tree)

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
    return is_tensor(a) and is_tensor(b) and a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def _close(a, b) -> bool:
    if not (is_tensor(a) and is_tensor(b) and a.shape == b.shape and a.dtype == b.dtype):
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
    elif is_tensor(tree):
        yield path, tree


def emit_group(graph, env, g: Group, call, module, values, gm_users) -> None:
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
        if not is_tensor(v):
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
