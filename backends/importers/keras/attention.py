"""Importing Keras's MultiHeadAttention: the layer, its weights, and the tensors of its call.

Unlike other layers, MultiHeadAttention takes tensors as keywords
(``mha(query, value, key=k, attention_mask=m)``) and a flag
(``use_causal_mask=True``) at call time. :func:`call_arguments` binds a call's
positional and keyword arguments to the names of ``call``'s parameters;
:func:`mha_tensors` picks the tensors, in the IR layer's input order
``[query, value, key, mask]`` (key left out when it is the value), and
:data:`MHA_FLAGS` maps the flag to the IR layer's field.

The IR's mask is a key-padding mask ``(B, S)``. In Keras that is either
``value_mask=(B, S)`` or ``attention_mask=(B, 1, S)``; the latter made by a
``Reshape((1, S))`` of a ``(B, S)`` tensor, which the importer folds away
(:func:`is_mask_reshape`). A full per-query mask ``(B, T, S)`` is refused.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers as K

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .graph import node_of

#: Call keywords :func:`mha_tensors` reads (refusing query_mask and key_mask itself), and call flags that
#: become IR layer fields. Any other keyword (return_attention_scores=True, training=True) is refused.
MHA_KEYWORDS = frozenset(
    {"query", "value", "key", "query_mask", "value_mask", "key_mask", "attention_mask", "use_causal_mask"}
)
MHA_FLAGS = {"use_causal_mask": "use_causal_mask"}
_MASKS = ("attention_mask", "value_mask")


def call_arguments(node) -> dict:
    """A layer call's arguments by parameter name (positional ones matched to ``call``'s signature)."""
    names = node.operation.call_signature_parameters
    bound = dict(zip(names, node.arguments.args))
    bound.update(node.arguments.kwargs)
    return bound


def call_flags(node, flags: dict[str, str]) -> dict[str, bool]:
    """IR layer fields set by a call's flags (``use_causal_mask=True`` -> ``{"use_causal_mask": True}``)."""
    args = call_arguments(node)
    return {field: True for keyword, field in flags.items() if args.get(keyword) is True}


def mask_source(node):
    """The (B, S) Keras tensor a MultiHeadAttention call uses as its key-padding mask, or None.

    ``value_mask`` itself, or the input of the Reshape that made ``attention_mask``. The importer
    declares a model input used this way ``NT`` (key positions), not ``NC``.
    """
    if type(node.operation) is not K.MultiHeadAttention:
        return None
    args = call_arguments(node)
    if args.get("value_mask") is not None:
        return args["value_mask"]
    mask = args.get("attention_mask")
    if mask is None:
        return None
    producer = node_of(mask)
    if type(producer.operation) is K.Reshape and len(producer.input_tensors) == 1:
        return producer.input_tensors[0]
    return None


def mha_tensors(node, key_of, consumers) -> tuple[list, list[str], bool]:
    """(Keras tensors in the IR's input order, reasons to refuse, whether the last one is the mask) for one
    MultiHeadAttention call. A mask that cannot be imported is left out (and refused), so that the
    rest of the call is still checked as it is.

    ``consumers``: Keras tensor key -> the calls that read it (to recognise a foldable mask Reshape).
    """
    args = call_arguments(node)
    reasons = []
    for name in ("query_mask", "key_mask"):
        if args.get(name) is not None:
            reasons.append(
                f"is called with {name}=...; the IR takes a key-padding mask only "
                "(value_mask=(B, S) or attention_mask=(B, 1, S))"
            )
    tensors = [args.get("query"), args.get("value")]
    key = args.get("key")
    if key is not None and key_of(key) != key_of(tensors[1]):
        tensors.append(key)
    tensors = [t for t in tensors if t is not None]
    masks = [name for name in _MASKS if args.get(name) is not None]
    if len(masks) > 1:
        reasons.append("is called with both value_mask and attention_mask; the IR takes one key-padding mask")
        return tensors, reasons, False
    if not masks:
        return tensors, reasons, False
    mask = args[masks[0]]
    if masks[0] == "value_mask" and len(mask.shape) != 2:
        reasons.append(f"value_mask has shape {tuple(mask.shape)}; the IR takes a key-padding mask (B, S)")
    elif masks[0] == "attention_mask" and not is_mask_reshape(node_of(mask), consumers.get(key_of(mask), []), key_of):
        reasons.append(
            f"attention_mask of shape {tuple(mask.shape)} is not supported: the IR takes a "
            "key-padding mask, as attention_mask=Reshape((1, S))(mask) of a (B, S) tensor, "
            "or value_mask=(B, S)"
        )
    else:
        return tensors + [mask], reasons, True
    return tensors, reasons, False


def is_mask_reshape(node, consumers, key_of) -> bool:
    """A Reshape of a (B, S) tensor to (B, 1, S) whose every consumer takes it as MultiHeadAttention's attention_mask.

    Such a Reshape only broadcasts a key-padding mask over query steps, which the IR's mask input does
    by definition: the importer passes the (B, S) tensor on instead.
    """
    if type(node.operation) is not K.Reshape or len(node.input_tensors) != 1:
        return False
    (source,) = node.input_tensors
    if len(source.shape) != 2 or tuple(node.output_tensors[0].shape[1:2]) != (1,) or not consumers:
        return False
    out = node.output_tensors[0]
    for user in consumers:
        if type(user.operation) is not K.MultiHeadAttention:
            return False
        mask = call_arguments(user).get("attention_mask")
        if mask is None or key_of(mask) != key_of(out):
            return False
    return True


def multi_head_attention(layer, inputs) -> tuple[L.Layer, dict[str, np.ndarray]]:
    """KERAS_TABLE entry: Keras's MultiHeadAttention -> the IR's (weights keep Keras's names)."""
    cfg = layer.get_config()
    for option, plain in (("use_gate", False), ("sliding_window", None)):
        if cfg.get(option, plain) != plain:
            raise UnsupportedError(f"{option}={cfg[option]!r} is not supported (the IR needs {option}={plain!r})")
    if cfg.get("attention_axes") not in (None, [1], (1,), 1, [-2], (-2,), -2):
        raise UnsupportedError(
            f"attention_axes={cfg['attention_axes']!r} is not supported (attention over the sequence axis only)"
        )
    output_shape = cfg.get("output_shape")
    if isinstance(output_shape, (list, tuple)):
        if len(output_shape) != 1:
            raise UnsupportedError(f"output_shape={tuple(output_shape)} is not supported (one size, or None)")
        output_shape = output_shape[0]
    ir_layer = L.MultiHeadAttention(
        cfg["num_heads"],
        cfg["key_dim"],
        value_dim=cfg["value_dim"],
        dropout=cfg["dropout"],
        use_bias=cfg["use_bias"],
        output_shape=output_shape,
    )
    return ir_layer, _weights(layer)


_PROJECTIONS = (
    ("query_dense", "query"),
    ("key_dense", "key"),
    ("value_dense", "value"),
    ("output_dense", "attention_output"),
)


def _weights(layer) -> dict[str, np.ndarray]:
    """Weights named as the IR (and Keras's variable paths) name them: ``query/kernel``, ..., read from the
    layer's four projections (EinsumDense) by attribute, never by position or by a path prefix."""
    out = {}
    for attribute, name in _PROJECTIONS:
        dense = getattr(layer, attribute)
        if getattr(dense, "lora_enabled", False):
            raise UnsupportedError("has LoRA enabled; merge the adapter into the kernel first")
        parts = [("kernel", dense.kernel)] + ([("bias", dense.bias)] if dense.bias is not None else [])
        for short, variable in parts:
            out[f"{name}/{short}"] = np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)
    return out
