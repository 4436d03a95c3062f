"""Keras importer entries for layers the IR has no layer kind for but expresses with ops (``Composite``
results, see ``ops_helpers.py``), the inference-time identities, and the custom layers ``keras.applications``
defines (``LayerScale`` in ConvNeXt, ``CustomScaleLayer`` in InceptionResNetV2, ``StochasticDepth``).

Each entry takes ``(keras_layer, ir_inputs)`` like ``layers.py``'s. A layer's
weights become ``Learned`` tensors named ``<layer>_<weight>`` (PReLU's alpha,
LayerScale's gamma, RMSNormalization's scale).
"""

from __future__ import annotations

from keras import layers as K
from keras.src.applications.convnext import LayerScale, StochasticDepth
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters
from .convert_helpers import _config, letter, weights_of
from .ops_helpers import Composite, aligned, view_shape


def _learned(value, layout: str, name: str, ref):
    """A weight as a ``Learned`` tensor of ``ref``'s batch, and its weights entry."""
    return O.Learned(tuple(value.shape), layout=layout, name=name)(ref), {f"{name}/value": value}


def identity(layer, inputs):
    """Noise and regularisation layers: what they compute at inference is their input."""
    return L.Identity(), {}


def spatial_dropout(layer, inputs):
    return L.Dropout(_config(layer)["rate"]), {}


def minimum(layer, inputs):
    def build(tensors, name, fresh):
        tensors = aligned(list(tensors), fresh)
        out = tensors[0]
        for i, t in enumerate(tensors[1:], 1):
            out = O.Binary("min", name=name if i == len(tensors) - 1 else fresh(f"_{i}"))(out, t)
        return out, {}

    return Composite(build)


def prelu(layer, inputs):
    """``max(x, 0) + alpha * min(x, 0)``: Keras's ``relu(x) - alpha * relu(-x)``; each bound a ``Clip``, as
    ``keras.ops.maximum(x, 0)`` reads."""
    (alpha,) = weights_of(layer).values()
    x = inputs[0]
    if alpha.ndim != x.spec.rank - 1:
        raise UnsupportedError(f"alpha of shape {alpha.shape} for a rank-{x.spec.rank} input")

    def build(tensors, name, fresh):
        (t,) = tensors
        a, weights = _learned(alpha, t.layout, fresh("_alpha"), t)
        pos = O.Clip(low=0.0, name=fresh("_pos"))(t)
        neg = O.Binary("mul", name=fresh("_neg"))(a, O.Clip(high=0.0, name=fresh("_min"))(t))
        return O.Binary("add", name=name)(pos, neg), weights

    return Composite(build)


def unit_normalization(layer, inputs):
    """``x * min(rsqrt(sum(x**2)), 1e12)`` over the axes (Keras's L2 normalisation, epsilon 1e-12)."""
    axis = _config(layer)["axis"]
    axes = "".join(letter(a, inputs[0]) for a in (axis if isinstance(axis, (list, tuple)) else [axis]))

    def build(tensors, name, fresh):
        (t,) = tensors
        total = O.Reduce("sum", axes, keepdims=True, name=fresh("_sum"))(O.Unary("square", name=fresh("_sq"))(t))
        inv = O.Clip(high=1e12, name=fresh("_cap"))(O.Unary("rsqrt", name=fresh("_rsqrt"))(total))
        return O.Binary("mul", name=name)(t, inv), {}

    return Composite(build)


def rms_normalization(layer, inputs):
    cfg = _config(layer)
    x = inputs[0]
    axis = cfg["axis"] if isinstance(cfg["axis"], (list, tuple)) else [cfg["axis"]]
    axes = "".join(a for a in x.layout if a in {letter(i, x) for i in axis})
    (scale,) = weights_of(layer).values()

    def build(tensors, name, fresh):
        (t,) = tensors
        norm = O.Normalize(axes, rms=True, epsilon=cfg["epsilon"], name=fresh("_norm"))(t)
        s, weights = _learned(scale.reshape([t.spec.dim(a) for a in axes]), "N" + axes, fresh("_scale"), t)
        return O.Binary("mul", name=name)(norm, s), weights

    return Composite(build)


def repeat_vector(layer, inputs):
    """``(N, C)`` -> ``(N, n, C)``: a size-1 axis, expanded."""
    n = _config(layer)["n"]
    x = inputs[0]
    if x.layout != "NC":
        raise UnsupportedError(f"expects a rank-2 input (batch, features), got layout {x.layout!r}")

    def build(tensors, name, fresh):
        (t,) = tensors
        wide = O.View(view_shape((1, t.shape[1])), layout="NTC", name=fresh("_column"))(t)
        return O.Expand("T", (n,), name=name)(wide), {}

    return Composite(build)


def _spatial_letters(x, n: int) -> str:
    if x.spec.rank != n + 2:
        raise UnsupportedError(f"expects a rank-{n + 2} input, got layout {x.layout!r}")
    return x.layout[1:-1]


def zero_padding3d(layer, inputs):
    cfg = _config(layer, data_format="channels_last")
    axes = _spatial_letters(inputs[0], 3)
    pads = tuple(tuple(p) for p in cfg["padding"])
    return O.Pad(axes, pads), {}


def cropping3d(layer, inputs):
    cfg = _config(layer, data_format="channels_last")
    x = inputs[0]
    axes = _spatial_letters(x, 3)
    steps = []
    for a, (before, after) in zip(axes, cfg["cropping"]):
        size = x.spec.dim(a)
        if size is None:
            raise UnsupportedError(f"cropping axis {a!r} needs its size to be known")
        if before or after:
            steps.append(O.Narrow(a, before, size - after))

    def build(tensors, name, fresh):
        (t,) = tensors
        if not steps:
            return L.Identity(name=name)(t), {}
        for i, op in enumerate(steps):
            t = op.replace(name=name if i == len(steps) - 1 else fresh(f"_{i}"))(t)
        return t, {}

    return Composite(build)


def upsampling3d(layer, inputs):
    """Each spatial axis's entries repeated: per axis, a View adding a size-1 axis after it, an Expand, a View
    merging the two (known sizes)."""
    cfg = _config(layer, data_format="channels_last")
    axes = _spatial_letters(inputs[0], 3)
    factors = [(a, f) for a, f in zip(axes, cfg["size"]) if f > 1]

    def build(tensors, name, fresh):
        (t,) = tensors
        if not factors:
            return L.Identity(name=name)(t), {}
        for i, (a, f) in enumerate(factors):
            pos, sizes, new = t.layout.index(a), tuple(t.shape[1:]), free_letters(t.layout, 1)
            if None in sizes:
                raise UnsupportedError(f"needs known sizes, got {sizes}")
            wide = O.View(sizes[:pos] + (1,) + sizes[pos:], t.layout[: pos + 1] + new + t.layout[pos + 1 :])
            t = wide.replace(name=fresh(f"_{a.lower()}_wide"))(t)
            t = O.Expand(new, (f,), name=fresh(f"_{a.lower()}_repeat"))(t)
            merged = sizes[: pos - 1] + (sizes[pos - 1] * f,) + sizes[pos:]
            last = i == len(factors) - 1
            t = O.View(merged, t.layout.replace(new, ""), name=name if last else fresh(f"_{a.lower()}"))(t)
        return t, {}

    return Composite(build)


def global_pool3d(fn: str):
    def convert(layer, inputs):
        cfg = _config(layer, data_format="channels_last")
        return O.Reduce(fn, _spatial_letters(inputs[0], 3), keepdims=cfg["keepdims"]), {}

    return convert


def attention(layer, inputs):
    """Keras's dot-product ``Attention``: ``softmax(q @ k^T [* scale]) @ v`` (k defaults to v), as ops."""
    cfg = _config(layer, score_mode="dot")
    if len(inputs) not in (2, 3) or any(x.spec.rank != 3 for x in inputs):
        raise UnsupportedError("expects [query, value] or [query, value, key], each (batch, length, features)")
    weights = weights_of(layer)

    def build(tensors, name, fresh):
        q, v = tensors[:2]
        k = tensors[2] if len(tensors) == 3 else v
        kt = O.Transpose(k.layout[0] + k.layout[2] + k.layout[1], name=fresh("_keys"))(k)
        scores = O.MatMul(name=fresh("_scores"))(q, kt)
        out = {}
        if cfg["use_scale"]:
            scale, out = _learned(weights["scale"].reshape(1), "N" + scores.layout[1], fresh("_scale"), q)
            scores = O.Binary("mul", name=fresh("_scaled"))(scores, scale)
        probs = O.Softmax(scores.layout[-1], name=fresh("_weights"))(scores)
        return O.MatMul(name=name)(probs, v), out

    return Composite(build)


def layer_scale(layer, inputs):
    """ConvNeXt's ``x * gamma``, gamma one per channel (the last axis)."""
    (gamma,) = weights_of(layer).values()

    def build(tensors, name, fresh):
        (t,) = tensors
        g, weights = _learned(gamma, "N" + t.layout[-1], fresh("_gamma"), t)
        return O.Binary("mul", name=name)(t, g), weights

    return Composite(build)


def custom_scale(layer, inputs):
    """InceptionResNetV2's ``inputs[0] + inputs[1] * scale``: an ``Add`` of a ``Rescaling``, as torch's
    ``a + b * scale`` reads back."""
    scale = float(layer.scale)

    def build(tensors, name, fresh):
        a, b = aligned(list(tensors), fresh)
        return L.Add(name=name)([a, L.Rescaling(scale, name=fresh("_scaled"))(b)]), {}

    return Composite(build)


TABLE = {
    K.ActivityRegularization: identity,
    K.GaussianNoise: identity,
    K.GaussianDropout: identity,
    K.AlphaDropout: identity,
    K.SpatialDropout1D: spatial_dropout,
    K.SpatialDropout2D: spatial_dropout,
    K.SpatialDropout3D: spatial_dropout,
    K.Minimum: minimum,
    K.Attention: attention,
    K.PReLU: prelu,
    K.UnitNormalization: unit_normalization,
    K.RMSNormalization: rms_normalization,
    K.RepeatVector: repeat_vector,
    K.ZeroPadding3D: zero_padding3d,
    K.Cropping3D: cropping3d,
    K.UpSampling3D: upsampling3d,
    K.GlobalAveragePooling3D: global_pool3d("mean"),
    K.GlobalMaxPooling3D: global_pool3d("max"),
    LayerScale: layer_scale,
    StochasticDepth: identity,
    CustomScaleLayer: custom_scale,
}
