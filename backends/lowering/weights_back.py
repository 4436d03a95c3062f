"""Weights back: the inverse of a backend's compile-time weight transfer, derived from that transfer itself.

Compiling copies the IR's weights (Keras layout) into the framework's
parameters: kernels transposed, gates reordered, projections concatenated,
Flatten orders folded into Dense rows, a second recurrent bias set to zero.
Apart from such constants, every parameter element is a copy of one IR
element. So instead of writing each rearrangement a second time, backwards,
:func:`trace` *runs the backend's own lowering* on the same architecture with
each IR element replaced by a number that encodes its position, and reads
back where every element landed:

* pass ``k`` (one per 22-bit digit of the position) gives element ``i`` the
  value ``2**22 + digit_k(i)``; a last pass gives ``2**23 + digit_0(i)``.
  Every value is an integer below ``2**24``, exact in float32;
* a parameter element that moved by exactly ``2**22`` between the first and
  last pass is a copy, and its digits say of which IR element;
* an element equal in every pass is a constant the compiler wrote (a zero
  ``bias_hh``, torch's BatchNorm counter, a gather order);
* anything else is computed from the weights and has no exact inverse: the
  trace refuses it, naming the layer.

:func:`pull_back` then copies a trained model's parameters back, element by
element, into a copy of the IR model. A per-kind function from the backend's
table first folds what training may have moved off a constant into the
parameter that holds it (torch's ``bias_hh`` into ``bias_ih``); a constant
still changed, a parameter missing or misshapen, or one IR element trained to
two different values raises :class:`~twinnet.ir.errors.WeightError` naming
the layer. Since the trace reads the forward transfer, the two cannot drift.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...ir.errors import UnsupportedError, WeightError
from ...ir.graph import Model, Node

_BITS = 22
_BASE = 1 << _BITS  # a digit's offset in the position passes; a copy moves by this much in the last pass
_MASK = _BASE - 1

#: per IR layer class: None (every parameter is a copy or a fixed constant) or a function
#: ``(layer, {parameter: trained array}) -> {parameter: array}`` run on one compiled unit before copying back
BackTable = dict[type, Callable | None]


@dataclass(frozen=True)
class Origin:
    """Where one compiled parameter's elements come from."""

    source: np.ndarray  # int64, the parameter's shape: flat index into the IR weights, -1 for a constant
    constant: np.ndarray | None  # the compiler's value where ``source`` is -1 (None: every element is a copy)
    unit: str  # the compiled unit (torch submodule, Keras layer) holding the parameter
    param: str  # the parameter's name inside that unit


@dataclass(frozen=True)
class Transfer:
    """A backend's weight transfer for one architecture, read by :func:`trace`."""

    names: list[str]  # IR weight names, ``"<layer>/<weight>"``, in the model's order
    offsets: list[int]  # flat offset of each IR weight
    origins: dict[str, Origin]  # compiled key -> origin
    units: dict[str, Node]  # compiled unit -> the IR node whose weights it holds
    unit_of: Callable[[str], tuple[str, str]]  # compiled key -> (unit, parameter name), as the backend keys them
    duplicated: bool  # some IR element is copied to more than one place

    def layer_of(self, key: str) -> str:
        """The IR layer behind a compiled key, for messages (else the compiled unit's own name)."""
        unit = self.origins[key].unit if key in self.origins else self.unit_of(key)[0]
        node = self.units.get(unit)
        return node.label if node is not None else unit


def _coded(model: Model, digit: int, offset: int) -> Model:
    """A shallow copy of ``model`` whose weights encode their own flat position (one 22-bit digit of it)."""
    weights, start = {}, 0
    for name, spec in model.weight_specs().items():
        size = math.prod(spec.shape)
        index = np.arange(start, start + size, dtype=np.int64)
        weights[name] = (offset + ((index >> (_BITS * digit)) & _MASK)).astype(np.float32).reshape(spec.shape)
        start += size
    coded = copy.copy(model)
    coded.weights = weights
    return coded


def trace(
    model: Model, compiled: Callable[[Model], dict[str, np.ndarray]], unit_of: Callable[[str], tuple[str, str]]
) -> Transfer:
    """Read a backend's weight transfer for ``model``'s architecture.

    Args:
        model: the IR model (its own weights are not used).
        compiled: lowers a model and returns its parameters by compiled key, as the backend writes them.
        unit_of: compiled key -> (unit, parameter name inside the unit).

    Raises:
        UnsupportedError: a parameter computed from the weights (not a copy), or an IR weight that reaches
            no parameter.
    """
    specs = model.weight_specs()
    names = list(specs)
    sizes = [math.prod(s.shape) for s in specs.values()]
    offsets = [int(o) for o in np.cumsum([0, *sizes])[:-1]]
    total = sum(sizes)
    digits = max(1, math.ceil(max(total - 1, 1).bit_length() / _BITS))
    passes = [compiled(_coded(model, d, _BASE)) for d in range(digits)]
    shifted = compiled(_coded(model, 0, 2 * _BASE))
    if any(p.keys() != shifted.keys() or any(np.shape(p[k]) != np.shape(shifted[k]) for k in p) for p in passes):
        raise UnsupportedError(f"the lowering of {model.name!r} depends on the weights' values: no exact inverse")
    nodes = {node.name: node for node in model.layers}
    starts = np.asarray(offsets, dtype=np.int64)

    def layer_at(index: int) -> Node:
        return nodes[names[int(np.searchsorted(starts, index, side="right")) - 1].split("/", 1)[0]]

    origins, units, covered, computed, copies = {}, {}, np.zeros(total, dtype=bool), [], 0
    for key in passes[0]:
        first, last = np.asarray(passes[0][key]), np.asarray(shifted[key])
        unit, param = unit_of(key)
        if first.dtype.kind != "f":  # an integer buffer (a counter, a gather order): never a weight
            origins[key] = Origin(np.full(first.shape, -1, dtype=np.int64), first, unit, param)
            continue
        copied = (last - first == _BASE) & (first >= _BASE) & (first < 2 * _BASE)
        constant = first == last
        source = np.where(copied, first - _BASE, 0).astype(np.int64)
        for d, p in enumerate(passes[1:], start=1):
            v = np.asarray(p[key])
            copied &= (v >= _BASE) & (v < 2 * _BASE)
            constant &= v == last
            source |= np.where(copied, v - _BASE, 0).astype(np.int64) << (_BITS * d)
        copied &= source < total
        source[~copied] = -1
        picked = source[copied]
        if picked.size:
            lo, hi = layer_at(picked.min()), layer_at(picked.max())
            reached = {lo.name: lo, hi.name: hi}
            if lo is not hi:  # rare: one parameter spans layers (refused below); name every one
                reached = {n.name: n for n in (layer_at(i) for i in np.unique(picked))}
            for node in reached.values():
                if units.setdefault(unit, node) is not node:
                    raise UnsupportedError(f"compiled unit {unit!r} holds the weights of two layers", layer=node.label)
        if not (copied | constant).all():
            computed.append((key, unit))
        covered[picked] = True
        copies += picked.size
        held = None if copied.all() else np.where(copied, 0, first).astype(first.dtype)
        origins[key] = Origin(source, held, unit, param)
    for key, unit in computed:  # named after the layer whose other parameters the unit holds, where it has any
        where = units[unit].label if unit in units else unit
        raise UnsupportedError(
            f"parameter {key!r} is computed from the weights, not copied: no exact inverse", layer=where
        )
    if not covered.all():
        missing = int(np.argmin(covered))
        name = names[int(np.searchsorted(starts, missing, side="right")) - 1]
        raise UnsupportedError(
            f"weight {name!r} reaches no compiled parameter, so it cannot come back", layer=layer_at(missing).label
        )
    return Transfer(names, offsets, origins, units, unit_of, copies > total)


def pull_back(
    model: Model, transfer: Transfer, trained: dict[str, np.ndarray], table: BackTable, framework: str
) -> Model:
    """A copy of ``model`` holding the weights in ``trained`` (compiled key -> array), per ``transfer``.

    ``table`` gives each layer kind's fold (or None); ``framework`` names the trained object in messages.

    Raises:
        WeightError: a parameter missing, extra, misshapen or moved off a constant the IR cannot hold, or one
            IR weight element trained to two values.
        UnsupportedError: a layer kind with weights that ``table`` lacks.
    """
    extra = sorted(set(trained) - set(transfer.origins))
    if extra:
        raise WeightError(
            f"the {framework} model has parameters that compiling {model.name!r} does not make: "
            f"{', '.join(extra[:5])} (was it compiled from this model?)",
            layer=transfer.layer_of(extra[0]),
        )
    by_unit: dict[str, dict[str, np.ndarray]] = {}
    for key, origin in transfer.origins.items():
        if key not in trained:
            raise WeightError(f"the {framework} model has no parameter {key!r}", layer=transfer.layer_of(key))
        array = np.asarray(trained[key])
        if array.dtype.kind != "f" and array.size == origin.source.size:  # torch's 0-d counter, saved as (1,)
            array = array.reshape(origin.source.shape)
        if array.shape != origin.source.shape:
            raise WeightError(
                f"{framework} parameter {key!r} has shape {array.shape}, expected {origin.source.shape}",
                layer=transfer.layer_of(key),
            )
        by_unit.setdefault(origin.unit, {})[origin.param] = array
    for unit, params in by_unit.items():
        node = transfer.units.get(unit)
        if node is None:
            continue
        if type(node.layer) not in table:
            raise UnsupportedError(f"no way back from {framework} for {node.layer.kind}", layer=node.label)
        fold = table[type(node.layer)]
        if fold is not None:
            by_unit[unit] = fold(node.layer, dict(params))
    specs = model.weight_specs()
    flat = np.zeros(sum(math.prod(s.shape) for s in specs.values()), dtype=np.float64)
    for key, origin in transfer.origins.items():
        array = np.asarray(by_unit[origin.unit][origin.param])
        if origin.constant is None:  # every element a copy: the common case, no masks
            flat[origin.source.ravel()] = array.ravel()
            continue
        copied = origin.source >= 0
        if array.dtype.kind == "f" and not np.array_equal(array[~copied], origin.constant[~copied]):
            raise WeightError(
                f"{framework} parameter {key!r} moved off the constant twinnet compiled it with; the IR cannot "
                "hold that value (freeze it while training)",
                layer=transfer.layer_of(key),
            )
        flat[origin.source[copied]] = array[copied]
    for key, origin in transfer.origins.items() if transfer.duplicated else ():
        copied = origin.source >= 0
        array = np.asarray(by_unit[origin.unit][origin.param])
        if not np.array_equal(flat[origin.source[copied]], array[copied].astype(np.float64)):
            raise WeightError(
                f"{framework} parameter {key!r} disagrees with another copy of the same IR weight",
                layer=transfer.layer_of(key),
            )
    weights = {}
    for name, offset, spec in zip(transfer.names, transfer.offsets, specs.values()):
        weights[name] = flat[offset : offset + math.prod(spec.shape)].reshape(spec.shape).astype(spec.dtype)
    return copy.copy(model).set_weights(weights)
