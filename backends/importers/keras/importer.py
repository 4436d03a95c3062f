"""``from_keras``: a Keras 3 functional or Sequential model -> ``twinnet.Model`` with its weights.

How the import works, and why:
  * The graph is read from the model's symbolic tensors (``model.inputs`` /
    ``model.outputs``, each tensor's ``_keras_history`` and the Keras ``Node``
    of each layer call). The model is never called: twinnet runs no code from
    a model, so ``Lambda`` layers, custom layers, ``keras.ops`` calls and
    subclassed models are refused, not traced. A functional or Sequential
    model nested inside another is inlined: its layers join the outer graph.
  * Each layer call is converted in topological order by its entry in
    :data:`KERAS_TABLE` (``layers.py``). Problems are collected for
    every layer; a layer behind a refused one is still checked, on a stand-in
    input of the shape Keras inferred. If anything was refused, one
    ``ir.UnsupportedError`` lists every offending layer; no partial model is
    returned.
  * Tensors are declared in Keras's own axis order (``NC``, ``NTC``, ``NHWC``;
    ``NT`` for token ids), so axis indices carry over. ``Permute`` is the one
    layer that breaks this: the IR lets axis letters travel with the data,
    Keras keeps reading axes by position. A relabelling ``Reshape`` (named
    ``<layer>_relabel``, which moves no data) restores Keras's convention.
  * A ``ZeroPadding1D/2D`` whose only consumer is a 'valid' convolution
    becomes that convolution's explicit pads (one layer fewer, and the pad
    fused into the conv in both frameworks); any other becomes an IR
    ``ZeroPadding1D/2D``.
  * The chain ``Flatten -> Reshape((-1, 1)) -> GlobalMaxPooling1D ->
    Discretization(bin_boundaries=[]) -> Embedding(1, size) -> Reshape(shape)``
    that ``to_keras`` makes of a ``LearnedConstant`` (a learned value repeated
    over the batch) becomes that layer again (``constant.py``), and the running
    count of ``keras.ops`` calls it makes of the op ``Positions`` that op
    (``positions.py``), and its ``keras.ops`` steps of an unmasked
    ``ScaledDotProductAttention`` that one op (``sdpa.py``).
  * ``MultiHeadAttention`` takes tensors as keywords (``key=``,
    ``attention_mask=``) and ``use_causal_mask=True`` at call time; they
    become the IR layer's inputs and field (``attention.py``). A
    ``Reshape((1, S))`` that only turns a ``(B, S)`` key-padding mask into
    ``attention_mask`` is folded away: the IR's mask input is that ``(B, S)`` tensor.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers as K

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import IRError
from ....ir.layout import default_layout, free_letters
from ..common.converters import user_table
from ..common.declared import declare_layouts
from ..common.names import Names, identifier
from ..common.problems import Problem, unsupported
from .attention import call_flags, is_mask_reshape, mask_source
from .block_names import mark_blocks
from .constant import constant_chains
from .graph import DTYPES, check_model, class_label, is_graph_model, key, stand_in, topological_calls
from .importer_checks import FOLDS, KEYWORD_CALLS, CallChecks
from .layers import KERAS_TABLE
from .ops_helpers import Composite, aligned, keras_layout
from .positions import positions_chains
from .precision import ir_dtype, model_precision
from .sdpa import attention_steps, masked_inputs


def from_keras(
    keras_model,
    *,
    name: str | None = None,
    blocks: bool = True,
    converters=None,
    copy_weights: bool = True,
    layouts: dict[str, str] | None = None,
) -> ir.Model:
    """Import a Keras 3 functional or Sequential model, weights included.

    Args:
        keras_model: a built ``keras.Model`` made with the functional API or
            ``keras.Sequential`` (with a ``keras.Input`` or after ``build``).
        name: the IR model's name (default: the Keras model's, made an identifier).
        blocks: mark repeated blocks (``twinnet.block``) where the layer names say
            so, as ``keras.applications`` name them: ``conv2_block1_1_conv`` is
            in instance ``conv2_block1`` (also ``block_1_expand``,
            ``block1a_dwconv``, ``block2_sepconv1``). Instances with the same
            layers, configs and wiring share a kind, named after the first
            (``Conv2Block2``); an instance needs two or more layers, one input
            from outside and to be one region. The emitted source then writes
            each kind once (one torch class, one Keras function). Marks change
            no numbers, names or weights. The rule is in ``block_names.py``.
        converters: ``{LayerClass: fn}``, entries added to :data:`KERAS_TABLE` for this import:
            ``fn(layer, inputs)`` returns ``(ir_layer, weights)`` as the built-in entries do
            (``common/converters.py``, docs/extending.md).
        copy_weights: False keeps the arrays read from Keras (``keras.ops.convert_to_numpy``, a copy
            under the TensorFlow and torch backends; under JAX possibly a read-only view of an immutable
            buffer) instead of copying them once more: ``convert`` peaks one copy of the weights lower
            while importing.
        layouts: ``{input or output name: layout}``, the order the Keras model's batch-first tensors
            stand for (``{"tokens": "TN"}``: the model is fed the transpose of sequence-first token ids);
            the layers behind follow where they act on axis letters (``common/declared.py``). Default: the
            layouts ``to_keras`` recorded on the model it built (``twinnet_layouts``), if any.

    Returns:
        an ``twinnet.Model`` whose inputs are declared in Keras's layout (``NHWC``,
        ``NTC``, ``NC``, ``NT``) unless ``layouts`` says otherwise, whose layers carry
        the Keras layer names, and whose weights are the Keras model's.

    Raises:
        ir.UnsupportedError: listing every layer the IR cannot represent (its
            ``problems`` attribute holds them as :class:`Problem` records).

    >>> import keras
    >>> x = keras.Input((4,))
    >>> h = x
    >>> for i in (1, 2):
    ...     h = keras.layers.Dense(4, name=f"block_{i}_fc2")(keras.layers.Dense(4, name=f"block_{i}_fc1")(h))
    >>> model = from_keras(keras.Model(x, h))
    >>> model.node("block_2_fc2").block
    ('Block1', 'block_2')
    """
    check_model(keras_model)
    table = user_table(KERAS_TABLE, converters, "Keras layer class")
    model = _Importer(keras_model, blocks, table, copy_weights).run(name or identifier(keras_model.name))
    if layouts is None:
        layouts = dict(getattr(keras_model, "twinnet_layouts", None) or {})
    return declare_layouts(model, layouts)


class _Importer(CallChecks):
    def __init__(self, model, blocks: bool = True, table=KERAS_TABLE, copy_weights: bool = True):
        self.model = model
        self.table = table  # KERAS_TABLE and the user's converters
        self.blocks = blocks
        self.copy_weights = copy_weights
        self.calls = topological_calls(model.outputs)
        self.problems: list[Problem] = []
        self.tensors: dict[tuple, ir.Tensor | None] = {}  # Keras tensor key -> IR tensor (None: unknown)
        self.weights: dict[str, np.ndarray] = {}
        self.precisions: dict[str, list[str]] = {}  # compute dtype -> the layers computing in it
        self.claimed = Names()
        self.names: dict[int, str] = {}  # id(Keras layer) -> IR name
        self.times: dict[int, int] = {}  # id(Keras layer) -> calls in this graph
        self.consumers: dict[tuple, list] = {}  # Keras tensor key -> the calls that read it
        self.scan(self.calls)
        self.output_keys = {key(t) for t in model.outputs}
        self.pads: dict[int, tuple] = {}  # id(conv call) -> pads folded from a ZeroPadding
        # Keras tensors used as an attention key-padding mask (B, S): declared NT, not NC
        self.masks = {key(m) for m in map(mask_source, self.calls) if m is not None}
        # LearnedConstant chains: id(last Reshape call) -> (reference, Embedding call, the other links: walk skips them)
        self.constants = constant_chains(self.calls, self.consumers, self.output_keys, self.times)
        self.links = set().union(*(links for _, _, links in self.constants.values()))
        # Positions chains (positions.py): id(cast call) -> (reference, axis index, dtype, the other links)
        self.positions = positions_chains(self.calls, self.consumers, self.output_keys, self.times)
        self.links |= set().union(*(chain[3] for chain in self.positions.values()))
        # attention steps (sdpa.py): id(last matmul call) -> (q, k, v, causal, scale, the other steps)
        self.attentions = attention_steps(self.calls, self.consumers, self.output_keys, self.times)
        self.links |= set().union(*(steps[6] for steps in self.attentions.values()))

    def scan(self, calls) -> None:
        """Count calls, record consumers and claim every Keras name (before any name is invented)."""
        for node in calls:
            op = node.operation
            self.times[id(op)] = self.times.get(id(op), 0) + 1
            if id(op) not in self.names:
                self.names[id(op)] = self.claim(op.name)
            for t in node.input_tensors:
                self.consumers.setdefault(key(t), []).append(node)
            if is_graph_model(op) and not node.is_input:
                self.scan(topological_calls(op.outputs))

    def claim(self, raw: str) -> str:
        return self.claimed.claim(raw)

    def refuse(self, op, reason: str) -> None:
        problem = Problem(getattr(op, "name", "?"), class_label(op), reason)
        if problem not in self.problems:  # a shared layer is refused at each call; list it once
            self.problems.append(problem)

    # -- the walk ----------------------------------------------------------------------
    def run(self, name: str) -> ir.Model:
        inputs = [self.convert_input(t) for t in self.model.inputs]
        self.walk(self.calls)
        dtype, problem = model_precision(self.precisions)
        if problem:
            self.problems.append(Problem("(model)", "dtype policies", problem))
        if self.problems:
            raise unsupported(f"Keras model {self.model.name!r}", self.problems)
        outputs = [self.tensors[key(t)] for t in self.model.outputs]
        if self.blocks:
            mark_blocks(outputs)
        model = ir.Model(inputs, outputs, name=identifier(name))
        model.dtype = dtype
        return model.set_weights(self.weights, copy=self.copy_weights)

    def walk(self, calls) -> None:
        for node in calls:
            if node.is_input or id(node) in self.links:
                continue
            if id(node) in self.constants:
                self.convert_constant(node)
            elif id(node) in self.positions:
                self.convert_positions(node)
            elif id(node) in self.attentions:
                self.convert_attention(node)
            elif is_graph_model(node.operation):
                self.inline(node)
            else:
                self.convert_call(node)

    def inline(self, node) -> None:
        """A nested functional/Sequential model: its layers join the graph as if written out in place."""
        inner = node.operation
        args = keras.tree.flatten(node.arguments.args)
        reasons = self.refusals(node)
        if any(isinstance(a, dict) for a in node.arguments.args) or len(args) != len(inner.inputs):
            reasons.append("nested models are imported only when called on a tensor or a list of tensors")
        if reasons:
            self.refuse(inner, "; ".join(reasons))
        for t, arg in zip(inner.inputs, args):
            self.tensors[key(t)] = self.tensors.get(key(arg)) or stand_in(arg)
        self.walk(topological_calls(inner.outputs))
        for t, inner_out in zip(node.output_tensors, inner.outputs):
            self.tensors[key(t)] = self.tensors.get(key(inner_out)) or stand_in(t)

    def convert_input(self, tensor) -> ir.Tensor | None:
        op = tensor._keras_history.operation
        dtype = ir_dtype(str(tensor.dtype))  # a half-precision input is the IR's float32 (precision.py)
        out = None
        if dtype not in DTYPES:
            self.refuse(op, f"input dtype {dtype} is not supported (one of {', '.join(DTYPES)})")
        elif tensor.sparse or tensor.ragged or getattr(op, "optional", False):
            self.refuse(op, "sparse, ragged and optional inputs are not supported")
        else:
            shape = tuple(tensor.shape[1:])
            if dtype.startswith("int") and len(shape) in (2, 3) and self.embedding_ids(tensor):
                # ids an Embedding reads, named as keras_order names computed ones: its vectors in the convention
                layout = keras_layout(len(shape) + 2).replace("C", "")
            else:
                layout = default_layout(len(shape) + 1, dtype.startswith("int"))
            if key(tensor) in self.masks and layout == "NC":
                layout = "NT"
            try:
                out = ir.Input(shape, layout=layout, dtype=dtype, name=self.names.get(id(op)) or self.claim(op.name))
            except IRError as e:
                self.refuse(op, e.bare_message)
        self.tensors[key(tensor)] = out
        return out

    def convert_call(self, node) -> None:
        op = node.operation
        out = node.output_tensors[0]
        reasons = self.refusals(node)
        masked = False
        if type(op) in KEYWORD_CALLS:
            args, call_reasons, masked = KEYWORD_CALLS[type(op)][0](node, key, self.consumers)
            reasons += call_reasons
        else:
            # The positional arguments only: a tensor passed as a keyword (mask=, initial_state=) is refused.
            args = [t for t in keras.tree.flatten(node.arguments.args) if isinstance(t, keras.KerasTensor)]
        inputs = [self.tensors.get(key(t)) or stand_in(t) for t in args]
        if masked and inputs[-1] is not None and "C" in inputs[-1].layout:
            # only a model input is declared as a mask (NT); anything else would read as a key
            reasons.append("its key-padding mask must be a model input of shape (batch, keys)")
            inputs.pop()
        if type(op) in FOLDS and not reasons and self.fold(node):
            self.tensors[key(out)] = inputs[0]  # the pads went to the consuming convolution
            return
        if (
            type(op) is K.Reshape
            and not reasons
            and key(out) not in self.output_keys
            and is_mask_reshape(node, self.consumers.get(key(out), []), key)
        ):
            self.tensors[key(out)] = inputs[0]  # the attention mask's (B, S) source is the IR's mask input
            return
        converted = None
        if type(op) in self.table and all(t is not None for t in inputs):
            # Run the entry even when the call itself was refused, so its option problems are listed too.
            converted, reason = self.convert_layer(node, inputs)
            reasons += [reason] if reason else []
        if reasons:
            self.refuse(op, "; ".join(reasons))
        self.tensors[key(out)] = converted if converted is not None and not reasons else stand_in(out)

    def convert_layer(self, node, inputs) -> tuple[ir.Tensor | None, str | None]:
        """(IR output, None), or (None, why not); the layer's weights go to ``self.weights``."""
        op = node.operation
        name = self.names[id(op)]
        is_layer = isinstance(op, K.Layer)
        try:
            if is_layer:  # layers read axes in Keras's convention: an op's result is relabelled to it first
                names = [f"{name}_in{i}" if len(inputs) > 1 else f"{name}_in" for i in range(len(inputs))]
                inputs = [self.keras_order(x, n, isinstance(op, K.Embedding)) for x, n in zip(inputs, names)]
            result = self.table[type(op)](op if is_layer else node, inputs)
            if isinstance(result, Composite):  # several IR nodes: the entry names them after this call
                out, weights = result.build(list(inputs), name, lambda suffix: self.claim(name + suffix))
                self.check_shape(out, node.output_tensors[0])
                self.weights.update(weights)
                return out, None
            ir_layer, weights = result
            ir_layer = ir_layer.replace(name=name)
            if type(op) in KEYWORD_CALLS:
                ir_layer = ir_layer.replace(**call_flags(node, KEYWORD_CALLS[type(op)][2]))
            if id(node) in self.pads:
                ir_layer = ir_layer.replace(padding=self.pads[id(node)])
            out = ir_layer(*inputs)
            self.check_weights(out.node, weights)
            if is_layer:
                out = self.relabel(out, name)
            self.check_shape(out, node.output_tensors[0])
        except IRError as e:
            return None, e.bare_message
        except (ValueError, TypeError, KeyError) as e:  # a configuration or weight the entry did not expect
            return None, f"could not be read ({type(e).__name__}: {e})"
        self.weights.update({f"{name}/{k}": v for k, v in weights.items()})
        return out, None

    def convert_constant(self, node) -> None:
        """A LearnedConstant chain (see ``constant.py``), ending at the Reshape ``node``."""
        op, out = node.operation, node.output_tensors[0]
        ref, table, _ = self.constants[id(node)]
        reasons = self.refusals(node) + self.refusals(table)
        reference = self.tensors.get(key(ref)) or stand_in(ref)
        converted = None
        if not reasons and reference is not None:
            shape = tuple(out.shape[1:])
            name = self.names[id(op)]
            try:
                if isinstance(op, K.Layer):
                    converted = L.LearnedConstant(shape, layout=default_layout(len(shape) + 1), name=name)(reference)
                else:  # the op tier's Learned (see constant.py)
                    name = self.claim(self.names[id(table.operation)].removesuffix("_table"))
                    converted = O.Learned(shape, layout=keras_layout(len(shape) + 1), name=name)(reference)
                self.check_shape(converted, out)
                self.weights[f"{name}/value"] = np.asarray(table.operation.get_weights()[0], np.float32).reshape(shape)
            except IRError as e:
                reasons.append(e.bare_message)
        if reasons:
            self.refuse(op, "; ".join(reasons))
        self.tensors[key(out)] = converted if converted is not None and not reasons else stand_in(out)

    def convert_positions(self, node) -> None:
        """A Positions chain (see ``positions.py``), ending at the cast ``node``."""
        op, out = node.operation, node.output_tensors[0]
        ref, axis, dtype, _ = self.positions[id(node)]
        reference = self.tensors.get(key(ref)) or stand_in(ref)
        converted = None
        if reference is not None:
            try:
                letter = reference.layout[axis]
                layer = O.Positions(letter, free_letters("N" + letter, 1), dtype, name=self.names[id(op)])
                converted = layer(reference)
                self.check_shape(converted, out)
            except IRError as e:
                self.refuse(op, e.bare_message)
                converted = None
        self.tensors[key(out)] = converted if converted is not None else stand_in(out)

    def convert_attention(self, node) -> None:
        """The steps of one attention (see ``sdpa.py``), ending at the matmul ``node``."""
        op, out = node.operation, node.output_tensors[0]
        *qkv, mask, causal, scale, _ = self.attentions[id(node)]
        tensors = [self.tensors.get(key(t)) or stand_in(t) for t in qkv + ([] if mask is None else [mask])]
        converted = None
        if None not in tensors:
            name = self.names[id(op)]
            try:
                fresh = lambda suffix: self.claim(name + suffix)  # noqa: E731
                inputs = aligned(tensors[:3], fresh, keep=2)
                layer = O.ScaledDotProductAttention(causal=causal, scale=scale, name=name)
                if mask is not None:
                    inputs = masked_inputs(layer, inputs, tensors[3], fresh)
                converted = layer(*inputs)
                self.check_shape(converted, out)
            except IRError as e:
                self.refuse(op, e.bare_message)
                converted = None
        self.tensors[key(out)] = converted if converted is not None else stand_in(out)
