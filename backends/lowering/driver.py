"""The driver that lowers an IR model into a :class:`~.code.Program`, one node at a time.

A backend subclasses :class:`Lowering` (how to transpose and reshape, which
layout the framework prefers, how inputs and outputs are presented) and hands
it its table of lowering functions, one per IR layer class.

Layout is resolved here, at compile time. Each IR tensor becomes a
:class:`~.code.Value`: a variable in the generated code plus its *physical*
layout, the order in which the framework holds the tensor's axes (the IR's
``spec.layout`` is the declared order). Lowerings ask for the physical layout
they need with :meth:`Lowering.require`; a transpose is emitted only where the
physical and needed layouts differ, once per tensor and layout.

``Value.feat`` records a permuted feature axis: after a Flatten of a tensor
held in another order than declared, physical feature ``j`` is logical
feature ``feat[j]``. Dense (and per-channel layers) fold it into their
weights at compile time (:func:`flatten_feat`, :func:`fold_rows`,
:func:`fold_vector`), so no run-time permutation is needed.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Callable

import numpy as np

from ...ir.errors import ConfigError, UnsupportedError
from ...ir.graph import Model, Node
from ...ir.layout import permutation
from ...ir.tensor import TensorSpec
from .code import LayerDef, Program, Value, identifier
from .reshape_layout import positional_layout, regrouped_layout, reshape_for, unit_moves_only


def ir_model(model, backend: str) -> Model:
    """``model`` if it is an ``ir.Model``; else a ConfigError naming the backend (checked before any work)."""
    if not isinstance(model, Model):
        raise ConfigError(f"the {backend} backend compiles an ir.Model, got {type(model).__name__}")
    return model


class Lowering:
    """The compile-time context a backend's lowering functions work in.

    Subclasses say how to transpose, what layout the framework prefers, and
    how inputs and outputs are presented; lowering functions use
    :meth:`define`, :meth:`let`, :meth:`require` and :meth:`plain`.
    """

    backend = ""
    #: identifiers the generated code uses itself (imports, framework attributes)
    reserved: frozenset[str] = frozenset()

    def __init__(self, model: Model, table: dict[type, Callable], *, native_io: bool = False):
        self.model = ir_model(model, self.backend)
        self.table = table
        self.native_io = native_io
        self.program = Program(model.name, native_io=native_io)
        self._names: set[str] = set()  # variables in the generated body
        self._def_names: set[str] = set()  # layer / module names
        self._cache: dict[tuple[str, str], Value] = {}
        self.values: dict[str, Value] = {}
        self._input_vars: set[str] = set()

    @functools.cached_property
    def readers(self) -> dict[str, list]:
        """Node name -> the nodes that read it (computed once per lowering, for lowering functions that ask)."""
        return self.model.consumers()

    @functools.cached_property
    def output_nodes(self) -> frozenset[str]:
        """The names of the nodes whose tensors are model outputs."""
        return frozenset(t.node.name for t in self.model.outputs)

    def read_only_by(self, node: Node, kinds) -> bool:
        """Whether ``node`` is read, is not a model output, and every node reading it is a layer of ``kinds``."""
        found = self.readers[node.name]
        return bool(found) and node.name not in self.output_nodes and all(isinstance(n.layer, kinds) for n in found)

    # -- to be provided by a backend ------------------------------------------------
    def native(self, spec: TensorSpec) -> str:
        """The physical layout the framework prefers for a tensor."""
        raise NotImplementedError

    def input_layout(self, spec: TensorSpec) -> str:
        """The physical layout a model input arrives in."""
        raise NotImplementedError

    def output_layout(self, spec: TensorSpec) -> str:
        raise NotImplementedError

    def transpose_expr(self, value: Value, perm: tuple[int, ...], target: str) -> str:
        raise NotImplementedError

    def reshape_expr(self, value: Value, shape: tuple, target: str) -> str:
        """``value`` (batch axis first) reshaped to ``shape`` (batch axis excluded, at most one -1)."""
        raise NotImplementedError

    def gather(self, value: Value) -> Value:
        """Undo ``value.feat`` at run time (only where no layer can fold it)."""
        raise NotImplementedError

    def held_weight(self, node, name: str) -> tuple[str, np.ndarray]:
        """(physical layout of ``node``'s output, its weight ``name`` (IR: declared axis order, no batch axis)
        transposed to that layout's order without the batch axis)."""
        phys = self.native(node.spec)
        declared = node.spec.layout[1:]
        value = self.weights(node)[name]
        return phys, value.transpose([declared.index(a) for a in phys[1:]])

    # -- names and lines -----------------------------------------------------------
    def fresh(self, base: str, names: set[str] | None = None) -> str:
        """A new identifier from ``base`` (``base``, ``base_1``, ...), unique in ``names``."""
        names = self._names if names is None else names
        base = identifier(base, self.reserved)
        name, k = base, 1
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.add(name)
        return name

    def define(self, base: str, constructor: str, weights=None) -> str:
        """Add a layer/module definition; returns its unique name."""
        name = self.fresh(base, self._def_names)
        self.program.defs.append(LayerDef(name, constructor))
        if weights is not None:
            self.program.weights[name] = weights
        return name

    def let(self, base: str, expr: str, spec: TensorSpec, phys: str, feat=None) -> Value:
        """Emit ``var = expr`` and return the new value."""
        var = self.fresh(base)
        self.program.body.append(f"{var} = {expr}")
        return Value(var, spec, phys, feat)

    # -- layouts -------------------------------------------------------------------
    def require(self, value: Value, phys: str, boundary: bool = False) -> Value:
        """``value`` held in physical layout ``phys`` (transposing once if needed; inside the graph, a layout
        change that moves only size-1 axes is a reshape; at the model's inputs and outputs (``boundary``) it stays
        a transpose, which says what it does and keeps the file's layout readable to importers)."""
        if value.phys == phys:
            return value
        key = (value.var, phys)
        if key not in self._cache:
            value = self.plain(value)
            shape = None if boundary or value.var in self._input_vars else reshape_for(value, phys)
            if shape is not None:  # only size-1 axes move: the same elements in the same order, a free reshape
                expr = self.reshape_expr(value, shape, phys)
            else:
                self.program.transposes += 1
                expr = self.transpose_expr(value, permutation(value.phys, phys), phys)
            self._cache[key] = self.let(f"{value.var}_{phys.lower()}", expr, value.spec, phys)
            self.program.layout_lines.add(len(self.program.body) - 1)
        held = self._cache[key]
        # One variable may carry two declared specs (a Transpose op only renames the order of the letters)
        return held if held.spec == value.spec else replace(held, spec=value.spec)

    def plain(self, value: Value) -> Value:
        """``value`` with its features in logical order."""
        if value.feat is None:
            return value
        key = (value.var, "plain")
        if key not in self._cache:
            self._cache[key] = self.gather(value)
        return self._cache[key]

    def reshape_layout(self, x: Value, spec: TensorSpec, positional: bool = False) -> tuple[Value, str]:
        """(``x`` as a channels-first backend reshapes it into ``spec``, the physical layout of the result).

        As held, when that keeps every merged/split run of axes together (:func:`regrouped_layout`); else
        a Reshape reads the non-batch axes in declared order, so ``x`` is held that way, batch first. Where
        only size-1 axes stand between that and the native layout, the native one; where the result is
        ``positional`` (read only by a Flatten or a Reshape, which take the entries in the order they are
        held), the declared one.
        """
        x = self.plain(x)
        held = regrouped_layout(x.spec, spec, x.phys)
        if held is None:
            x = self.require(x, "N" + x.spec.layout.replace("N", ""))
            held = "N" + spec.layout.replace("N", "")
        native = self.native(spec)
        relabel = tuple(x.spec.shape) == tuple(spec.shape)  # it only renames axes: held as its input is
        if positional:
            held = positional_layout(held, spec)
        elif native[0] == "N" and unit_moves_only(held, native, spec) and not relabel:
            # The axes that would move have size 1 (a squeeze-and-excitation gate reshaped to (1, 1, C)):
            # the elements are in the same order either way, so reshape straight into the native layout and
            # spare the next layer a transpose.
            held = native
        return x, held

    def aligned(self, inputs: list[Value], spec: TensorSpec) -> tuple[list[Value], str, np.ndarray | None]:
        """(``inputs`` held in one layout, that layout, their shared feature order) for an element-wise merge
        into ``spec``. A shared feature order is kept, mixed ones are undone. Where the inputs are held
        differently, the framework's native layout wins if an input already has it (a residual stream held
        channels-first meets an attention output held natively: the stream's transpose is usually made once
        for the block's first layer and reused), else the first input's."""
        if not same_feat(inputs):
            inputs = [self.plain(v) for v in inputs]
        phys = self.merge_layout(inputs, spec)
        return [self.require(v, phys) for v in inputs], phys, inputs[0].feat

    def merge_layout(self, inputs: list[Value], spec: TensorSpec) -> str:
        """The layout an element-wise merge or a concatenation holds its inputs in (see :meth:`aligned`);
        constants (:attr:`Value.constant`) follow the data they meet."""
        data = [v for v in inputs if not v.constant] or inputs
        helds = {v.phys for v in data}
        native = self.native(spec)
        return native if len(helds) > 1 and native in helds else data[0].phys

    # -- the driver ----------------------------------------------------------------
    def lower(self, expose: bool = False) -> Program:
        """Lower every node; with ``expose``, every layer's output becomes a model output (for localising)."""
        for t in self.model.inputs:  # in the model's order: the emitted function takes them so
            self.values[t.node.name] = self.lower_input(t.node)
        for node in self.model.nodes:
            if node.is_input:
                continue
            fn = self.table.get(type(node.layer))
            if fn is None:
                raise UnsupportedError(
                    f"the {self.backend} backend has no lowering for {node.layer.kind}", layer=node.label
                )
            inputs = [self.values[t.node.name] for t in node.inputs]
            try:
                self.values[node.name] = fn(self, node, inputs)
            except UnsupportedError as e:
                if e.layer:
                    raise
                raise UnsupportedError(e.bare_message, layer=node.label) from None
            self._own(node.name)
        tensors = self.model.layers if expose else [t.node for t in self.model.outputs]
        for node in tensors:
            out = self.present(self.values[node.name])
            self.program.outputs.append(out.var)
            self.program.output_layouts.append(out.phys)
        self._own(None)
        return self.program

    def _own(self, origin: str | None) -> None:
        """Record ``origin`` as the node behind the lines and defs emitted since the last call (for blocks)."""
        p = self.program
        p.body_origin += [origin] * (len(p.body) - len(p.body_origin))
        p.def_origin += [origin] * (len(p.defs) - len(p.def_origin))

    def lower_input(self, node: Node) -> Value:
        phys = self.native(node.spec) if self.native_io else self.input_layout(node.spec)
        var = self.fresh(node.name)
        self._input_vars.add(var)
        self.program.inputs.append((var, node.spec, phys))
        return Value(var, node.spec, phys)

    def present(self, value: Value) -> Value:
        """A model output in the layout callers get."""
        phys = self.native(value.spec) if self.native_io else self.output_layout(value.spec)
        return self.require(self.plain(value), phys, boundary=True)

    def weights(self, node: Node) -> dict[str, np.ndarray]:
        return self.model.layer_weights(node)


class ChannelsFirstLowering(Lowering):
    """A backend that holds tensors as torch and ONNX's operators want them: a tensor with spatial axes is
    ``N, C, ...``; sequences stay as declared. Inputs and outputs arrive and leave in the declared layout."""

    def native(self, spec: TensorSpec) -> str:
        if "C" in spec.layout and any(a in spec.layout for a in "DHW"):
            return "NC" + "".join(a for a in spec.layout if a not in "NC")
        return spec.layout

    def input_layout(self, spec: TensorSpec) -> str:
        return spec.layout

    output_layout = input_layout

    def grouped_second(self, x: Value, letter: str) -> Value:
        """``x`` in logical feature order with axis ``letter`` held second, as torch's GroupNorm and ONNX's
        GroupNormalization take ``(N, C, *)`` (free for an image held channels first)."""
        return self.require(self.plain(x), "N" + letter + "".join(a for a in x.phys if a not in ("N", letter)))


def with_spec(value: Value, spec: TensorSpec, phys: str | None = None) -> Value:
    """The same variable, relabelled (for layers that change no data)."""
    return replace(value, spec=spec, phys=value.phys if phys is None else phys)


def flatten_feat(value: Value) -> np.ndarray | None:
    """Feature order after flattening ``value`` as held (batch first): physical j -> logical feat[j]."""
    spec = value.spec
    declared = [a for a in spec.layout if a != "N"]
    grid = np.arange(int(np.prod([spec.dim(a) for a in declared]))).reshape([spec.dim(a) for a in declared])
    held = [a for a in value.phys if a != "N"]
    grid = grid.transpose([declared.index(a) for a in held])
    if value.feat is not None:
        grid = np.take(grid, value.feat, axis=held.index("C"))
    feat = grid.ravel()
    return None if np.array_equal(feat, np.arange(feat.size)) else feat


def fold_rows(kernel: np.ndarray, feat: np.ndarray | None) -> np.ndarray:
    """Reorder the input rows of a (in, out) kernel to match a permuted feature axis."""
    return kernel if feat is None else kernel[feat]


def fold_vector(vector: np.ndarray, feat: np.ndarray | None) -> np.ndarray:
    return vector if feat is None else vector[feat]


def same_feat(values: list[Value]) -> bool:
    first = values[0].feat
    return all(
        (v.feat is None and first is None)
        or (v.feat is not None and first is not None and np.array_equal(v.feat, first))
        for v in values
    )
