"""``from_torch``: a PyTorch ``nn.Module`` -> ``twinnet.Model`` with its weights.

How the import works, and why:
  * Capture is ``torch.export`` (non-strict, every input axis ``Dim.AUTO``;
    ``export.py``), which follows what symbolic tracing cannot (``x.ndim``,
    ``torch._assert``, optional and keyword arguments). Its ATen graph is folded
    back so that each call of a stock ``nn`` module (and of a hand-written
    attention module) is one ``call_module`` node named by its qualified name
    (``features.0``): a table keyed by ``nn.Module`` class maps it straight to an
    IR layer, weights and options read from the module itself, and a refusal
    names the module; the ATen ops between calls map through ``aten.py``. When
    export fails, or its graph holds an op the tables lack that symbolic tracing
    would not produce, ``torch.fx.symbolic_trace`` (``capture.py``) is the
    fallback; ``model.capture`` (a ``CaptureReport``) says which ran and why.
    The captured graph is then run (eval mode, no grad) on the example inputs
    and on them doubled along the batch, to learn every shape and which axis is
    the batch, and once more with the sequence lengths stretched
    (``lengths.py``) to learn which sizes follow them. Nothing else is
    executed, and no file is loaded (load a checkpoint yourself with
    ``torch.load(..., weights_only=True)``).
  * Layouts: every imported tensor is declared in torch's own axis order, the
    letters naming what the axes mean (``NCHW``, ``NCW``, ``NTC``/``TNC``, ``NT``),
    so a torch ``dim`` is a position in the IR layout and ``to_torch`` holds
    each tensor exactly as the source did: no transposes appear that the
    source did not have. ``permute``/``transpose`` become IR ``Permute`` (free);
    where a layer needs an axis under another letter (a ``Linear`` over the
    last axis of an ``NCW`` tensor) a relabelling ``Reshape`` (``<name>_relabel``,
    no data moves) renames it.
  * Every node is converted by its entry in ``MODULE_TABLE``, ``FUNCTION_TABLE``
    or ``METHOD_TABLE`` (``tables.py``, which joins the family files'). Problems
    are collected for every node (behind a refused node on a stand-in input of
    the recorded shape); if there are any, one ``ir.UnsupportedError`` lists them
    all with the qualified module name or graph node: no partial model.
  * The import describes the module in eval mode (BatchNorm running
    statistics, no dropout); training flags are restored afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.fx
from torch import nn

from .... import ir
from ....ir import layers as L
from ....ir.errors import IRError, UnsupportedError
from ..common.converters import user_table
from ..common.names import Names, identifier
from ..common.problems import Problem, unsupported
from .attention_hand import Whole, find_hand_attention
from .capture import Call, Info, batch_axis, capture, guess_layout, layout_for, record
from .einsum import lower_einsums
from .importer_nodes import DTYPES, NodeConversion
from .lengths import LengthCheck, probe_lengths, size_bound_layer, symbolic_shape
from .ops import Lazy
from .tables import FUNCTION_TABLE, MODULE_TABLE


def from_torch(
    module: nn.Module,
    example_inputs,
    *,
    example_kwargs: dict | None = None,
    name: str | None = None,
    fixed_lengths: bool = False,
    dynamic_images: bool = False,
    converters=None,
) -> ir.Model:
    """Import a PyTorch module, weights included, captured with ``torch.export`` (``torch.fx`` as the fallback).

    Args:
        module: the ``nn.Module``.
        example_inputs: a tensor or tuple of tensors the module accepts; shapes
            come from them. The batch size becomes symbolic, and so does each
            input's sequence length (``T`` of a token or ``NTC``/``TNC`` sequence,
            ``W`` of a signal fed to a ``Conv1d``; with ``dynamic_images``, ``H``
            and ``W`` of an ``NCHW`` image) where the module runs at another length
            and every node converts with it unknown; a forward that bakes the length
            in (``x.view(b, 20 * 4)``) keeps the example's.
        example_kwargs: keyword arguments of ``forward`` (tensors become model
            inputs after the positional ones, in ``forward``'s order; other values,
            and optional arguments left out, are fixed as given).
        name: the IR model's name (default: the module's class name).
        fixed_lengths: keep every non-batch size at the example's (no length probe).
        dynamic_images: probe image sizes too (docs/limits.md, torch-import-fixed-image-size).
        converters: ``{ModuleClass: fn}`` (each instance kept whole by the capture) or ``{aten_op: fn}``,
            entries added to the module or function table for this import: ``fn(importer, call)`` returns
            an IR tensor, as the built-in entries do (``common/converters.py``, docs/extending.md).

    Returns:
        a ``twinnet.Model`` declared in torch's axis order (``NCHW``, ``NCW``,
        ``NTC``/``TNC``, ``NT``), layers named after the module's qualified
        names, weights copied from the module. A bool input (a key-padding
        mask, True = pad) is declared as the IR's mask: float32, 1 = attend,
        so feed ``(~mask).float()`` to the converted model (``attention.py``).
        ``model.capture`` is the :class:`CaptureReport`: which capture ran, why
        the fallback was taken, the input axes export kept fixed.

    Raises:
        ir.UnsupportedError: listing every module/op the IR cannot represent
            (``problems`` holds :class:`Problem` records).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    >>> from_torch(net, (torch.zeros(2, 4),)).count_params()
    15
    >>> conv = torch.nn.Sequential(torch.nn.Conv1d(4, 3, 3, padding=1))
    >>> from_torch(conv, (torch.zeros(2, 4, 7),)).inputs[0].shape  # (batch, channels, length)
    (None, 4, None)
    """
    if not isinstance(module, nn.Module):
        raise UnsupportedError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    inputs = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    kwargs = dict(example_kwargs or {})
    if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
        raise UnsupportedError("example_inputs must be a tensor or a tuple of tensors")
    modes = {m: m.training for m in module.modules()}
    module.eval()
    name = name or identifier(type(module).__name__)
    converters = dict(converters or {})
    tables = (
        user_table(MODULE_TABLE, {k: f for k, f in converters.items() if isinstance(k, type)}, "module class"),
        user_table(FUNCTION_TABLE, {k: f for k, f in converters.items() if not isinstance(k, type)}, "function"),
    )
    try:
        try:
            return _import(module, inputs, kwargs, name, fixed_lengths, dynamic_images, None, tables)
        except UnsupportedError as e:
            found = getattr(e, "problems", None)
            if not found or getattr(getattr(e, "capture", None), "method", None) != "torch.export":
                raise
            first = next((p for p in found if p.what.startswith("aten.")), found[0])
            reason = f"the exported graph could not be converted ({first})"
            try:  # symbolic tracing keeps the calls the forward makes (a torch function the tables may know)
                return _import(module, inputs, kwargs, name, fixed_lengths, dynamic_images, reason, tables)
            except UnsupportedError as traced:  # refused either way: fx's names are the forward's own calls
                raise (traced if getattr(traced, "problems", None) else e) from None
    finally:
        for m, mode in modes.items():
            m.training = mode


def _import(module, inputs, kwargs, name, fixed_lengths, images, fallback, tables) -> ir.Model:
    captured: dict = {}  # one torch.export per capture, whatever the imports below try
    importer = _Importer(module, inputs, kwargs, fixed_lengths, fallback, images, tables=tables, captured=captured)
    try:
        model = importer.run(name)
        if not images or size_bound_layer(model) is None:
            return model
        # a pool with torch's pads needs the image size known in Keras: keep the example's (lengths.py)
        again = _Importer(module, inputs, kwargs, fixed_lengths, fallback, False, tables=tables, captured=captured)
        return again.run(name)
    except UnsupportedError:
        if not importer.lengths:
            raise
        # some node needs the length known (a Reshape with two unknown sizes, an upsampling factor): keep the
        # example's lengths; the refusals, if any remain, are reported by that import
        return _Importer(module, inputs, kwargs, True, fallback, images, tables=tables, captured=captured).run(name)


@dataclass
class _Importer(NodeConversion):
    module: nn.Module
    args: tuple
    kwargs: dict
    fixed_lengths: bool = False
    fallback: str | None = None  # why torch.fx captures instead of torch.export (None: export first)
    images: bool = False  # probe image sizes (H, W) too
    lengths: set = field(default_factory=set)  # (input index, axis) pairs declared symbolic
    problems: list = field(default_factory=list)
    weights: dict = field(default_factory=dict)
    claimed: Names = field(default_factory=Names)
    values: dict = field(default_factory=dict)
    bool_inputs: set = field(default_factory=set)  # placeholders held as attention masks (1 = attend)
    learned: dict = field(default_factory=dict)  # get_attr target -> its LearnedConstant (constants.py)
    superseded: set = field(default_factory=set)  # layers made again over a regrouped batch, and the copies
    skip_hand: frozenset = frozenset()  # attention modules refused whole: traced through instead
    tables: tuple = (MODULE_TABLE, FUNCTION_TABLE)  # with the user's converters (common/converters.py)
    captured: dict = field(default_factory=dict)  # captures and exports, shared by the re-imports of one call

    def run(self, name: str) -> ir.Model:
        hand = find_hand_attention(self.module)  # user attention modules, read whole (attention_hand.py)
        self.hand = {k: m for k, m in hand.items() if k not in self.skip_hand}
        traced = self.module
        if "" in self.hand:  # the module itself is attention: fx cannot keep the root whole, so wrap it
            traced, self.hand = Whole(self.module), {"attention": self.module}
        users = {id(m) for m in traced.modules() if type(m) in self.tables[0] and type(m) not in MODULE_TABLE}
        keep = frozenset({id(m) for m in self.hand.values()} | users)
        key = (self.fallback, keep, self.images)
        if key not in self.captured:  # lengths do not change the capture; image sizes and kept modules do
            # torch.export once per image setting, whatever is kept whole (keep changes only the folding)
            exports = self.captured.setdefault(("export", traced is self.module, self.images), {})
            self.captured[key] = capture(traced, self.args, self.kwargs, keep, self.fallback, self.images, exports)
        self.gm, self.inputs, self.capture = self.captured[key]
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(self.inputs):
            raise UnsupportedError(
                f"forward takes {len(placeholders)} input(s) but {len(self.inputs)} example(s) were given"
            )
        layouts = [
            guess_layout(self.gm, p, x.dim(), not x.is_floating_point()) for p, x in zip(placeholders, self.inputs)
        ]
        try:
            if self.capture.method == "torch.export":  # einsums as products and reshapes (einsum.py)
                lower_einsums(self.gm, self.inputs, [lay.index("N") for lay in layouts])
            self.run1, self.run2, self.consts = record(self.gm, self.inputs, [lay.index("N") for lay in layouts])
        except UnsupportedError as e:
            if self.capture.method != "torch.export":
                raise
            self.fallback = f"the exported graph does not run at another batch size ({e})"
            return self.run(name)
        self.run3, self.probe = None, None  # the run at other sequence lengths, and the IR's shapes there
        if not self.fixed_lengths:
            self.run3, self.lengths = probe_lengths(self.gm, self.inputs, layouts, self.images)
            self.probe = LengthCheck(self.run3) if self.run3 is not None else None
        self.times = {}
        for node in self.gm.graph.nodes:
            if node.op == "call_module":
                self.times[node.target] = self.times.get(node.target, 0) + 1
        ir_inputs = [
            self.convert_input(i, p, x, lay) for i, (p, x, lay) in enumerate(zip(placeholders, self.inputs, layouts))
        ]
        self.ir_inputs = ir_inputs  # a value read in forward (constants.py) takes its batch size from these
        outputs = None
        for node in self.gm.graph.nodes:
            if node.op == "output":
                outputs = self.convert_output(node)
            elif node.op != "placeholder":
                self.convert(node)
        refused = {"" if p.where == "attention" and "" in hand else p.where for p in self.problems}
        if self.problems and refused & set(hand) - self.skip_hand:  # read the refused ones op by op instead
            again = _Importer(
                self.module,
                self.args,
                self.kwargs,
                self.fixed_lengths,
                self.fallback,
                self.images,
                tables=self.tables,
                captured=self.captured,
                skip_hand=self.skip_hand | (refused & set(hand)),
            )
            return again.run(name)
        if self.problems:
            graph = (
                "torch.export.export(module, ...).module().code"
                if self.capture.method == "torch.export"
                else ("torch.fx.symbolic_trace(module).code")
            )
            err = unsupported(
                f"torch module {type(self.module).__name__}",
                self.problems,
                f" (names are modules' qualified names or graph nodes as in {graph})",
            )
            err.capture = self.capture
            raise err
        ir.blocks.settle(outputs)
        model = ir.Model(ir_inputs, outputs, name=identifier(name))
        unused = self.superseded - {node.name for node in model.layers}  # rebatched (aten_values.py), then unused
        model.set_weights({k: v for k, v in self.weights.items() if k.split("/")[0] not in unused})
        model.capture = self.capture  # which capture ran (torch.export, or the torch.fx fallback and why)
        return model

    # -- names, problems, shapes --------------------------------------------------------
    def claim(self, raw: str) -> str:
        return self.claimed.claim(raw)

    def refuse(self, where: str, what: str, reason: str) -> None:
        problem = Problem(where, what, reason)
        if problem not in self.problems:
            self.problems.append(problem)

    def n_pos(self, node) -> int | None:
        a, b = self.run1.get(node), self.run2.get(node)
        return batch_axis(a, b) if isinstance(a, Info) and isinstance(b, Info) else None

    def shape(self, node) -> tuple:
        """``node``'s recorded shape, None where it follows a symbolic length (differs on the probe run)."""
        return symbolic_shape(self.run1.get(node), (self.run3 or {}).get(node))

    def stand_in(self, node):
        """An IR input shaped like ``node``'s recorded output, to keep checking what follows a refusal."""
        info, n = self.run1.get(node), self.n_pos(node)
        if not isinstance(info, Info) or n is None or info.dtype not in DTYPES:
            return None
        try:
            layout = guess_layout(self.gm, node, len(info.shape), info.dtype != "float32")
            if layout.index("N") != n:
                layout = layout_for(len(info.shape), n, None if info.dtype != "float32" else (1 if n == 0 else 2))
        except IRError:  # a rank with no conventional layout: nothing to check behind it
            return None
        try:
            return ir.Input(info.shape[:n] + info.shape[n + 1 :], layout=layout, dtype=info.dtype)
        except IRError:
            return None

    # -- what converters use ---------------------------------------------------------------
    def tensor(self, value) -> ir.Tensor:
        """``value`` as an IR tensor (building a lazily kept RNN output), or UnsupportedError."""
        if isinstance(value, Lazy):
            value = value.materialize(self)
        if not isinstance(value, ir.Tensor):
            raise UnsupportedError(f"expects a tensor here, got {type(value).__name__}")
        return value

    def add(
        self, call: Call, layer: L.Layer, inputs, weights=None, *, name: str | None = None, check: bool = True
    ) -> ir.Tensor:
        """Apply ``layer`` (named after the call) to IR tensors; record its weights; check the shape."""
        name = name or call.name
        out = layer.replace(name=name)(*inputs)
        weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (weights or {}).items()}
        want = {k: s.shape for k, s in out.node.weight_specs().items()}
        got = {k: tuple(v.shape) for k, v in weights.items()}
        if want != got:
            raise UnsupportedError(f"torch weights {got} do not match the IR layer's {want}")
        self.weights.update({f"{name}/{k}": v for k, v in weights.items()})
        if check:
            self.check_shape(out, call.node)
        return out

    def check_shape(self, out: ir.Tensor, node) -> None:
        """The IR's shape must be what torch computed (a guard against importer bugs)."""
        info, n = self.run1.get(node), self.n_pos(node)
        if not isinstance(info, Info) or n is None:
            raise UnsupportedError("its output is not one tensor with a batch axis")
        shape = self.shape(node)  # None where torch's size follows a symbolic length: the IR's must be None too
        theirs = shape[:n] + shape[n + 1 :]
        ours = tuple(s for a, s in zip(out.layout, out.shape) if a != "N")
        if out.layout.index("N") != n or theirs != ours:
            raise UnsupportedError(
                f"the IR infers shape {out.shape} {out.layout} where torch has {shape} (batch axis {n})"
            )
        why = self.probe.mismatch(out, node) if self.probe is not None else None
        if why is not None:
            raise UnsupportedError(why)

    def relabel(self, x: ir.Tensor, layout: str, call: Call) -> ir.Tensor:
        """``x`` with its axes named ``layout`` (same positions; a Reshape that moves no data)."""
        if x.layout == layout:
            return x
        if x.layout.index("N") != layout.index("N"):
            raise UnsupportedError(
                f"needs the batch axis at position {layout.index('N')}, but it is at {x.layout.index('N')} ({x.layout})"
            )
        sizes = tuple(-1 if s is None else s for a, s in zip(x.layout, x.shape) if a != "N")
        if sizes.count(-1) > 1:
            raise UnsupportedError(f"cannot rename the axes of {x.layout} with more than one unknown size {x.shape}")
        return L.Reshape(sizes, layout=layout, name=self.claim(f"{call.name}_relabel"))(x)
