"""Capturing Hugging Face ``transformers`` models: what ``torch.export`` needs switched off, and the
exported graph rewritten where the model builds tensors from sizes alone.

* :func:`hf_settings`: while the model is captured, every ``config`` in it
  has ``use_cache`` off (a key/value cache would enter the graph as empty
  tensors concatenated with the keys, and be returned); restored afterwards.
* :func:`rewrite_exported` runs on the exported ATen graph, before the
  leaf-module calls are folded back (``export.py``):

  - written-out attention becomes one ``scaled_dot_product_attention`` node
    (``hf_attention.py``), the mask it was built with folded away;
  - an embedding looked up at ids read from a buffer (BERT's
    ``position_ids[:, :T]``, holding ``0, 1, ...``) looks them up at
    ``arange(T)``, as GPT-2 and Llama do, so position ids take one form;
  - an embedding looked up at ids that hold one number for every position and
    have the shape of an integer input (BERT's default ``token_type_ids``, all
    zeros) looks them up at ``input * 0 + c``, so the embedding stays one IR
    ``Embedding`` layer fed by the input.

  Both id rules are checked at the example's sizes and at larger ones;
  - T5's in-place ``add_`` and ``min`` with a ``full_like`` become ``add`` and
    ``clamp_max``.
* :func:`batch_position_ids` runs on the graph once module calls are folded
  back: an ``nn.Embedding`` looked up at ids without the batch axis
  (``arange(T)[None]``, one row for every sample) looks them up at
  ``input * 0 + ids`` instead, the same ids for each sample of an integer
  input of that length, so the embedding's output has the batch axis the IR
  needs (the sum it feeds broadcast it over the batch anyway); T5's relative
  position bias, ``emb(ids).permute(2, 0, 1)[None]`` with ``ids`` (T, T)
  built from sizes, is looked up at ``zeros (N, 1, 1) + ids`` and
  permuted ``(0, 3, 1, 2)``.
"""

from __future__ import annotations

import contextlib

import torch
import torch.fx

from .hf_attention import fold_attention
from .hf_masks import evaluate, shape_only

aten = torch.ops.aten
_OFF = ("use_cache",)  # extra outputs a user asked for (output_attentions) stay: the import keeps them


@contextlib.contextmanager
def hf_settings(module: torch.nn.Module):
    """Inside: every Hugging Face ``config`` of ``module`` (a ``PretrainedConfig`` attribute) without a
    key/value cache; the previous values are restored on exit."""
    saved = []
    for m in module.modules():
        config = getattr(m, "config", None)
        if config is None or type(config).__module__.split(".")[0] != "transformers":
            continue
        for key in _OFF:
            if getattr(config, key, None) is True:
                saved.append((config, key))
                setattr(config, key, False)
    try:
        yield
    finally:
        for config, key in saved:
            setattr(config, key, True)


def _int_inputs(graph) -> list:
    return [
        n
        for n in graph.nodes
        if n.op == "placeholder"
        and isinstance(n.meta.get("val"), torch.Tensor)
        and not n.meta["val"].is_floating_point()
        and n.meta["val"].dtype != torch.bool
    ]


def _shape_at(node, grow: int) -> tuple[int, ...]:
    sizes = node.meta["val"].shape
    return tuple(int(s.node.hint) + grow if isinstance(s, torch.SymInt) else int(s) for s in sizes)


def _uniform(value) -> int | None:
    if not isinstance(value, torch.Tensor) or value.is_floating_point() or not value.numel():
        return None
    first = value.reshape(-1)[0]
    return int(first) if bool((value == first).all()) else None


def _constant_ids(graph, gm, emb, ids, values) -> bool:
    """``ids`` (one number everywhere, an integer input's shape) -> ``input * 0 + c``."""
    c = _uniform(values.get(ids))
    if c is None:
        return False
    grown = evaluate(ids, gm, 3)
    for x in _int_inputs(graph):
        if tuple(values[ids].shape) != _shape_at(x, 0):
            continue
        if grown is None or _uniform(grown) != c or tuple(grown.shape) != _shape_at(x, 3):
            continue
        with graph.inserting_before(emb):
            new = graph.call_function(aten.mul.Tensor, (x, 0))
            new.meta, values[new] = dict(ids.meta), values[x] * 0
            if c:
                new = graph.call_function(aten.add.Tensor, (new, c))
                new.meta, values[new] = dict(ids.meta), values[x] * 0 + c
        emb.replace_input_with(ids, new)
        return True
    return False


def _position_ids(graph, emb, ids, values) -> bool:
    """``buffer[:, :T]`` of a buffer holding ``0, 1, ...`` -> ``arange(T)[None]``."""
    if ids.target is not aten.slice.Tensor or len(ids.args) < 4 or ids.args[1] != 1 or ids.args[2] not in (0, None):
        return False
    buf, end = ids.args[0], ids.args[3]
    held = values.get(buf)
    if buf.op != "get_attr" or not isinstance(held, torch.Tensor) or held.dim() != 2 or held.shape[0] != 1:
        return False
    if held.is_floating_point() or not torch.equal(held[0], torch.arange(held.shape[1], dtype=held.dtype)):
        return False
    with graph.inserting_before(emb):
        arange = graph.call_function(aten.arange.default, (end,), {"dtype": held.dtype})
        new = graph.call_function(aten.unsqueeze.default, (arange, 0))
    arange.meta, new.meta = dict(ids.meta), dict(ids.meta)
    values[arange], values[new] = values[ids][0].clone(), values[ids].clone()
    emb.replace_input_with(ids, new)
    return True


def _sizes(node) -> tuple | None:
    val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    return tuple(str(s) for s in val.shape) if isinstance(val, torch.Tensor) else None


def batch_position_ids(gm: torch.fx.GraphModule) -> None:
    """The rewrite of batchless embedding ids (module docstring), in place on the folded graph."""
    graph = gm.graph
    inputs = [(x, _sizes(x)) for x in _int_inputs(graph)]
    for call in list(graph.nodes):
        if call.op != "call_module" or not isinstance(gm.get_submodule(call.target), torch.nn.Embedding):
            continue
        ids, sizes = call.args[0], _sizes(call.args[0])
        if sizes is None or sizes[0] != "1" or call.args[0].meta["val"].is_floating_point():
            continue
        x = next((x for x, xs in inputs if xs is not None and len(xs) == len(sizes) and xs[1:] == sizes[1:]), None)
        if x is None:
            continue
        with graph.inserting_before(call):
            zeros = graph.call_function(aten.mul.Tensor, (x, 0))
            batched = graph.call_function(aten.add.Tensor, (zeros, ids))
        zeros.meta["nn_module_stack"] = batched.meta["nn_module_stack"] = dict(ids.meta.get("nn_module_stack", {}))
        call.replace_input_with(ids, batched)
    for call in list(graph.nodes):
        if call.op == "call_module" and isinstance(gm.get_submodule(call.target), torch.nn.Embedding):
            _batch_bias_ids(graph, call, inputs)
    gm.recompile()


def _batch_bias_ids(graph, call, inputs) -> None:
    """T5's relative position bias: ``emb(ids).permute(2, 0, 1).unsqueeze(0)`` with ``ids`` (T, S) built from
    sizes -> ``emb(ids[None] + zeros (N, 1, 1)).permute(0, 3, 1, 2)``, the batch axis from an integer input."""
    ids, sizes = call.args[0], _sizes(call.args[0])
    if sizes is None or len(sizes) != 2 or call.args[0].meta["val"].is_floating_point() or len(call.users) != 1:
        return
    (perm,) = call.users
    if perm.target is not aten.permute.default or list(perm.args[1]) != [2, 0, 1] or len(perm.users) != 1:
        return
    (unsq,) = perm.users
    if unsq.target is not aten.unsqueeze.default or unsq.args[1] != 0:
        return
    x = next((x for x, xs in inputs if xs is not None and len(xs) == 2 and set(sizes) <= {xs[1]}), None)
    if x is None:
        return
    with graph.inserting_before(call):  # zeros (N, 1, 1): a sum over the length keeps it symbolic
        first = graph.call_function(aten.sum.dim_IntList, (graph.call_function(aten.mul.Tensor, (x, 0)), [1], True))
        zeros = graph.call_function(aten.unsqueeze.default, (first, 2))
        batched = graph.call_function(aten.add.Tensor, (zeros, ids))
    with graph.inserting_after(call):
        heads_first = graph.call_function(aten.permute.default, (call, [0, 3, 1, 2]))
    for n in (first.args[0], first, zeros, batched, heads_first):
        n.meta["nn_module_stack"] = dict(ids.meta.get("nn_module_stack", {}))
    call.replace_input_with(ids, batched)
    unsq.replace_all_uses_with(heads_first)
    graph.erase_node(unsq)
    graph.erase_node(perm)


def _plain_ops(graph) -> None:
    """T5's bucket arithmetic in the ops the tables take: ``a.add_(b)`` whose ``a`` nothing else reads is
    ``a + b``; ``torch.min(a, torch.full_like(a, c))`` is ``a.clamp(max=c)``."""
    for node in list(graph.nodes):
        if node.target is aten.add_.Tensor and list(node.args[0].users) == [node]:
            node.target = aten.add.Tensor
        elif node.target is aten.min.other and len(node.args) == 2:
            a, full = node.args
            if (
                getattr(full, "target", None) is aten.full_like.default
                and full.args[0] is a
                and not full.kwargs.get("dtype")
            ):
                node.target, node.args = aten.clamp_max.default, (a, full.args[1])


def rewrite_exported(gm: torch.fx.GraphModule, values: dict) -> None:
    """The rewrites in the module docstring, in place; ``values`` (each node's value on the example) kept up."""
    graph, memo = gm.graph, {}
    _plain_ops(graph)
    fold_attention(gm, values)
    for node in list(graph.nodes):
        if node.target is not aten.embedding.default or len(node.args) < 2:
            continue
        ids = node.args[1]
        if isinstance(ids, torch.fx.Node) and shape_only(ids, memo):
            _position_ids(graph, node, ids, values) or _constant_ids(graph, gm, node, ids, values)
    graph.eliminate_dead_code()
