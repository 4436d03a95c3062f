"""Lower an IR model to PyTorch source and a live ``nn.Module``.

torch runs channels-first: a tensor with spatial axes is held ``N, C, ...``;
sequences stay as declared (``NTC`` -> ``batch_first=True``, ``TNC`` -> the
default sequence-first recurrent layers). Inputs and outputs keep the declared
layout (one transpose at the boundary where that is not how torch holds them)
unless ``native_io=True``.
"""

from __future__ import annotations

import linecache
import re
import textwrap
import warnings

import numpy as np

from ...ir.graph import Model
from ...ir.pages import release_pages
from ..lowering.code import BufferDef, Program, Value, identifier, quoted
from ..lowering.driver import ChannelsFirstLowering
from ..lowering.source_style import tidy
from . import helpers
from .batchless import expanded
from .reuse import names_in, reuse_names


class TorchLowering(ChannelsFirstLowering):
    backend = "torch"
    # nn.Module attributes a submodule must not shadow, and the names the generated file imports.
    reserved = frozenset(
        {
            "forward",
            "training",
            "parameters",
            "buffers",
            "modules",
            "children",
            "state_dict",
            "eval",
            "train",
            "to",
            "cuda",
            "cpu",
            "type",
            "float",
            "double",
            "half",
            "apply",
            "zero_grad",
            "register_buffer",
            "self",
            "torch",
            "nn",
            "F",
            "super",
            "input",
            "load_weights",
            "dump_patches",
            "call_super_init",
            "T_destination",
        }
    )

    def transpose_expr(self, value, perm, target):
        return f"{value.var}.permute{perm}"

    def reshape_expr(self, value, shape, target):
        return f"{value.var}.reshape({value.var}.shape[0], {', '.join(map(str, shape))})"

    def present(self, value: Value) -> Value:
        return super().present(expanded(self, value))  # a bare weight read as a layer's output (localising)

    def gather(self, value: Value) -> Value:
        buf = self.buffer(f"{value.var}_order", np.argsort(value.feat).astype(np.int64))
        axis = value.pos("C")
        index = ", ".join([":"] * axis + [f"self.{buf}"])
        return self.let(f"{value.var}_ordered", f"{value.var}[{index}]", value.spec, value.phys)

    def buffer(self, base: str, array: np.ndarray) -> str:
        name = self.fresh(base, self._def_names)
        self.program.defs.append(BufferDef(name, array.dtype.name, repr(tuple(array.shape))))
        self.program.weights[name] = array
        return name

    def module(self, base: str, constructor: str, params: dict[str, np.ndarray] | None = None) -> str:
        """Define ``self.<name> = <constructor>``; returns ``self.<name>``."""
        return "self." + self.define(base, constructor, params or {})


def class_name(model_name: str) -> str:
    """The emitted ``nn.Module`` class for a model: CamelCase that keeps word and number boundaries.

    Each run of letters and digits starts with a capital; an underscore stays only between two numbers, so that
    they do not merge.

    >>> class_name("mnist_convnet"), class_name("mobilenetv2_1.00_96"), class_name("resnet50")
    ('MnistConvnet', 'Mobilenetv2_1_00_96', 'Resnet50')
    """
    name = ""
    for part in re.findall(r"[A-Za-z0-9]+", model_name):
        joint = "_" if name[-1:].isdigit() and part[0].isdigit() else ""
        name += joint + part[0].upper() + part[1:]
    name = name or "Model"
    name = name if name[0].isalpha() else "M" + name
    # The generated file imports F, nn, torch, json, struct and may inline helper classes.
    if name in {"F", "Nn", "Torch", "Json", "Struct"} | set(helpers.HELPERS):
        name += "Model"
    return name


def block_class_name(kind: str, model_name: str) -> str:
    """The class emitted for block ``kind``: the kind itself unless the file already uses that name."""
    taken = {class_name(model_name), "F", "nn", "torch", "json", "struct", "load_weights"} | set(helpers.HELPERS)
    return kind if kind not in taken else kind + "Block"


#: constructor -> its positional arguments, to name a block's literal parameters (``conv_1_in_channels``).
ARG_NAMES = {
    **{
        f"nn.{conv}{d}d": ("in_channels", "out_channels", "kernel_size")
        for conv in ("Conv", "ConvTranspose")
        for d in (1, 2, 3)
    },
    **{f"ChannelDense{d}d": ("in_channels", "out_channels", "kernel_size") for d in (1, 2, 3)},  # (helpers.py)
    **{f"nn.{norm}{d}d": ("num_features",) for norm in ("BatchNorm", "InstanceNorm") for d in (1, 2, 3)},
    **{f"nn.{pool}Pool{d}d": ("kernel_size",) for pool in ("Max", "Avg") for d in (1, 2, 3)},
    **{
        f"nn.{pad}Pad{d}d": ("padding",) for pad in ("Zero", "Constant", "Reflection", "Replication") for d in (1, 2, 3)
    },
    "nn.Linear": ("in_features", "out_features"),
    "nn.LayerNorm": ("normalized_shape",),
    "nn.GroupNorm": ("num_groups", "num_channels"),
    "nn.Embedding": ("num_embeddings", "embedding_dim"),
    "nn.LSTM": ("input_size", "hidden_size"),
    "nn.GRU": ("input_size", "hidden_size"),
    "nn.RNN": ("input_size", "hidden_size"),
    "nn.MultiheadAttention": ("embed_dim", "num_heads"),
    "nn.PReLU": ("num_parameters",),
}


def block_call(cls: str, instance: str, args: list[str], outs: list[str], literals: list[str]) -> str:
    """``outs = self.<instance>(args)``; the literals go to the constructor (``_init``), not the call."""
    return f"{', '.join(outs)} = self.{identifier(instance, TorchLowering.reserved)}({', '.join(args)})"


def _init(defs, indent: str) -> list[str]:
    """``__init__`` lines: submodules, buffers (filled by load_state_dict) and block instances."""
    lines = [f"{indent}super().__init__()"]
    for d in defs:
        if isinstance(d, BufferDef):
            dtype = "torch.long" if d.dtype == "int64" else "torch.float32"  # float buffers load as float32
            lines.append(f"{indent}self.register_buffer({quoted(d.name)}, torch.zeros({d.shape}, dtype={dtype}))")
        else:  # a LayerDef (submodule) or BlockDef (block instance)
            lines.append(f"{indent}self.{d.name} = {d.constructor}")
    return lines


def _wrapped(text: str, indent: str) -> list[str]:
    """``text`` (a docstring listing many instances) as lines of at most 116 characters."""
    return textwrap.wrap(text, 116, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)


def render_block(code) -> list[str]:
    """One block kind (or several merged) as an ``nn.Module`` subclass; differing literals are ``__init__``'s."""
    lines = [
        f"class {code.name}(nn.Module):",
        *_wrapped(f'"""Block {", ".join(code.kinds or [code.kind])}; instances: {code.instance_list()}."""', "    "),
        "",
        f"    def __init__({', '.join(['self', *code.literals])}):",
    ]
    lines += _init(code.defs, " " * 8)
    lines += [f"        self.{name} = {name}" for name in code.stored]  # read by forward
    lines += ["", f"    def forward(self, {', '.join(code.params)}):"]
    lines += [f"        {line}" for line in reuse_names(code.body, code.params, names_in(code.returns))]
    lines += [f"        return {', '.join(code.returns)}"]
    return lines


def render(program: Program, model: Model) -> str:
    """The program as a Python module defining one ``nn.Module`` subclass."""
    cls = class_name(program.name)
    ins = ", ".join(var for var, _, _ in program.inputs)
    doc_in = "\n".join(f"        {var}: {spec} ({phys} as passed)" for var, spec, phys in program.inputs)
    doc_out = "\n".join(
        f"        {o}: {t.spec} ({lay} as returned)"
        for o, t, lay in zip(program.outputs, model.outputs, program.output_layouts)
    )
    lines = []
    for helper in sorted(program.helpers):
        lines += ["", helpers.source(helper), ""]
    for code in program.blocks:
        lines += ["", *render_block(code), ""]
    notes = [f"    # {note}" for note in program.notes]
    lines += [
        "",
        f"class {cls}(nn.Module):",
        f'    """Inputs (batch axis N is any size):\n{doc_in}\n    Outputs:\n{doc_out}\n    """',
        *notes,
        "",
        "    def __init__(self):",
    ]
    lines += _init(program.defs, " " * 8)
    lines += ["", f"    def forward(self, {ins}):"]
    params = [var for var, _, _ in program.inputs]
    lines += [f"        {line}" for line in reuse_names(program.body, params, names_in(program.outputs))]
    outs = ", ".join(program.outputs)
    lines += [f"        return {outs}", ""]
    lines += [
        "",
        helpers.LOADER,
        "",
        "",
        'if __name__ == "__main__":',
        f"    model = load_weights({cls}(), __file__.rsplit('.', 1)[0] + '.safetensors').eval()",
        "    print(model)",
        "",
    ]
    code = "\n".join(lines)
    # torch.nn.functional only where the code calls it; imports sorted as ruff's isort sorts them
    functional = ["import torch.nn.functional as F"] if re.search(r"(?<![\w.])F\.", code) else []
    head = [
        f'"""{program.name}: PyTorch module generated by twinnet from an IR model."""',
        "",
        "import json",
        "import struct",
        "",
        "import torch",
        *functional,
        "from torch import nn",
        "",
        "",
    ]
    return tidy("\n".join(head) + code)


def state_dict(program: Program) -> dict[str, np.ndarray]:
    """The program's weights by state-dict key, as the lowering made them: views where it transposed or
    reshaped (each writer makes one tensor contiguous at a time, never all of them at once)."""
    out = {}
    for name, value in program.weights.items():
        if isinstance(value, dict):
            for key, array in value.items():
                out[f"{name}.{key}"] = array
        else:
            out[name] = value
    return out


def instantiate(source: str, program: Program):
    import torch

    filename = f"<twinnet-torch:{program.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"__name__": f"twinnet_generated_{program.name}"}
    exec(compile(source, filename, "exec"), namespace)  # our own generated code, from validated identifiers
    with torch.device("meta"):  # no memory and no random initial values: every tensor is filled below
        module = namespace[class_name(program.name)]()
    module = module.to_empty(device="cpu")
    fill(module, state_dict(program))
    return module.eval()


def fill(module, weights: dict[str, np.ndarray]) -> None:
    """Copy ``weights`` into the module's parameters and buffers one tensor at a time (what
    ``load_state_dict(strict=True)`` checks, without building a second state dict): a read-only array, such
    as a view of a memory-mapped file, is only read, and a transposed view is made contiguous on its own."""
    import torch

    targets = module.state_dict(keep_vars=True)
    unfilled = [name for name, _ in module.named_buffers() if name not in targets]  # non-persistent buffers
    missing = [k for k in targets if k not in weights]
    unexpected = [k for k in weights if k not in targets]
    if missing or unexpected or unfilled:
        raise RuntimeError(
            f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}, unfilled {unfilled[:5]}"
        )
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for key, array in weights.items():
            target = targets[key]
            if tuple(target.shape) != tuple(array.shape):
                raise RuntimeError(
                    f"{key}: shape {tuple(array.shape)} in the program, {tuple(target.shape)} in the module"
                )
            # (np.ascontiguousarray would make a 0-d array 1-d)
            target.copy_(torch.from_numpy(array if array.flags.c_contiguous else array.copy(order="C")))
            release_pages([array])  # copied: a memory-mapped IR weight's pages need not stay resident
