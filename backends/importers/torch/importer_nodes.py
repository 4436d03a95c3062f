"""The graph's nodes converted one by one: inputs, the table entry of each call, constants, outputs.

A mixin of the torch importer (``importer.py``), which holds the state these
methods read and write (``values``, ``problems``, the recorded runs).
"""

from __future__ import annotations

import contextlib
import operator

import torch
import torch.fx

from .... import ir
from ....ir.errors import IRError
from .arith import constant_of
from .aten_values import fold, held_value
from .attention import ATTENTION_MODULES, CAUSAL, is_causal_constant
from .attention_hand import hand_attention
from .capture import Call, block_mark, raw_name, zero_test_of_float_input
from .constants import learned_value
from .hf_modules import hf_module
from .own_modules import own_module
from .tables import METHOD_TABLE

# a bool input (an attention key-padding mask, True = pad) becomes the IR's float32 mask, 1 = attend (= ~pad)
ATTENTION_TYPES = tuple(ATTENTION_MODULES)
DTYPES = {"float32": "float32", "int32": "int32", "int64": "int64", "bool": "float32"}


class NodeConversion:
    """``convert_input``, ``lookup``, ``convert`` and ``convert_output`` of the torch importer."""

    # -- conversion ----------------------------------------------------------------------
    def convert_input(self, i: int, node, x: torch.Tensor, layout: str):
        dtype = str(x.dtype).replace("torch.", "")
        self.values[node] = None
        n = layout.index("N")
        full = tuple(None if (i, a) in self.lengths else s for a, s in enumerate(x.shape))
        shape = full[:n] + full[n + 1 :]
        if dtype not in DTYPES:
            self.refuse(node.name, "input", f"dtype {dtype} is not supported (float32, int32, int64 or bool)")
            if x.is_floating_point():  # keep checking the layers behind it on a float32 stand-in
                self.values[node] = ir.Input(shape, layout=layout)
            return None
        if dtype == "bool":
            self.bool_inputs.add(node)
        try:
            out = ir.Input(shape, layout=layout, dtype=DTYPES[dtype], name=self.claim(node.name))
            if self.probe is not None:
                self.probe.bind(out, node)
        except IRError as e:
            self.refuse(node.name, "input", e.bare_message)
            out = None
        self.values[node] = out
        return out

    def lookup(self, node):
        """(converter, where, what) for a node; converter None when the tables have no entry."""
        if node.op == "call_module":
            m = self.gm.get_submodule(node.target)
            cls = type(m)
            what = (
                f"{cls.__module__.split('.modules')[0]}.{cls.__name__}"
                if cls.__module__.startswith("torch.nn")
                else f"{cls.__module__}.{cls.__qualname__}"
            )
            if node.target in self.hand:
                return hand_attention, node.target, what
            found = self.tables[0].get(cls) or hf_module(cls) or own_module(m)  # HF's Conv1D, twinnet's helpers
            return found, node.target, what
        if node.op == "call_function":
            fn = node.target
            if isinstance(fn, torch._ops.OpOverload):  # an ATen op of torch.export's graph (aten.py)
                return self.tables[1].get(fn), node.name, str(fn)
            module_name = (getattr(fn, "__module__", None) or "torch").lstrip("_")
            what = f"{module_name}.{getattr(fn, '__name__', repr(fn))}"
            return self.tables[1].get(fn), node.name, what
        if node.op == "call_method":
            method = getattr(torch.Tensor, node.target, None)
            return METHOD_TABLE.get(method) if method is not None else None, node.name, f"Tensor.{node.target}"
        return None, node.name, f"{node.op} {node.target}"

    def convert(self, node) -> None:
        fn, where, what = self.lookup(node)
        self.values[node] = None
        if node.op == "get_attr":
            held = operator.attrgetter(node.target)(self.gm)
            if is_causal_constant(held):
                self.values[node] = CAUSAL  # read by attention as use_causal_mask=True
                return
            if constant_of(held) is not None:  # a one-number buffer or traced constant: x * c (arith.py)
                self.values[node] = constant_of(held)
                return
            try:  # a class token, a positional embedding (constants.py)
                self.values[node] = learned_value(self, node, held)
            except IRError:  # any other tensor: kept as is until an op needs it (aten_values.py)
                self.values[node] = held_value(node, held)
            return
        mask = zero_test_of_float_input(self.gm, node)
        held = self.values.get(mask) if mask is not None else None
        if held is not None and held.dtype == "float32" and sorted(held.layout) == ["N", "T"]:
            self.values[node] = held  # to_torch's ``mask == 0``: the IR's mask itself (attention.py)
            self.bool_inputs.add(node)
            return
        if node.op in ("call_function", "call_module") and self.capture.method == "torch.export":
            try:  # an ATen op on values computed without the inputs: run once here (aten_values.py)
                folded = fold(self, node)
            except (RuntimeError, TypeError, ValueError, IndexError):
                folded = None  # converted as any other node (and refused there if need be)
            if folded is not None:
                self.values[node] = folded
                return
        if fn is None:
            kind = "module" if node.op == "call_module" else "operation"
            self.refuse(where, what, f"the IR has no equivalent of this {kind}")
            self.values[node] = self.stand_in(node)
            return
        args = torch.fx.node.map_arg(node.args, lambda n: self.values.get(n))
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: self.values.get(n))
        module = self.gm.get_submodule(node.target) if node.op == "call_module" else None
        if module is not None and self.times[node.target] > 1 and any(True for _ in module.parameters()):
            self.refuse(
                where, what, f"is called {self.times[node.target]} times (shared weights), which the IR cannot express"
            )
        elif any(n in self.bool_inputs for n in node.all_input_nodes) and not isinstance(module, ATTENTION_TYPES):
            self.refuse(
                where,
                what,
                "reads a bool input, which the import holds as an attention mask (1 = attend, "
                "the opposite of True = pad); bool inputs are supported only as key-padding masks",
            )
        elif any(self.values.get(n) is None for n in node.all_input_nodes):
            pass  # behind a refused node: already reported there
        else:
            mark = block_mark(node)
            call = Call(node, self.claim(raw_name(node, where, mark)), args, kwargs, self.run1.get(node), module)
            try:
                with ir.block(*mark[:2]) if mark else contextlib.nullcontext():
                    self.values[node] = fn(self, call)
                return
            except IRError as e:
                self.refuse(where, what, e.bare_message)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:  # an unexpected form
                self.refuse(where, what, f"could not be read ({type(e).__name__}: {e})")
        self.values[node] = self.stand_in(node)

    def convert_output(self, node):
        outs = node.args[0]
        if isinstance(outs, dict):
            self.refuse("output", "dict", "a forward returning a dict is not supported; return a tensor or a tuple")
            return None
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        result = []
        for out in outs:
            value = self.values.get(out) if isinstance(out, torch.fx.Node) else out
            if value is None and self.problems:
                continue  # behind a refused node: already reported
            try:
                result.append(self.tensor(value))
            except IRError as e:
                self.refuse(getattr(out, "name", "output"), "output", e.bare_message)
        return result
