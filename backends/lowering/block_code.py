"""Group a lowered program by block instance, so each block kind is emitted once (``twinnet.block``).

The model is lowered flat as usual (layouts, transposes and weight folds do
not care about blocks); then the lines and definitions each instance's layers
produced are cut out, renamed to local names (``layer1_0_conv1`` ->
``conv1``, inputs -> ``x``/``x0, x1, ...``) and compared between instances of
a kind, integer literals aside (see :mod:`twinnet.backends.lowering.block_literals`): the
literals that differ (channel counts, say) become parameters of the class's
constructor / the builder function, and each instance passes its own values
(``self.conv2_block2 = ConvBlock(256, 64)``). Kinds whose code has the same
shape are merged into one class. A class is named after the stem of its
first kind, without the numbers that end a word (``Conv2Block2`` and
``Conv3Block2`` -> ``ConvBlock``, ``BasicBlock`` and ``BasicBlock3`` ->
``BasicBlock``) when no other class claims it, else after the first kind. A transpose of an instance's input is
left to the caller. If the instances of a kind differ in more than literals
(a transpose shared with code outside the block, a layout change at the
boundary, layer names without the instance prefix) the kind stays inline and
``Program.notes`` says why.

The backends say how a call and a block definition look (``self.<inst>(x)``
for torch, ``<fn>(x, <literals>, name=...)`` for Keras) and name their
constructors' positional arguments; this module imports no framework.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable

from .block_literals import parametrise, skeleton
from .code import BlockDef, BufferDef, Def, Program
from .code_lines import attributes, defined, local_names, rename, used


@dataclass
class BlockCode:
    """One block kind (or several merged) as local code: ``def <kind>(params) -> returns`` with its own definitions.

    ``literals`` are the constructor (torch) / builder (Keras) parameters that
    stand for the integer literals differing between instances; ``args`` gives
    each instance's values for them, and ``stored`` the ones torch's
    ``forward`` reads (kept as attributes).
    """

    kind: str
    params: list[str]
    defs: list[Def]
    body: list[str]
    returns: list[str]
    instances: list[str] = field(default_factory=list)
    name: str = ""  # the emitted class (torch) or function (Keras) name
    kinds: list[str] = field(default_factory=list)
    literals: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    args: dict[str, list[str]] = field(default_factory=dict)

    def instance_list(self, most: int = 8) -> str:
        """The instances for a docstring: all of them, or with more than ``most``, the first and last few."""
        names = self.instances
        if len(names) <= most:
            return ", ".join(names)
        return f"{', '.join(names[:3])}, ..., {', '.join(names[-2:])} ({len(names)} in all)"

    def shape(self) -> tuple:
        """What must match for two codes to be one class: all but the integer literals."""
        return (
            tuple(self.params),
            tuple(_with_text(d, skeleton(_text(d))) for d in self.defs),
            tuple(map(skeleton, self.body)),
            tuple(self.returns),
        )


@dataclass
class _Cut:
    instance: str
    lines: list[int]
    defs: list[int]
    params: list[str]  # outer variables the block reads
    returns: list[str]  # outer variables the block defines and others read
    local: dict[str, str]  # outer variable -> local variable
    attrs: dict[str, str]  # outer definition (module attribute) -> local one
    code: BlockCode | None = None


class _Index:
    """What each body line defines and reads, computed once (models can have many blocks)."""

    def __init__(self, program: Program):
        self.defines = [defined(line) for line in program.body]
        self.uses = [used(line) for line in program.body]
        self.variables = {var for var, _, _ in program.inputs} | {v for d in self.defines for v in d}
        self.readers: dict[str, set[int]] = {}
        self.attr_users: dict[str, set[int]] = {}
        for i, line in enumerate(program.body):
            for name in self.uses[i]:
                self.readers.setdefault(name, set()).add(i)
            for name in attributes(line):
                self.attr_users.setdefault(name, set()).add(i)
        self.parsed = {line: (set(d), u) for line, d, u in zip(program.body, self.defines, self.uses)}

    def parse(self, line: str) -> tuple[set[str], set[str]]:
        if line not in self.parsed:  # a block call made by _splice
            self.parsed[line] = (set(defined(line)), used(line))
        return self.parsed[line]


def group(
    program: Program,
    model,
    *,
    call: Callable[[str, str, list[str], list[str], list[str]], str],
    name_of: Callable[[str, set[str]], str],
    attr: Callable[[str], str] = str,
    keras_names: bool = False,
    reserved: frozenset[str] = frozenset(),
    arg_names: dict[str, tuple[str, ...]] | None = None,
    body_ref: Callable[[str], str] = str,
) -> Program:
    """``program`` with each block kind cut out once (see the module docstring); the input is not changed.

    Args:
        call: ``(emitted name, instance, args, outs, literals) -> line`` making one top-level call
            (``literals``: the instance's values for the block's literal parameters).
        name_of: ``(kind, names in use) -> emitted name`` of a block's class or function.
        attr: the top-level attribute (torch) that holds an instance.
        reserved: names local variables and attributes must not take (the backend's own).
        keras_names: layer names are string literals in the code (Keras): a
            literal ``'<instance>_x'`` becomes ``f"{name}_x"``; definitions and
            weights stay keyed by layer name.
        arg_names: constructor (``nn.Conv2d``) -> its positional arguments' names, to name literal parameters.
        body_ref: how a body line reads a literal parameter (torch: ``self.<param>``).
    """
    owner = {n.name: n.block for n in model.layers if n.block is not None}
    if not owner:
        return program
    index = _Index(program)
    lines: dict[tuple[str, str], list[int]] = {mark: [] for mark in dict.fromkeys(owner.values())}
    defs: dict[tuple[str, str], list[int]] = {mark: [] for mark in lines}
    for i, origin in enumerate(program.body_origin):
        if origin in owner:
            lines[owner[origin]].append(i)
    for mark, mine in lines.items():
        inside = {v for i in mine for v in index.defines[i]}
        # a transpose of the block's input (the model input, say) is the caller's business: it stays outside
        lines[mark] = [i for i in mine if not (i in program.layout_lines and not index.uses[i] & inside)]
    for i, origin in enumerate(program.def_origin):
        if origin in owner and not keras_names:
            defs[owner[origin]].append(i)
    kinds: dict[str, list[_Cut]] = {}
    for (kind, instance), mine in lines.items():
        kinds.setdefault(kind, []).append(_cut(program, index, instance, mine, defs[kind, instance], reserved))
    out = replace(
        program,
        body=list(program.body),
        defs=list(program.defs),
        weights=dict(program.weights),
        blocks=[],
        notes=list(program.notes),
    )
    shapes: dict[tuple, list[tuple[str, list[_Cut]]]] = {}  # kinds whose code matches but for literals
    for kind, cuts in kinds.items():
        problem = _build(kind, cuts, program, index, keras_names)
        if problem:
            out.notes.append(f"block {kind} emitted inline: {problem}")
        else:
            shapes.setdefault(cuts[0].code.shape(), []).append((kind, cuts))
    holders: dict[str, str] = {}  # submodule -> the instance (attribute) holding it
    ctors: dict[str, BlockDef] = {}  # instance -> its definition
    groups = [[cut for _, kind_cuts in members for cut in kind_cuts] for members in shapes.values()]
    merged = [
        _merge([kind for kind, _ in members], cuts, reserved, arg_names or {}, body_ref)
        for members, cuts in zip(shapes.values(), groups)
    ]
    for code, cuts, wanted in zip(merged, groups, _class_names(merged)):
        code.name = name_of(wanted, index.variables | {b.name for b in out.blocks})
        saved = (list(out.body), list(out.defs), dict(out.weights), dict(holders), dict(ctors))
        for cut in cuts:
            literals = code.args[cut.instance]
            problem = _splice(
                out,
                index,
                program,
                cut,
                call(code.name, cut.instance, cut.params, cut.returns, literals),
                attr(cut.instance),
                f"{code.name}({', '.join(literals)})",
                keras_names,
                holders,
                ctors,
                cuts[0],
            )
            if problem:  # e.g. a transpose cached outside the block and reused inside it: undo these kinds
                out.body, out.defs, out.weights, old_holders, old_ctors = saved
                holders.clear()
                holders.update(old_holders)
                ctors.clear()
                ctors.update(old_ctors)
                out.notes.append(
                    f"block {', '.join(code.kinds)} emitted inline: in instance {cut.instance!r} {problem}"
                )
                break
        else:
            out.blocks.append(code)
    out.defs = _fold_defs(out.defs, holders, ctors)
    return out


def _class_names(codes: list[BlockCode]) -> list[str]:
    """The name each class wants: the stem of its first kind, which names it after no stage or variant
    (``Conv2Block2`` + ``Conv3Block2`` -> ``ConvBlock``, DenseNet's ``Conv2Block1`` serving every stage ->
    ``ConvBlock``, ``BasicBlock`` + ``BasicBlock3`` -> ``BasicBlock``). Where several classes want one stem,
    the one with the most instances gets it (ResNet50's ``ConvBlock``; its stage-opening blocks keep
    ``Conv3Block1``); a class whose stem another class has as a kind keeps its first kind
    (``InvertedResidual2`` next to ``InvertedResidual``). Both frameworks name alike, whether or not their
    code takes literal parameters."""
    kinds = {kind for code in codes for kind in code.kinds}
    stems = [_stem(code.kinds[0]) for code in codes]
    owner: dict[str, BlockCode] = {}
    for code, stem in zip(codes, stems):
        if stem in kinds - set(code.kinds):
            continue
        if stem not in owner or len(code.instances) > len(owner[stem].instances):
            owner[stem] = code
    return [stem if owner.get(stem) is code else code.kinds[0] for code, stem in zip(codes, stems)]


def _stem(kind: str) -> str:
    """``kind`` without the numbers that close a word (``Conv2Block2`` -> ``ConvBlock``, ``BasicBlock3`` ->
    ``BasicBlock``); others stay (``Conv3x3``, ``MLP2D``, ``Block4a``)."""
    stem = re.sub(r"([A-Z][a-z]+)[0-9]+(?=[A-Z]|$)", r"\1", kind)
    return stem if stem.isidentifier() else kind


def _merge(
    kinds: list[str],
    cuts: list[_Cut],
    reserved: frozenset[str],
    arg_names: dict[str, tuple[str, ...]],
    body_ref: Callable[[str], str],
) -> BlockCode:
    """One BlockCode for ``cuts`` (same shape of code): the literals that differ become parameters."""
    first = cuts[0].code
    owners = [d.name for d in first.defs] + [(defined(line) or ["value"])[0] for line in first.body]
    taken = (
        set(reserved)
        | {"self", "name"}
        | set(first.params)
        | set(cuts[0].local.values())
        | {d.name for d in first.defs}
    )
    refs = [str] * len(first.defs) + [body_ref] * len(first.body)
    p = parametrise([[_text(d) for d in cut.code.defs] + cut.code.body for cut in cuts], owners, taken, arg_names, refs)
    n = len(first.defs)
    stored = {q for used in p.in_texts[n:] for q in used}
    return BlockCode(
        kinds[0],
        first.params,
        [_with_text(d, t) for d, t in zip(first.defs, p.texts[:n])],
        p.texts[n:],
        first.returns,
        [cut.instance for cut in cuts],
        kinds=kinds,
        literals=p.params,
        stored=[q for q in p.params if q in stored],
        args={cut.instance: values for cut, values in zip(cuts, p.values)},
    )


def _cut(
    program: Program, index: _Index, instance: str, lines: list[int], defs: list[int], backend_names: frozenset[str]
) -> _Cut:
    inside = [v for i in lines for v in index.defines[i]]
    params: list[str] = []
    for i in lines:
        for name in sorted(index.uses[i], key=program.body[i].find):
            if name not in inside and name not in params and name in index.variables:
                params.append(name)
    mine = set(lines)
    outputs = set(program.outputs)
    returns = [v for v in inside if v in outputs or index.readers.get(v, set()) - mine]
    local = {p: ("x" if len(params) == 1 else f"x{k}") for k, p in enumerate(params)}
    reserved = {"self", "name", "nn", "torch", "F", "layers", "keras"} | backend_names
    local.update(local_names(inside, instance + "_", reserved | set(local.values())))
    attrs = local_names([program.defs[i].name for i in defs], instance + "_", set(reserved))
    return _Cut(instance, lines, defs, params, returns, local, attrs)


def _build(kind: str, cuts: list[_Cut], program: Program, index: _Index, keras_names: bool) -> str | None:
    """Make each cut's local code with the first instance's local names; None if all agree but for integer
    literals, else why not."""
    first = cuts[0]
    for cut in cuts:
        if (len(first.local), len(first.attrs), len(first.params)) != (len(cut.local), len(cut.attrs), len(cut.params)):
            return f"instances {first.instance!r} and {cut.instance!r} lower to a different number of statements"
        local = dict(zip(cut.local, first.local.values()))
        attrs = dict(zip(cut.attrs, first.attrs.values()))
        mine = set(cut.lines)
        if any(index.attr_users.get(a, set()) - mine for a in attrs):
            return f"instance {cut.instance!r} shares a module with code outside it"
        if not keras_names and any(attributes(program.body[i]) - set(attrs) for i in cut.lines):
            return f"instance {cut.instance!r} uses a module defined outside it"

        def strings(literal, prefix=cut.instance + "_"):
            if keras_names and literal[1:].startswith(prefix):
                return 'f"{name}_' + literal[1 + len(prefix) : -1] + '"'
            return literal

        body = [rename(program.body[i], local, attrs, strings) for i in cut.lines]
        if keras_names and any(f"name='{cut.instance}_" not in program.body[i] for i in cut.lines):
            return f"in instance {cut.instance!r} a layer name does not start with {cut.instance + '_'!r}"
        defs = [replace(program.defs[i], name=attrs[program.defs[i].name]) for i in cut.defs]
        cut.code = BlockCode(kind, [local[p] for p in cut.params], defs, body, [local[r] for r in cut.returns])
        if cut is not first and cut.code.shape() != first.code.shape():
            diff = next((f"{a!r} vs {b!r}" for a, b in zip(first.code.body, body) if skeleton(a) != skeleton(b)), "")
            return (
                f"instances {first.instance!r} and {cut.instance!r} lower to different code "
                f"({diff or 'their inputs, outputs or modules differ'}), not only in integer literals: "
                "e.g. a layout change at the boundary"
            )
    return None


def _splice(
    out: Program,
    index: _Index,
    program: Program,
    cut: _Cut,
    call_line: str,
    holder: str,
    ctor: str,
    keras: bool,
    holders: dict[str, str],
    ctors: dict[str, BlockDef],
    first: _Cut,
) -> str | None:
    """Replace the instance's lines by one call (moving lines that read its results after it) and its defs
    (torch: by ``self.<holder> = <ctor>``). The class is written from ``first``, so each submodule of the
    instance is keyed by the local name ``first``'s one at its position has: an instance's own local names
    can differ, where a name lacks the instance's prefix (a learned tensor named ``exp_1`` beside ``exp``)."""
    texts = set(program.body[i] for i in cut.lines)
    where = [out.body.index(line) for line in texts]  # list.index: fast even with many blocks
    if not where:  # every layer of the instance lowered to no line (relabelling transposes only)
        return "has no lines of its own"
    start, last = min(where), max(where)
    body: list[str] = out.body[:start]
    deferred: list[str] = []
    tainted: set[str] = set()
    moved: set[str] = set()  # variables of the deferred lines
    for i in range(start, last + 1):  # only the lines from the block's first to its last can move
        line = out.body[i]
        defines, uses = index.parse(line)
        if line in texts:
            if uses & moved:
                return "a line of the block reads a result computed outside it from the block"
            tainted |= defines
            if i == last:
                body += [call_line] + deferred
            continue
        if uses & tainted:
            deferred.append(line)
            tainted |= defines
            moved |= defines
        else:
            body.append(line)
    out.body = body + out.body[last + 1 :]
    if keras:  # Keras layers stay keyed by their (global) names
        return None
    for name, local in zip(cut.attrs, first.attrs.values()):
        holders[name] = holder
        if name in out.weights:
            out.weights[f"{holder}.{local}"] = out.weights.pop(name)
    ctors[holder] = BlockDef(holder, ctor)
    if not cut.attrs:  # a block of functional code only still needs its (empty) module
        out.defs.append(ctors[holder])
    return None


def _fold_defs(defs: list[Def], holders: dict[str, str], ctors: dict[str, BlockDef]) -> list[Def]:
    """Top-level definitions with each instance's submodules replaced by the instance, where its first one was."""
    out, placed = [], set()
    for d in defs:
        holder = holders.get(d.name)
        if holder is None:
            out.append(d)
        elif holder not in placed:
            placed.add(holder)
            out.append(ctors[holder])
    return out


def _text(d: Def) -> str:
    """The source text of a definition whose integer literals may become a block's parameters."""
    return d.shape if isinstance(d, BufferDef) else d.constructor


def _with_text(d: Def, text: str) -> Def:
    return replace(d, shape=text) if isinstance(d, BufferDef) else replace(d, constructor=text)
