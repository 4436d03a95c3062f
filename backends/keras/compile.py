"""Lower an IR model to Keras 3 source and a live ``keras.Model``.

Keras is channels-last and batch-first, always: a tensor is held ``N``, then
its other axes in declared order, then ``C``. The batch axis never moves
(``layers.Permute`` cannot move it), so inputs arrive and outputs leave in the
declared layout with ``N`` moved to the front (``TNC`` -> ``NTC``), or in
Keras's own layout with ``native_io=True``.

Generated code uses only standard ``keras.layers`` and, for the ops of
``ir/ops/``, ``keras.ops`` calls on the functional graph (never ``Lambda``),
and names every layer, so the model saves as ``.keras`` and reloads with
``safe_mode`` and without custom objects, and weights are set by layer name.
"""

from __future__ import annotations

import linecache
import re
import textwrap

import numpy as np

from ...ir.errors import UnsupportedError, WeightError
from ...ir.graph import Model
from ...ir.ops.base import Op
from ...ir.pages import release_pages
from ...ir.precision import round_to
from ..lowering.code import LayerDef, Program, Value, identifier
from ..lowering.driver import Lowering
from ..lowering.source_style import tidy


def batch_first(layout: str) -> str:
    """``layout`` with the batch axis moved to the front."""
    return "N" + layout.replace("N", "")


def channels_last(layout: str) -> str:
    """``layout`` as Keras holds it natively: the batch axis first, the other axes in order, ``C`` last."""
    rest = "".join(a for a in layout if a not in "NC")
    return "N" + rest + ("C" if "C" in layout else "")


class KerasLowering(Lowering):
    """Compile-time context for the Keras backend (see the module docstring)."""

    backend = "keras"
    reserved = frozenset({"keras", "layers", "model"})
    _op_names: frozenset | None = None  # keras.ops function names, where the model has ops (clear_of_ops)

    def native(self, spec):
        return channels_last(spec.layout)

    def input_layout(self, spec):
        return batch_first(spec.layout)

    output_layout = input_layout

    def transpose_expr(self, value, perm, target):
        assert perm[0] == 0, f"Keras cannot move the batch axis ({value.phys} -> {target})"
        name = self.fresh(f"{value.var}_{target.lower()}", self._def_names)
        return f"layers.Permute({tuple(perm[1:])!r}, name={name!r})({value.var})"

    def reshape_expr(self, value, shape, target):
        name = self.fresh(f"{value.var}_{target.lower()}", self._def_names)
        return f"layers.Reshape({shape!r}, name={name!r})({value.var})"

    def gather(self, value: Value) -> Value:
        # Keras flattens in declared order (see core.lower_flatten), so no value carries a feature order.
        raise UnsupportedError("the Keras backend never permutes features; a Value.feat reached it")

    def lower_input(self, node):
        # Input layers share Keras's layer namespace: reserve the name there too.
        var = identifier(node.name, self.reserved)
        while var in self._names or var in self._def_names:
            var += "_"
        self._names.add(var)
        self._def_names.add(var)
        self._input_vars.add(var)
        phys = self.native(node.spec) if self.native_io else self.input_layout(node.spec)
        self.program.inputs.append((var, node.spec, phys))
        return Value(var, node.spec, phys)

    def clear_of_ops(self, base: str) -> str:
        """``base``, or ``base_layer`` where it could be the name Keras gives a ``keras.ops`` call.

        Keras names each ``keras.ops`` call of a functional graph after the
        function (``add``, ``add_1``, ...) and refuses two operations of one
        name; in a model with ops, a layer named like that (an imported
        ``add_1``) would collide with them.
        """
        if self._op_names is None:
            import keras  # noqa: PLC0415 (keras loads with the compile, not with this module)

            has_ops = any(isinstance(node.layer, Op) for node in self.model.layers)
            self._op_names = frozenset(n for n in dir(keras.ops) if not n.startswith("_")) if has_ops else frozenset()
        stem = re.fullmatch(r"(.+?)(_[0-9]+)?", base).group(1)
        return f"{base}_layer" if stem in self._op_names else base

    def layer(self, base: str, ctor: str, inputs: str, spec, phys: str, weights: list | None = None) -> Value:
        """Emit ``var = <ctor with name=...>(inputs)``; record the layer's weights in ``get_weights()`` order.

        ``ctor`` is a constructor call without ``name``, e.g. ``layers.Dense(4)``.
        """
        name = self.fresh(self.clear_of_ops(base), self._def_names)
        named = ctor[:-1] + ("" if ctor.endswith("()") else ", ") + f"name={name!r})"
        self.program.defs.append(LayerDef(name, named))
        if weights:
            self.program.weights[name] = [np.asarray(w, dtype=np.float32) for w in weights]
        return self.let(base, f"{named}({inputs})", spec, phys)


def function_name(program: Program) -> str:
    return "build_" + program.name


def block_function_name(kind: str, used: set[str], model: Model) -> str:
    """``BasicBlock`` -> ``basic_block``, unless a variable of the builder (which would shadow it) has that name."""
    from ...ir.graph import _snake

    name = identifier(_snake(kind), KerasLowering.reserved)
    taken = used | {"build_" + model.name}
    while name in taken:
        name += "_block"
    return name


#: layer class -> its positional arguments, to name a block's literal parameters (``conv_1_filters``).
ARG_NAMES = {
    **{f"layers.{conv}{d}D": ("filters", "kernel_size") for conv in ("Conv", "SeparableConv") for d in (1, 2, 3)},
    **{f"layers.Conv{d}DTranspose": ("filters", "kernel_size") for d in (1, 2, 3)},
    **{f"layers.DepthwiseConv{d}D": ("kernel_size",) for d in (1, 2)},
    **{f"layers.{pool}Pooling{d}D": ("pool_size",) for pool in ("Max", "Average") for d in (1, 2, 3)},
    **{f"layers.ZeroPadding{d}D": ("padding",) for d in (1, 2, 3)},
    **{f"layers.Cropping{d}D": ("cropping",) for d in (1, 2, 3)},
    **{f"layers.UpSampling{d}D": ("size",) for d in (1, 2, 3)},
    "layers.Dense": ("units",),
    "layers.Reshape": ("target_shape",),
    "layers.Permute": ("dims",),
    "layers.Embedding": ("input_dim", "output_dim"),
    "layers.LSTM": ("units",),
    "layers.GRU": ("units",),
    "layers.SimpleRNN": ("units",),
    "layers.MultiHeadAttention": ("num_heads", "key_dim"),
    "layers.RepeatVector": ("n",),
}


def block_call(fn: str, instance: str, args: list[str], outs: list[str], literals: list[str]) -> str:
    """``outs = fn(args, literals, name='<instance>')``."""
    return f"{', '.join(outs)} = {fn}({', '.join(args + literals)}, name={instance!r})"


def render_block(code) -> list[str]:
    """One block kind (or several merged) as a function adding its layers (named ``f"{name}_<layer>"``) to a
    functional graph; the integer literals that differ between instances are its parameters after the inputs."""
    lines = [
        f"def {code.name}({', '.join(code.params + code.literals)}, name):",
        *textwrap.wrap(
            f'"""Block {", ".join(code.kinds or [code.kind])} (instances: '
            f'{code.instance_list()}); layers are named {{name}}_<layer>."""',
            116,
            initial_indent="    ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        ),
    ]
    lines += [f"    {line}" for line in code.body]
    lines += [f"    return {', '.join(code.returns)}", "", ""]
    return lines


def render(program: Program, model: Model, dtype: str | None = None) -> str:
    """The program as a Python module defining ``build_<model name>() -> keras.Model``.

    A half-precision ``dtype`` (default: the model's) builds every layer under Keras's mixed-precision policy
    (``mixed_float16``/``mixed_bfloat16``): layers compute in half precision and hold their variables in
    float32, set to values rounded to the half grid (:func:`instantiate`), so the arithmetic is that of the
    half model. The policy is set for the build only and restored after."""
    dtype = dtype or model.dtype
    doc_in = "\n".join(f"    {var}: {spec} ({phys} as passed)" for var, spec, phys in program.inputs)
    doc_out = "\n".join(
        f"    {o}: {spec} ({lay} as returned)"
        for o, spec, lay in zip(program.outputs, _output_specs(program, model), program.output_layouts)
    )
    lines = [
        f'"""{program.name}: Keras model generated by twinnet from an IR model."""',
        "",
        "import keras",
        "from keras import layers",
        "",
        "",
    ]
    for code in program.blocks:
        lines += render_block(code)
    lines += [
        f"def {function_name(program)}():",
        f'    """Inputs (batch axis N first, any size):\n{doc_in}\n    Outputs:\n{doc_out}\n    """',
    ]
    lines += [f"    # {note}" for note in program.notes]
    body = []
    for var, spec, phys in program.inputs:
        shape = tuple(spec.dim(a) for a in phys[1:])
        in_dtype = dtype if spec.dtype == "float32" else spec.dtype  # float inputs come in the model's precision
        body.append(f"{var} = keras.Input(shape={shape!r}, dtype={in_dtype!r}, name={var!r})")
    body += program.body
    ins = [var for var, _, _ in program.inputs]
    ins_src = ins[0] if len(ins) == 1 else "[" + ", ".join(ins) + "]"
    outs_src = program.outputs[0] if len(program.outputs) == 1 else "[" + ", ".join(program.outputs) + "]"
    body.append(f"return keras.Model(inputs={ins_src}, outputs={outs_src}, name={program.name!r})")
    if dtype == "float32":
        lines += [f"    {line}" for line in body]
    else:  # built under the mixed-precision policy, restored after
        lines += [
            "    policy = keras.config.dtype_policy()",
            f'    keras.config.set_dtype_policy("mixed_{dtype}")  # compute in {dtype}, variables in float32',
            "    try:",
            *[f"        {line}" for line in body],
            "    finally:",
            "        keras.config.set_dtype_policy(policy)",
        ]
    lines += [
        "",
        "",
        'if __name__ == "__main__":',
        f"    model = {function_name(program)}()",
        "    model.load_weights(__file__.rsplit('.', 1)[0] + '.weights.h5')",
        "    model.summary()",
        "",
    ]
    return tidy("\n".join(lines))


def _output_specs(program: Program, model: Model):
    # With expose=True every layer is an output; otherwise the model's outputs.
    if len(program.outputs) == len(model.outputs):
        return [t.node.spec for t in model.outputs]
    return [n.spec for n in model.layers]


def instantiate(source: str, program: Program, dtype: str = "float32"):
    """Execute the generated source, build the model and set every layer's weights (shapes checked), rounded
    to ``dtype``'s grid (the variables of a mixed-precision model are float32)."""
    filename = f"<twinnet-keras:{program.name}>"
    # Registered so tracebacks from the generated code show its lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"__name__": f"twinnet_generated_{program.name}"}
    exec(compile(source, filename, "exec"), namespace)  # our own generated code, from validated identifiers
    model = namespace[function_name(program)]()
    for name, arrays in program.weights.items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]  # the variables' shapes, not copies of their values
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            raise WeightError(f"Keras expects weight shapes {expected}, the program has {got}", layer=name)
        layer.set_weights([round_to(np.asarray(a), dtype) for a in arrays])
        release_pages(arrays)  # copied into Keras: a memory-mapped IR weight's pages need not stay resident
    return model
