"""Model graphs: nodes, ``Input``, ``Model``, ``Sequential``.

A model is a DAG of nodes in topological order. Each node is one layer call
(or a model input) with a unique name; tensors are referred to by the name of
the node that makes them. :meth:`Model.lint` checks the graph the way
``torch.fx.Graph.lint`` does, and runs on construction and on load.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Iterable, Sequence

import numpy as np

from . import blocks
from .errors import ConfigError, GraphError, IRError, ResourceLimitError, ShapeError, WeightError, show
from .init import check_weights, initial_value, random_value
from .layers.base import Layer, WeightSpec, check_weight_sizes
from .tensor import MAX_DIM, Tensor, TensorSpec, make_input_spec

_counter = itertools.count()


class Node:
    """One layer call (``layer`` set) or one model input (``layer`` None)."""

    __slots__ = ("layer", "inputs", "spec", "name", "order", "block")

    def __init__(
        self,
        layer: Layer | None,
        inputs: tuple[Tensor, ...],
        spec: TensorSpec,
        name: str | None,
        block: tuple[str, str] | None = None,
    ):
        self.layer = layer
        self.inputs = inputs
        self.spec = spec
        self.name = name
        self.order = next(_counter)
        self.block = block  # (block kind, instance name) when made inside ``with ir.block(...)``; see ir/blocks.py

    def ref(self, index: int = 0) -> str:
        return self.name if index == 0 else f"{self.name}:{index}"

    @property
    def output(self) -> Tensor:
        return Tensor(self.spec, self, 0)

    @property
    def is_input(self) -> bool:
        return self.layer is None

    @property
    def label(self) -> str:
        kind = "Input" if self.layer is None else self.layer.kind
        return f"{kind} {self.name!r}" if self.name else kind

    def weight_specs(self) -> dict[str, WeightSpec]:
        if self.layer is None:
            return {}
        return self.layer.weights(tuple(t.spec for t in self.inputs))

    def __repr__(self) -> str:
        return f"<Node {self.label} -> {self.spec}>"


def Input(shape, layout: str | None = None, dtype: str = "float32", name: str | None = None) -> Tensor:
    """A model input.

    Args:
        shape: the non-batch sizes in layout order; ``None`` for a symbolic
            sequence length. The batch size is always symbolic.
        layout: axis letters, batch included (default: the Keras convention
            for the rank: ``NC``, ``NTC``, ``NHWC``; ``NT`` for integer ids).
        dtype: ``"float32"``, or ``"int32"``/``"int64"`` for token ids.
        name: the input's name (also the argument name in emitted code).

    >>> x = Input(shape=(17, 8), layout="TNC")
    >>> x.shape
    (17, None, 8)
    """
    if name is not None and (not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z", name)):
        raise ConfigError(f"input name must be an identifier, got {name!r}", layer="Input")
    spec = make_input_spec(shape, layout, dtype, name)
    return Node(None, (), spec, name).output


def call_layer(layer: Layer, inputs: Sequence) -> Tensor:
    """Apply ``layer`` to symbolic tensors (what ``layer(x)`` does)."""
    for t in inputs:
        if not isinstance(t, Tensor):
            raise ShapeError(f"expects ir tensors as inputs, got {type(t).__name__}", layer=layer.label)
    specs = tuple(t.spec for t in inputs)
    spec = output_spec(layer, specs)
    return Node(layer, tuple(inputs), spec, layer.name, blocks.current()).output


def output_spec(layer: Layer, specs: Sequence[TensorSpec]) -> TensorSpec:
    """Checks arity and dtype, then applies the layer's shape rule."""
    layer._check_arity(specs)
    if not layer.integer_inputs:
        for s in specs:
            if s.dtype != "float32":
                raise ConfigError(
                    f"expects float32 inputs, got {s.dtype} (only Embedding takes integer ids)", layer=layer.label
                )
    try:
        spec = layer.infer(specs)
    except IRError:
        raise
    except (TypeError, ValueError, IndexError, KeyError) as e:  # a shape rule tripped on odd input
        raise ShapeError(f"cannot infer the output shape: {e}", layer=layer.label) from e
    if any(s is not None and s > MAX_DIM for s in spec.shape):
        raise ResourceLimitError(
            f"output shape {spec.shape} has a size over the limit of {MAX_DIM:,} per axis", layer=layer.label
        )
    return spec


def _snake(kind: str) -> str:
    """Keras's naming rule: Conv2D -> conv2d, MaxPool2D -> max_pool2d, SimpleRNN -> simple_rnn."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


class Model:
    """A functional model: a DAG from ``inputs`` to ``outputs``.

    Weights are numpy arrays keyed ``"<layer>/<weight>"`` in twinnet's
    canonical (Keras) layout; a fresh model has none until
    :meth:`initialize` (or :meth:`randomize`, or :meth:`set_weights`).

    >>> from twinnet import ir
    >>> from twinnet.ir import layers as L
    >>> x = ir.Input((4,), name="x")
    >>> m = ir.Model(x, L.Dense(2)(x), name="tiny").initialize(seed=0)
    >>> m.count_params()
    10
    """

    def __init__(self, inputs, outputs, name: str = "model"):
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z", name):
            raise ConfigError(f"model name must be an identifier, got {name!r}")
        self.name = name
        self.inputs: list[Tensor] = _as_list(inputs, "inputs")
        self.outputs: list[Tensor] = _as_list(outputs, "outputs")
        self.nodes: list[Node] = self._collect()
        blocks.name_blocks(self.nodes, _snake)
        self._name_nodes()
        self.lint()
        blocks.check_blocks(self)
        self.weights: dict[str, np.ndarray] = {}
        self.training = None  # a twinnet.ir.training.TrainingSpec saved with the model, or None
        self._dtype = "float32"

    @property
    def dtype(self) -> str:
        """The model's precision, ``"float32"``, ``"float16"`` or ``"bfloat16"`` (:mod:`twinnet.ir.precision`):
        what its floating tensors and weights are once compiled. Weights stay float32 arrays in the IR."""
        return self._dtype

    @dtype.setter
    def dtype(self, value) -> None:
        from .precision import check_precision

        self._dtype = check_precision(value, f"model {self.name!r}: dtype")

    # -- structure ----------------------------------------------------------
    def _collect(self) -> list[Node]:
        input_nodes = [t.node for t in self.inputs]
        for node in input_nodes:
            if not node.is_input:
                raise GraphError(f"model inputs must come from twinnet.Input, got the output of {node.label}")
        for i, node in enumerate(input_nodes):
            if any(node is other for other in input_nodes[:i]):
                raise GraphError(f"input {node.name or '(unnamed)'!r} is listed twice among the model's inputs")
        seen: dict[int, Node] = {id(n): n for n in input_nodes}
        stack = [t.node for t in self.outputs]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            if node.is_input:
                raise GraphError(f"the outputs depend on input {node.label} which is not among the model's inputs")
            seen[id(node)] = node
            stack.extend(t.node for t in node.inputs)
        return sorted(seen.values(), key=lambda n: n.order)

    def _name_nodes(self) -> None:
        first: dict[str, Node] = {}
        for node in self.nodes:
            if node.name is not None:
                if node.name in first:
                    kinds = [n.label.split()[0] for n in (first[node.name], node)]
                    raise GraphError(f"two layers are named {node.name!r} ({kinds[0]} and {kinds[1]})")
                first[node.name] = node
        used = set(first) | {node.block[1] for node in self.nodes if node.block is not None}
        counts: dict[str, int] = {}
        for node in self.nodes:
            if node.name is None:
                base = "input" if node.is_input else _snake(node.layer.kind)
                if node.block is not None:  # named after its block instance: unique and readable in emitted code
                    base = f"{node.block[1]}_{base}"
                while True:
                    k = counts.get(base, 0)
                    counts[base] = k + 1
                    candidate = base if k == 0 else f"{base}_{k}"
                    if candidate not in used:
                        break
                node.name = candidate
                used.add(candidate)

    def lint(self) -> None:
        """Check the graph: unique names, topological order, no dangling references."""
        position = {}
        for i, node in enumerate(self.nodes):
            if node.name in position:
                raise GraphError(f"two layers are named {node.name!r}")
            for t in node.inputs:
                if id(t.node) not in position:
                    raise GraphError(
                        f"takes {t.name!r}, which is not computed before it (cycle or dangling reference)",
                        layer=node.label,
                    )
            position[id(node)] = i
            position[node.name] = i
        for t in self.outputs:
            if id(t.node) not in position:
                raise GraphError(f"output {t.name!r} is not computed by the model")

    # -- views ---------------------------------------------------------------
    @property
    def layers(self) -> list[Node]:
        """The layer nodes (not inputs), in topological order."""
        return [n for n in self.nodes if not n.is_input]

    def node(self, name: str) -> Node:
        """The node (layer or input) called ``name``; GraphError if there is none."""
        for n in self.nodes:
            if n.name == name:
                return n
        names = [n.name for n in self.nodes]
        raise GraphError(
            f"model {self.name!r} has no layer or input named {show(name)}; it has "
            f"{', '.join(names[:20])}{', ...' if len(names) > 20 else ''}"
        )

    @property
    def input_specs(self) -> list[TensorSpec]:
        return [t.spec for t in self.inputs]

    @property
    def output_specs(self) -> list[TensorSpec]:
        return [t.spec for t in self.outputs]

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for t in n.inputs:
                out[t.node.name].append(n)
        return out

    # -- weights -------------------------------------------------------------
    def weight_specs(self) -> dict[str, WeightSpec]:
        """Every weight the architecture expects, ``"<layer>/<weight>"`` -> spec, in layer order."""
        out = {}
        for node in self.layers:
            for key, spec in node.weight_specs().items():
                out[f"{node.name}/{key}"] = spec
        return out

    def initialize(self, seed: int = 0) -> "Model":
        """Fill every weight with its Keras-style initial value, deterministically from ``seed``; returns self."""
        seed = _seed(seed)
        specs = self.weight_specs()
        check_weight_sizes(specs, _limits())  # refuse absurd sizes rather than start allocating
        self.weights = {k: initial_value(s, seed, k) for k, s in specs.items()}
        return self

    def randomize(self, seed: int = 0) -> "Model":
        """Fill weights with random values that exercise every parameter (non-zero
        biases, BN statistics away from 0/1); for checking equivalence. Returns self."""
        seed = _seed(seed)
        specs = self.weight_specs()
        check_weight_sizes(specs, _limits())
        self.weights = {k: random_value(s, seed, k) for k, s in specs.items()}
        return self

    def set_weights(self, weights: dict[str, np.ndarray], *, copy: bool = True) -> "Model":
        """Replace all weights, checking names, shapes and dtypes; returns self.

        ``copy=False`` keeps the given arrays instead of copying them (a loader's read-only memory-mapped
        views): the model then shares their memory."""
        self.weights = check_weights(self.weight_specs(), weights, copy=copy)
        return self

    def layer_weights(self, node: Node) -> dict[str, np.ndarray]:
        """The weights of one layer by short name (raises WeightError if missing or misshapen)."""
        out = {}
        for key, spec in node.weight_specs().items():
            full = f"{node.name}/{key}"
            if full not in self.weights:
                raise WeightError("has no weights yet; call model.initialize(seed) or load them", layer=node.label)
            # model.weights may have been edited by hand: a wrong shape would fail deep in a framework
            shape = tuple(np.shape(self.weights[full]))
            if shape != spec.shape:
                raise WeightError(f"weight {full!r} has shape {shape}, expected {spec.shape}", layer=node.label)
            out[key] = self.weights[full]
        return out

    def count_params(self) -> int:
        return sum(math.prod(s.shape) for s in self.weight_specs().values())  # exact, unlike np.prod

    # -- display -------------------------------------------------------------
    def summary(self, print_fn=print) -> str:
        """Print (and return) a table: layer, output shape with layout, params, inputs."""
        from .summary import summary_table

        text = summary_table(self)
        if print_fn is not None:
            print_fn(text)
        return text

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}: {t.spec}" for t in self.inputs)
        outs = ", ".join(f"{t.name}: {t.spec}" for t in self.outputs)
        return f"<twinnet.Model {self.name!r} ({ins}) -> ({outs}), {len(self.layers)} layers>"


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an int, got {show(seed)}")
    return int(seed)


def _limits() -> dict:
    from .serde import LIMITS  # one table of limits, kept with the file format (imported late: serde imports us)

    return LIMITS


def _as_list(value, what: str) -> list[Tensor]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise GraphError(f"a model needs at least one of {what}")
    for t in items:
        if not isinstance(t, Tensor):
            raise GraphError(f"model {what} must be ir tensors, got {type(t).__name__}")
    return items


def Sequential(layers: Iterable[Layer], input: Tensor, name: str = "sequential") -> Model:
    """A plain stack of layers on one input.

    >>> from twinnet import ir
    >>> from twinnet.ir import layers as L
    >>> m = ir.Sequential([L.Dense(8, activation="relu"), L.Dense(1)], input=ir.Input((4,)))
    >>> [n.name for n in m.layers]
    ['dense', 'dense_1']
    """
    if not isinstance(input, Tensor):
        raise GraphError("Sequential needs input=twinnet.Input(...)")
    x = input
    for layer in layers:
        if not isinstance(layer, Layer):
            raise GraphError(f"Sequential takes ir layers, got {type(layer).__name__}")
        x = layer(x)
    return Model(input, x, name=name)
