"""What the ATen -> op converters share: values computed without the inputs, torch dims as letters, broadcasting.

Three kinds of values meet in an exported graph:

* **batched** tensors, the IR tensors of the importer: declared in torch's
  axis order, the batch axis ``N`` where torch has it, so torch ``dim`` ``d``
  is letter ``layout[d]``;
* **held** values (:class:`Held`): tensors computed without any input (a
  parameter or buffer read in ``forward``, ``torch.arange(7)``, or ATen ops on
  those, which :func:`fold` runs once in torch at import). They stay torch
  tensors until an op combines them with a batched tensor, and only then
  become an IR ``Learned`` op (its weight the value), shaped and named by
  letter to fit that op, so that no relabelling is needed;
* **batchless** IR tensors: what ops on a held value (or ``Positions``)
  give once in the IR. An IR tensor always has the batch axis, so a torch
  tensor of rank ``r`` without one is an IR tensor of rank ``r + 1``, ``N``
  first and repeated over the batch; :func:`letters` drops that ``N``.

Torch broadcasts by position from the right; the IR broadcasts by letter.
:func:`operands` renames (``View``, which moves no data when ``N`` is first)
each input so that its letters are the result's at the positions torch
aligns it to, drops the size-1 leading axes of a batchless input that reach
the batch axis, and casts to the dtype torch computes in.
"""

from __future__ import annotations

import operator

import numpy as np
import torch

from .... import ir
from ....ir import ops as O
from ....ir.errors import IRError, UnsupportedError
from ....ir.layout import free_letters
from .capture import Info
from .recurrent import Lazy

__all__ = ["Held", "arg_node", "fold", "held_value", "letters", "operands", "prefer", "put", "view", "cast"]

_DTYPES = {"float32", "int32", "int64", "bool"}
_READS = (torch.ops.aten.index.Tensor, torch.ops.aten.index_select.default)
#: ops that read a tensor argument only for its dtype and device: computed without the inputs
_LIKE = (torch.ops.aten.new_zeros.default, torch.ops.aten.new_ones.default, torch.ops.aten.new_full.default)


class Held(Lazy):
    """A tensor computed without the inputs (batchless): an IR ``Learned`` op once an op needs it."""

    def __init__(self, node, value: torch.Tensor):
        self.node, self.value = node, value.detach()
        self.trained = isinstance(value, torch.nn.Parameter)  # a weight as stored (not folded from others)

    @property
    def why(self):
        return f"a tensor of shape {tuple(self.value.shape)} computed without the inputs is not supported here"

    def learned(self, ctx, shape: tuple, layout: str, like: ir.Tensor | None = None) -> ir.Tensor:
        """The value reshaped to ``shape`` as a ``Learned`` op of layout ``layout`` (``N`` first), cast back to
        its dtype; one op per (shape, layout), its weight the value, repeated over the batch of ``like``
        (default: the model's first input)."""
        key = ("held", self.node, shape, layout, None if like is None else like.name)
        if key in ctx.learned:
            return ctx.learned[key]
        value = self.value
        dtype = str(value.dtype).replace("torch.", "")
        if dtype not in _DTYPES and not value.is_floating_point():
            raise UnsupportedError(f"a {dtype} tensor read or computed in forward has no IR dtype")
        array = value.cpu().numpy().astype(np.float32).reshape(shape)
        if not np.array_equal(array.astype(value.cpu().numpy().dtype), value.cpu().numpy().reshape(shape)):
            raise UnsupportedError(f"the {dtype} tensor {getattr(self.node, 'target', '')} is not exact in float32")
        reference = like if like is not None else next((x for x in ctx.ir_inputs if x is not None), None)
        if reference is None:
            raise UnsupportedError("no model input to take the batch size from")
        raw = self.node.target if self.node.op == "get_attr" else self.node.name
        name = ctx.claim(str(raw))
        out = O.Learned(shape, layout, name=name)(reference)
        ctx.weights[f"{name}/value"] = np.ascontiguousarray(array)
        if dtype not in ("float32",) and dtype in _DTYPES:
            out = O.Cast(dtype, name=ctx.claim(f"{name}_cast"))(out)
        ctx.learned[key] = out
        return out

    def materialize(self, ctx) -> ir.Tensor:
        shape = tuple(self.value.shape)
        if not shape:
            raise UnsupportedError("a 0-dimensional tensor computed in forward is not supported as a tensor")
        return self.learned(ctx, shape, "N" + free_letters("N", len(shape)))


def held_value(node, held: torch.Tensor) -> Held:
    """A parameter or buffer read in ``forward`` (the importer's ``get_attr``), kept as a torch tensor."""
    return Held(node, held)


def _is_held(v) -> bool:
    return isinstance(v, Held)


def fold(ctx, node) -> Held | tuple | None:
    """``node`` (an ATen op, or a leaf module's call) run in torch when every tensor it reads is held and its
    result does not follow the batch (the same shapes on both recorded runs): a :class:`Held` value (a tuple
    of them for a split), else None."""
    module = ctx.gm.get_submodule(node.target) if node.op == "call_module" else None  # SwinV2's position MLP
    if module is None and (
        node.op != "call_function"
        or not (isinstance(node.target, torch._ops.OpOverload) or node.target is operator.getitem)  # a held slice
    ):
        return None
    inputs = node.all_input_nodes
    values = [ctx.values.get(n) for n in inputs]
    for i, n in enumerate(inputs):  # a one-number constant (kept as a number) is a tensor to the ops here
        if n.op == "get_attr" and (isinstance(values[i], (int, float)) or module is not None):
            values[i] = Held(n, operator.attrgetter(n.target)(ctx.gm))  # (a module's input: as stored)
    if node.target in _LIKE and ctx.run1.get(node) == ctx.run2.get(node):
        like = getattr(torch, str(ctx.run1[node].dtype))  # the tensor argument gives only the dtype
        values[0] = Held(inputs[0], torch.empty(0, dtype=like))  # (a shifted-window mask starts as new_zeros)
    if any(isinstance(v, (ir.Tensor, Lazy)) and not _is_held(v) for v in values):
        return None
    if not any(_is_held(v) for v in values) and inputs:
        return None  # sizes only: the table's entry reads them
    if module is not None and not all(v.value.is_floating_point() for v in values if _is_held(v)):
        return None  # a module reading stored ids (an Embedding of a position buffer) stays that layer
    from .tables import FUNCTION_TABLE  # noqa: PLC0415 (the tables import this module)

    if not inputs and node.target in FUNCTION_TABLE:
        return None  # a constant the table makes itself (torch.full / ones of an attention mask)
    if ctx.run1.get(node) != ctx.run2.get(node):
        return None
    if node.target in _READS and _is_held(values[0]) and values[0].trained:
        return None  # a learned table read through fixed indices stays a table and a Take (aten_shape.py)
    given = dict(zip(inputs, values))
    args = torch.fx.node.map_arg(node.args, lambda n: _raw(given[n]))
    kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: _raw(given[n]))
    with torch.no_grad():
        result = (module or node.target)(*args, **kwargs)
    if isinstance(result, torch.Tensor):
        return Held(node, result)
    if isinstance(result, (tuple, list)) and all(isinstance(r, torch.Tensor) for r in result):
        return tuple(Held(node, r) for r in result)
    return None


def _raw(v):
    return v.value if _is_held(v) else v


# -- letters and shapes ------------------------------------------------------------------------------


def torch_shape(ctx, node) -> tuple:
    """``node``'s torch shape, None where a size follows a symbolic length."""
    info = ctx.run1.get(node)
    if not isinstance(info, Info):
        raise UnsupportedError("expects a tensor here")
    return tuple(ctx.shape(node))


def letters(ctx, node, x: ir.Tensor) -> str:
    """The letters of ``node``'s torch dims, in torch order (a batchless tensor's leading ``N`` dropped;
    ``node`` None: a value made inside the converter, batched, as torch's)."""
    if node is None:
        return x.layout
    rank = len(ctx.run1[node].shape)
    if x.spec.rank == rank:
        return x.layout
    if x.spec.rank == rank + 1 and x.layout[0] == "N":
        return x.layout[1:]
    raise UnsupportedError(f"the IR tensor {x.layout} does not fit torch's rank-{rank} value")


def batched(ctx, node, x: ir.Tensor) -> bool:
    return "N" in letters(ctx, node, x)


def view(ctx, call, x: ir.Tensor, shape: tuple, layout: str, suffix: str = "view") -> ir.Tensor:
    """``x`` (``N`` first) as ``shape`` (after ``N``; None: the one unknown size) named ``layout``."""
    if x.layout == layout and tuple(x.shape[1:]) == tuple(shape):
        return x
    if x.layout[0] != "N":
        raise UnsupportedError(f"renaming the axes of {x.layout} needs the batch axis first")
    sizes = tuple(-1 if s is None else s for s in shape)
    if sizes.count(-1) > 1:
        raise UnsupportedError(f"a view to {shape} has more than one size that follows the sequence length")
    return O.View(sizes, layout, name=ctx.claim(f"{call.name}_{suffix}"))(x)


def cast(ctx, call, x: ir.Tensor, dtype: str) -> ir.Tensor:
    if x.dtype == dtype:
        return x
    if dtype not in _DTYPES:
        raise UnsupportedError(f"computes in {dtype}, which the IR does not have (float32, int32, int64, bool)")
    return O.Cast(dtype, name=ctx.claim(f"{call.name}_cast"))(x)


def put(ctx, call, op, inputs, *, name: str | None = None, last: bool = True) -> ir.Tensor:
    """Apply op ``op``; when ``last`` (it gives the node's value), check its shape against torch's."""
    out = ctx.add(
        call, op, inputs, name=name or (call.name if last else ctx.claim(f"{call.name}_{_kind(op)}")), check=False
    )
    if last:
        check(ctx, call.node, out)
    return out


def _kind(op) -> str:
    return type(op).__name__.lower()


def check(ctx, node, out: ir.Tensor) -> None:
    """The IR value must be what torch computed: its shape (batch or batchless) and dtype."""
    info, n = ctx.run1.get(node), ctx.n_pos(node)
    if not isinstance(info, Info):
        raise UnsupportedError("its output is not one tensor")
    if n is not None and out.spec.rank == len(info.shape):
        ctx.check_shape(out, node)
    else:
        shape = torch_shape(ctx, node)
        if out.layout[0] != "N" or out.spec.rank != len(shape) + 1 or tuple(out.shape[1:]) != shape:
            raise UnsupportedError(f"the IR infers {out.shape} {out.layout} where torch has {shape}")
    if info.dtype != out.dtype:
        raise UnsupportedError(f"the IR computes {out.dtype} where torch has {info.dtype}")


# -- operands of element-wise ops --------------------------------------------------------------------


def operands(ctx, call, values, nodes, dtype: str | None) -> list:
    """IR tensors for ``values`` (converted arguments of ``nodes``; numbers pass through) named so that
    the IR's broadcasting by letter is torch's by position, each cast to ``dtype`` (None: as is)."""
    out_shape = torch_shape(ctx, call.node)
    r = len(out_shape)
    known = []
    for v, node in zip(values, nodes):
        if v is None or _is_number(v) or _is_held(v):
            known.append(None)
        else:
            x = ctx.tensor(v)
            known.append((x, letters(ctx, node, x)))
    base = next((lt for k in known if k for lt in [k[1]] if len(lt) == r and "N" in lt), None)
    if base is None and any(k and "N" in k[1] for k in known):
        raise UnsupportedError("broadcasts a batch tensor to a higher rank (torch then aligns its batch axis)")
    if base is None:
        base = next((k[1] for k in known if k and len(k[1]) == r), None)
    if base is None:  # held values only beside batchless ones of lower rank: fresh letters
        used = "".join(k[1] for k in known if k)
        base = free_letters("N" + used, r)
    k = base.index("N") if "N" in base else None
    like = next((kn[0] for kn, node in zip(known, nodes) if kn and "N" in kn[1] and regrouped(ctx, node)), None)
    result = []
    for v, node, kn in zip(values, nodes, known):
        if v is None or _is_number(v):
            result.append(v)
            continue
        shape = tuple(v.value.shape) if _is_held(v) else tuple(kn[0].shape) if node is None else torch_shape(ctx, node)
        offset = r - len(shape)
        target = base[offset:]
        if kn is not None and "N" in kn[1]:
            x, lt = kn
            if like is not None and not regrouped(ctx, node):
                x = rebatched(ctx, x, like)
            if lt.index("N") + offset != k:
                raise UnsupportedError("broadcasts the batch axis against another axis")
            if lt != target:
                x = view(ctx, call, x, tuple(s for a, s in zip(x.layout, x.shape) if a != "N"), target, "relabel")
        else:
            if k is not None and offset <= k:
                lead = k - offset + 1
                if any(s != 1 for s in shape[:lead]):
                    raise UnsupportedError(f"a value of shape {shape} computed without the batch broadcasts over it")
                shape, target = shape[lead:], target[lead:]
            if not shape:
                shape, target = (1,), base[-1]
                if target == "N":
                    raise UnsupportedError("cannot align a size-1 value with a last batch axis")
            if _is_held(v):
                x = v.learned(ctx, shape, "N" + target, like)
            else:  # batchless: repeated over the batch of the windows where it meets them
                x = view(
                    ctx, call, kn[0] if like is None else rebatched(ctx, kn[0], like), shape, "N" + target, "relabel"
                )
        result.append(cast(ctx, call, x, dtype) if dtype else x)
    return result


def regrouped(ctx, node) -> bool:
    """Whether ``node``'s batch axis counts other items than the model's first input's (after a ``View`` with
    ``merge`` or ``split``): a value it meets is then repeated over its batch, not the input's."""
    first = next(iter(ctx.gm.graph.find_nodes(op="placeholder")))  # indexed: this runs for every node
    n, m = ctx.n_pos(node), ctx.n_pos(first)
    return None not in (n, m) and ctx.run1[node].shape[n] != ctx.run1[first].shape[m]


def rebatched(ctx, x: ir.Tensor, like: ir.Tensor) -> ir.Tensor:
    """``x``, computed from ``Learned`` values alone (a relative position bias read from its table), computed
    again repeated over the batch of ``like`` (a regrouped batch: windows); its layers called anew, weights
    shared by copy. UnsupportedError where ``x`` depends on the model's inputs."""
    done = {}

    def again(t: ir.Tensor) -> ir.Tensor:
        node = t.node
        if node.name in done:
            return done[node.name]
        if node.is_input:
            raise UnsupportedError("a value of the model's batch meets one whose batch was regrouped (windows)")
        name = ctx.claim(f"{node.name}_windows")
        inputs = [like] if isinstance(node.layer, O.Learned) else [again(i) for i in node.inputs]
        out = node.layer.replace(name=name)(*inputs)
        for key in node.weight_specs():
            ctx.weights[f"{name}/{key}"] = ctx.weights[f"{node.name}/{key}"]
        done[node.name] = out
        ctx.superseded.update((node.name, name))  # whichever of the two ends up unused is dropped
        return out

    return again(x)


def arg_node(call, i: int, key: str):
    """The graph node (or constant) given as argument ``i`` / keyword ``key`` of the call."""
    node = call.node
    return node.args[i] if i < len(node.args) else node.kwargs.get(key)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, bool))


def prefer(layer, op, *, held_to_op: bool = True, meets: bool = True):
    """A converter that tries ``layer`` (an existing converter giving an IR layer) and, where it refuses the
    node, ``op`` (the op tier); what the refused try recorded (weights, held values) is dropped. ``meets=False``:
    an activation, whose one tensor meets no other value, so a regrouped batch (windows) keeps the layer."""

    def convert(ctx, call):
        if held_to_op and any(_is_held(v) for v in torch.utils._pytree.tree_leaves((call.args, call.kwargs))):
            return op(ctx, call)  # a value read in forward: the op names its Learned to fit, no relabelling
        if held_to_op and meets and any(regrouped(ctx, n) for n in call.node.all_input_nodes):
            return op(ctx, call)  # windows meet a value of the model's batch: the op repeats it (rebatched)
        n_weights, n_learned = len(ctx.weights), len(ctx.learned)
        try:
            return layer(ctx, call)
        except (IRError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            for key in list(ctx.weights)[n_weights:]:
                del ctx.weights[key]
            for key in list(ctx.learned)[n_learned:]:
                del ctx.learned[key]
            return op(ctx, call)

    convert.__name__ = f"{getattr(layer, '__name__', 'layer')}_or_{getattr(op, '__name__', 'op')}"
    return convert
