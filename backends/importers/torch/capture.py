"""Capturing a torch module for import: an fx graph, the shapes on two batch sizes, input layouts, and
the record of one graph node being converted (:class:`Call`).

* :func:`capture` captures with ``torch.export`` (``export.py``, which folds
  leaf-module calls back into ``call_module`` nodes) and falls back to
  ``torch.fx`` symbolic tracing (:func:`trace`) when export fails, saying why
  in its :class:`CaptureReport`.
* :func:`trace` (the fallback) runs ``torch.fx.symbolic_trace`` with every stock ``torch.nn``
  module (containers aside) kept as one leaf node, so ``nn.LSTM`` stays one
  node named by its qualified name and an ``nn.TransformerEncoderLayer`` is
  converted (or refused) as itself, not as a hundred primitive ops.
* :func:`record` runs the traced graph twice, on the example inputs and on
  the same inputs twice over along the batch axis, and keeps every node's
  output shape. The axis that doubled is the batch axis; every other size
  must stay put (otherwise the module's shapes depend on the batch, which the
  IR cannot express).
* ``torch_lengths.probe_lengths`` runs it once more with the inputs' sequence
  axes stretched: the axes the module accepts at another length become symbolic.
* :func:`guess_layout` names the axes of an input (or of a reshape's result)
  by looking at what consumes it, torch's conventions throughout: ``NC``,
  ``NCW`` for a signal fed to a ``Conv1d``, ``NCHW`` for an image; ``NTC``
  (``batch_first``) or ``TNC`` for a sequence fed to an RNN or a ``Linear``;
  ``NT`` / ``TN`` for token ids.
"""

from __future__ import annotations

import inspect
import operator
import re
from dataclasses import dataclass

import torch
import torch.fx
import torch.utils._pytree as pytree
from torch import nn

from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters
from ..common.names import identifier
from .export import CaptureError, CaptureReport, bind_inputs, export_graph
from .hf_capture import batch_position_ids, hf_settings


class LeafTracer(torch.fx.Tracer):
    """Keeps stock ``torch.nn`` modules whole, and the user modules in ``keep`` (ids); traces through the rest."""

    def __init__(self, keep=frozenset(), buffers: bool = False):
        super().__init__()
        self.keep = keep
        self.proxy_buffer_attributes = buffers  # buffers as graph nodes: ``self.bias[:, :, :T, :T]`` traces

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if id(m) in self.keep:
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return type(m).__module__.startswith(("torch.nn.", "torch.ao.nn."))


def trace(module: nn.Module, keep=frozenset(), buffers: bool = False, concrete=None) -> torch.fx.GraphModule:
    """The module as an fx GraphModule sharing its submodules (and so its weights); ``keep``: ids of user
    modules to keep whole (hand-written attention, ``attention_hand.py``, which traces with ``buffers``
    as graph nodes so that a slice of a causal buffer by a traced length is recorded); ``concrete``: forward's
    arguments given as fixed values (an optional argument left at its default, a flag)."""
    try:
        graph = LeafTracer(keep, buffers).trace(module, concrete_args=concrete or None)
    except Exception as e:  # TraceError, or a user forward that inspects proxies (data-dependent control flow)
        raise UnsupportedError(
            f"torch.fx could not trace {type(module).__name__}.forward ({type(e).__name__}: "
            f"{e}); from_torch needs a forward without data-dependent control flow"
        ) from None
    if concrete:  # fx keeps a placeholder and an equality check for each fixed argument: drop them
        for node in list(graph.nodes):
            if node.op == "call_function" and node.target in (torch.fx._symbolic_trace._assert_is_none, torch._assert):
                graph.erase_node(node)
        for node in reversed(list(graph.nodes)):
            if not node.users and (
                node.target is operator.eq
                or node.op == "placeholder"
                and re.sub("_[0-9]+$", "", node.target) in concrete
            ):
                graph.erase_node(node)
    return torch.fx.GraphModule(module, graph)


def _fx_inputs(module: nn.Module, args: tuple, kwargs: dict) -> tuple[list, dict]:
    """(the tensors fx placeholders take, in forward's order; the arguments fx traces as fixed values)."""
    if not all(isinstance(x, torch.Tensor) for x in args):
        raise UnsupportedError("torch.fx needs the positional example inputs to be tensors")
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        params = {}
    concrete = {k: v for k, v in kwargs.items() if not isinstance(v, torch.Tensor)}
    for i, (k, p) in enumerate(params.items()):
        if i >= len(args) and k not in kwargs and p.default is not inspect.Parameter.empty:
            concrete[k] = p.default  # an optional argument left out: traced at its default
    return list(args) + [v for v in kwargs.values() if isinstance(v, torch.Tensor)], concrete


def capture(
    module: nn.Module,
    args: tuple,
    kwargs: dict,
    keep=frozenset(),
    reason: str | None = None,
    images: bool = True,
    exports: dict | None = None,
):
    """``module`` as an fx GraphModule of leaf-module calls: (graph, its tensor inputs in order, CaptureReport).

    ``torch.export`` first (``export.py``); ``torch.fx`` symbolic tracing when export fails, or when
    ``reason`` (why export's graph could not be used) is given, the report saying why. ``images=False``:
    image inputs are exported at their example's height and width (the batch stays free). ``exports``: see
    :func:`export_graph`.
    """
    from .hf_modules import hf_leaves  # (imports the tables, which import this module)
    from .own_modules import own_leaves

    args, kwargs = bind_inputs(module, args, kwargs)
    keep = frozenset(keep) | hf_leaves(module) | own_leaves(module)  # HF's Conv1D: a Dense; twinnet's helpers
    if reason is None:
        try:
            with hf_settings(module):  # no key/value cache while a transformers model is captured
                gm, fixed = export_graph(module, args, kwargs, keep, images, exports)
            batch_position_ids(gm)  # arange(T)[None] ids of an embedding given the batch axis (hf_capture.py)
            inputs = [v for v in pytree.tree_leaves((args, kwargs)) if isinstance(v, torch.Tensor)]
            return gm, inputs, CaptureReport("torch.export", None, fixed)
        except CaptureError as e:
            reason = str(e)
    inputs, concrete = _fx_inputs(module, args, kwargs)
    return trace(module, keep, concrete=concrete), inputs, CaptureReport("torch.fx", reason)


@dataclass(frozen=True)
class Info:
    """What one node produced on one run: a tensor's shape and dtype."""

    shape: tuple[int, ...]
    dtype: str


def summarize(value):
    if isinstance(value, torch.Tensor):
        return Info(tuple(value.shape), str(value.dtype).replace("torch.", ""))
    if isinstance(value, (tuple, list)) and not isinstance(value, torch.Size):
        return tuple(summarize(v) for v in value)
    return value


class Recorder(torch.fx.Interpreter):
    """Runs the graph, keeping what every node produced (:class:`Info`) and its non-tensor values."""

    def __init__(self, gm):
        super().__init__(gm)
        self.seen: dict[torch.fx.Node, object] = {}
        self.values: dict[torch.fx.Node, object] = {}

    def run_node(self, n):
        result = super().run_node(n)
        self.seen[n] = summarize(result)
        if not isinstance(result, torch.Tensor):
            self.values[n] = result  # sizes, shapes, Python constants: what reshapes and getitem read
        return result


def record(gm: torch.fx.GraphModule, inputs: list[torch.Tensor], batch_axes: list[int]):
    """Run ``gm`` on ``inputs`` and on them doubled along ``batch_axes``; returns (run1, run2, values1)."""
    doubled = [torch.cat([x, x], dim=a) for x, a in zip(inputs, batch_axes)]
    runs = []
    with torch.no_grad():
        for xs in (inputs, doubled):
            rec = Recorder(gm)
            try:
                rec.run(*xs)
            except Exception as e:  # the user's own module failed on its own example
                raise UnsupportedError(f"the module failed on the example inputs ({type(e).__name__}: {e})") from None
            runs.append(rec)
    return runs[0].seen, runs[1].seen, runs[0].values


def batch_axis(a: Info, b: Info) -> int | None:
    """The one axis whose size doubled between the two runs (None if the shapes do not fit that)."""
    if len(a.shape) != len(b.shape):
        return None
    diff = [i for i, (x, y) in enumerate(zip(a.shape, b.shape)) if x != y]
    if len(diff) != 1 or b.shape[diff[0]] != 2 * a.shape[diff[0]]:
        return None
    return diff[0]


def layout_for(rank: int, n_pos: int, c_pos: int | None) -> str:
    """Axis letters for a tensor: batch at ``n_pos``, channels at ``c_pos``, the rest T / W / HW / DHW."""
    rest = rank - 1 - (c_pos is not None)
    fill = {0: "", 1: "T" if c_pos == rank - 1 else "W", 2: "HW", 3: "DHW"}.get(rest)
    if fill is None:
        raise UnsupportedError(f"a rank-{rank} tensor has no IR layout")
    letters, it = [], iter(fill)
    for i in range(rank):
        letters.append("N" if i == n_pos else "C" if i == c_pos else next(it))
    return "".join(letters)


_CHANNELS_FIRST = (
    nn.Conv1d,
    nn.MaxPool1d,
    nn.AvgPool1d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveMaxPool1d,
    nn.BatchNorm1d,
    nn.ConvTranspose1d,
    nn.ZeroPad1d,
    nn.ConstantPad1d,
    nn.Upsample,
    nn.GroupNorm,
)
_CHANNELS_LAST = (nn.Linear, nn.LayerNorm)
_SAME_SHAPE = (
    nn.ReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.SELU,
    nn.LeakyReLU,
    nn.Softplus,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.Dropout,
    nn.Identity,
    nn.ReLU6,
    nn.Hardtanh,
)


_ATTENTION = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder)
_EQ = (operator.eq, torch.eq, torch.ops.aten.eq.Scalar, torch.ops.aten.eq.Tensor)


def zero_test_of_float_input(gm, node):
    """The float model input ``x`` where ``node`` is ``x == 0`` read only as attention key-padding masks, else None.

    That is how ``to_torch`` writes the IR's float mask (nonzero = attend) for torch's bool one (True = pad),
    so the test is the mask itself, and ``x`` the IR's mask input: exact for any value ``x`` holds."""
    if node.op != "call_function" or node.target not in _EQ or len(node.args) != 2 or node.kwargs:
        return None
    x, zero = node.args
    if getattr(x, "op", None) != "placeholder" or isinstance(zero, bool) or zero not in (0, 0.0):
        return None
    value = x.meta.get("val", x.meta.get("example_value"))
    if value is not None and not value.dtype.is_floating_point:
        return None
    for user in node.users:
        module = gm.get_submodule(user.target) if user.op == "call_module" else None
        at, key = (3, "key_padding_mask") if isinstance(module, nn.MultiheadAttention) else (2, "src_key_padding_mask")
        if not isinstance(module, _ATTENTION) or _arg_of(user, at, key) is not node:
            return None
        if sum(a is node for a in (*user.args, *user.kwargs.values())) != 1:
            return None
    return x


def _arg_of(node, i: int, key: str):
    return node.args[i] if i < len(node.args) else node.kwargs.get(key)


def _decide(gm, node, rank: int) -> str | None:
    """The layout ``node``'s consumers expect (None: no consumer decides)."""
    from .own_modules import (
        is_channel_dense,
        is_channel_layer_norm,
        is_half_affine_batch_norm,
        is_keras_normalization,
    )  # (imports the tables)

    queue, seen = [node], {node}
    while queue:
        n = queue.pop(0)
        for u in n.users:
            if rank == 2 and zero_test_of_float_input(gm, u) is n:
                return "NT"  # to_torch's key-padding mask from the IR's float mask (N, T)
            if u in seen or u.op != "call_module" or u.args[0] is not n:
                continue
            m = gm.get_submodule(u.target)
            if is_channel_layer_norm(m) or is_keras_normalization(m):  # twinnet's helpers acting on the axes they name
                seen.add(u)
                queue.append(u)
                continue
            if rank == 3 and (is_half_affine_batch_norm(m) or is_channel_dense(m)):  # twinnet's, channels second
                return "NCW"
            if rank == 3 and not type(m).__module__.startswith(("torch.nn.", "torch.ao.nn.")):
                return "NTC"  # a user module kept whole: hand-written attention on (B, T, C)
            if isinstance(m, (nn.RNNBase, nn.MultiheadAttention)):
                return "NTC" if m.batch_first else "TNC"
            if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerEncoder)):
                first = m.self_attn if isinstance(m, nn.TransformerEncoderLayer) else m.layers[0].self_attn
                return "NTC" if first.batch_first else "TNC"
            if isinstance(m, nn.Embedding):
                found = _decide(gm, u, rank + 1)
                return found.replace("C", "") if found in ("NTC", "TNC") else None
            if rank == 3 and isinstance(m, _CHANNELS_FIRST):
                return "NCW"
            if isinstance(m, _CHANNELS_LAST):
                return layout_for(rank, 0, rank - 1) if rank > 2 else None
            if isinstance(m, _SAME_SHAPE):  # look through element-wise modules
                seen.add(u)
                queue.append(u)
    return None


def guess_layout(gm, node, rank: int, integer: bool, *, reshaped=None) -> str:
    """The layout of a tensor from its consumers; torch's conventions by rank when none decides. ``reshaped``:
    (the input's letters, its sizes, the output's sizes) of a reshape; where no consumer decides and it only
    inserts or drops size-1 axes, the other axes keep their input's letters (``C`` stays ``C``), the size-1
    ones taking the convention's other letters in order."""
    found = _decide(gm, node, rank)
    if found is not None and len(found) == rank:
        return found
    if reshaped is not None:
        kept = _unit_reshape(*reshaped, layout_for(rank, 0, 1) if rank > 2 else "NC")
        if kept is not None:
            return kept
    if integer:
        return {1: "N", 2: "NT"}.get(rank) or layout_for(rank, 0, None)
    return {1: "N", 2: "NC"}.get(rank) or layout_for(rank, 0, 1)


def _unit_reshape(before: str, sizes: tuple, shape: tuple, convention: str) -> str | None:
    """``shape``'s letters after ``before``'s where a reshape of ``sizes`` to it (both batch first, the batch
    left out) only inserts or drops size-1 axes, and the axes it keeps have letters layers name (``C``, ``T``,
    ``D``, ``H``, ``W``: not the free letters of what ops computed); None where it does more."""
    kept = [(a, s) for a, s in zip(before[1:], sizes) if s != 1]
    if before[:1] != "N" or [s for _, s in kept] != [s for s in shape if s != 1]:
        return None
    if any(a not in "CTDHW" for a, _ in kept):
        return None
    used = "N" + "".join(a for a, _ in kept)
    spare = [a for a in convention[1:] if a not in used]
    spare = iter(spare + list(free_letters(used + "".join(spare), len(shape) - len(spare))))
    letters = iter(used[1:])
    return "N" + "".join(next(letters) if s != 1 else next(spare) for s in shape)


def block_mark(node) -> tuple[str, str, str] | None:
    """(kind, instance, scope) of the block a node belongs to: the outermost user module (not ``torch.nn``'s)
    it runs in; scope is the innermost module it runs in (the instance itself or one inside it). twinnet's own
    helpers (``own_modules.py``: one IR layer each, as a ``torch.nn`` layer is) are no user's block."""
    from .own_modules import OWN_NAMES  # (imports the tables, which import this module)

    stack = node.meta.get("nn_module_stack") or {}
    for qualname, (_, cls) in stack.items():
        if not cls.__module__.startswith("torch.") and qualname and cls.__name__ not in OWN_NAMES:
            return identifier(cls.__name__), identifier(qualname), identifier(list(stack)[-1])
    return None


def raw_name(node, where: str, mark: tuple[str, str, str] | None) -> str:
    """The name a node's layer is claimed under: inside a block it starts with ``<instance>_``.

    A module the block holds already does (``layer1.0.conv1`` -> ``layer1_0_conv1``); an fx-named
    function or method (``add_3``, ``mul``) gets the name of the module whose forward calls it and
    loses fx's graph-wide counter (``layer1_0_add``, ``features_2_block_6_mul``), so every instance
    names its layers alike and the Keras emitter can write the block once (``f"{name}_add"``).
    """
    if mark is None or identifier(where).startswith(mark[1] + "_"):
        return where
    scope = mark[2] if mark[2].startswith(mark[1] + "_") else mark[1]
    return f"{scope}_{re.sub(r'_[0-9]+$', '', node.name)}"


@dataclass
class Call:
    """One graph node being converted: its converted arguments and what it produced on the example."""

    node: torch.fx.Node
    name: str
    args: tuple
    kwargs: dict
    info: object
    module: nn.Module | None = None

    def arg(self, i: int, key: str, default=None):
        """Argument ``i`` (positional) or ``key`` (keyword), else ``default``."""
        if i < len(self.args):
            return self.args[i]
        return self.kwargs.get(key, default)
