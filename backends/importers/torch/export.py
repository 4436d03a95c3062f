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
import warnings
from dataclasses import dataclass

import torch
import torch.fx
import torch.utils._pytree as pytree
from torch import nn
from torch.fx.experimental.symbolic_shapes import is_concrete_int

from .export_calls import CaptureError, emit_group, groups_of, is_tensor, record_calls
from .hf_capture import rewrite_exported

#: nodes of the exported graph that check sizes at run time; the importer runs the graph at other sizes on purpose
_CHECKS = {"_assert_scalar", "_assert_tensor_metadata", "sym_constrain_range", "sym_constrain_range_for_size"}


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
        lambda v: torch.cat([v, v]) if is_tensor(v) and v.dim() and v.shape[0] == 1 else v, (args, kwargs)
    )


def _image(v) -> bool:
    """A float input of rank 4 or 5 (``NCHW``, ``NCDHW``): its sizes follow the example unless images are dynamic."""
    return is_tensor(v) and v.dim() in (4, 5) and v.is_floating_point()


def _dynamic_shapes(module: nn.Module, args: tuple, kwargs: dict, images: bool = True):
    """Every axis of every tensor input as ``Dim.AUTO``: export keeps free what the module allows. With
    ``images=False`` an image keeps its example's sizes but the batch's (the importer keeps them then anyway,
    and symbolic image sizes cost export minutes of shape reasoning over MaxViT's window reshapes)."""
    bound = inspect.signature(module.forward).bind(*args, **kwargs)
    auto = torch.export.Dim.AUTO

    def axes(v):
        if not is_tensor(v):
            return None
        return {0: auto} if not images and _image(v) else {i: auto for i in range(v.dim())}

    return {k: pytree.tree_map(axes, v) for k, v in bound.arguments.items()}


def _export(module: nn.Module, args: tuple, kwargs: dict, images: bool = True):
    try:
        shapes = _dynamic_shapes(module, args, kwargs, images)
    except TypeError as e:
        raise CaptureError(f"the example inputs do not fit forward's signature ({e})") from None
    try:
        with warnings.catch_warnings():  # export's note that nn.RNNBase sets _flat_weights in forward: not ours
            warnings.filterwarnings("ignore", "The tensor attributes .* were assigned during export", UserWarning)
            return torch.export.export(module, args, kwargs, dynamic_shapes=shapes, strict=False)
    except Exception as e:  # an untraceable forward: data-dependent control flow, an unsupported Python feature
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CaptureError(f"torch.export failed ({type(e).__name__}: {first})") from None


def _fixed_axes(placeholders, names, images: bool = True) -> tuple[str, ...]:
    """The axes export kept fixed where they were asked free (an image's, with ``images=False``, were not)."""
    fixed = []
    for p in placeholders:
        val = p.meta.get("val")
        if is_tensor(val):
            asked = range(1) if not images and _image(val) else range(val.dim())
            fixed += [f"{names[p]} axis {i} = {int(val.shape[i])}" for i in asked if is_concrete_int(val.shape[i])]
    return tuple(fixed)


def _run_values(gm, flat) -> dict:
    """Every node's value when the exported graph runs on the (flattened) example inputs."""
    values = {}

    class Keep(torch.fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            # a clone: a later in-place op (relu_) must not change it
            values[n] = result.clone() if is_tensor(result) else result
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
        index = _index_of(chain, values[base].dim()) if is_tensor(values.get(base)) else None
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


def _mutates(node) -> bool:
    """An in-place ATen op (``fill_`` of a slice of a mask being built): kept though nothing reads its result."""
    schema = getattr(node.target, "_schema", None)
    return node.op == "call_function" and schema is not None and schema.is_mutable


def export_graph(
    module: nn.Module, args: tuple, kwargs: dict, keep=frozenset(), images: bool = True, exports: dict | None = None
):
    """``module`` captured by ``torch.export``: (fx GraphModule of leaf-module calls and ATen ops, fixed axes).

    The GraphModule's placeholders are the tensor inputs in flattened order (non-tensor inputs are
    baked in, as export does); its submodules and attributes are the module's own (shared weights).
    Raises :class:`CaptureError` when export fails or a module call cannot be folded.

    ``exports``: where the one ``torch.export`` of ``module`` on these inputs is kept (or its failure), for
    another capture that keeps other modules whole: ``keep`` only changes what is folded afterwards.
    """
    args, kwargs = _batch_ready(args, kwargs)
    exports = {} if exports is None else exports
    if "export" not in exports:
        try:
            exports["export"] = _export(module, args, kwargs, images)
        except CaptureError as e:
            exports["export"] = e
    if isinstance(exports["export"], CaptureError):
        raise exports["export"]
    exported = exports["export"].module()  # a fresh GraphModule each time: what follows edits it
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
    groups, stacks = groups_of(exported, module, keep, values)
    try:
        calls = record_calls(module, {g.fqn for g in groups.values()}, args, kwargs)
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
                emit_group(graph, env, g, calls[g.fqn][g.index], module, values, lambda n: n.users)
            continue
        if node.op == "placeholder":
            if is_tensor(values[node]):
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
        if not node.users and node.op in ("get_attr", "call_function") and not _mutates(node):
            graph.erase_node(node)
    root = {}
    for node in graph.nodes:
        if node.op == "call_module":
            root[node.target] = module.get_submodule(node.target)
        elif node.op == "get_attr":
            root[node.target] = operator.attrgetter(node.target)(exported)
    fixed = _fixed_axes([p for p in placeholders if p in names], names, images)
    return torch.fx.GraphModule(root, graph, class_name=type(module).__name__), fixed
