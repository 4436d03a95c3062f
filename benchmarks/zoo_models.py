"""The zoo's catalogue: every model ``benchmarks/zoo.py`` converts, built small with random weights.

Four sources, each a dict ``name -> builder`` (see :func:`catalogue`):

* ``keras``: every ``keras.applications`` model (``weights=None``,
  ``include_top=False, pooling="avg"``), converted to torch;
* ``torchvision``: every classification model of
  ``torchvision.models.list_models(module=torchvision.models)``, converted to Keras;
* ``timm``: a list of timm architectures (ViT, DeiT, ConvNeXt, EfficientNet,
  RegNet, MobileViT, GhostNet, Swin, ResNet-D), converted to Keras;
* ``transformers``: Hugging Face models built from small configs (BERT,
  DistilBERT, GPT-2, Llama with grouped-query attention and rotary
  embeddings, ViT, T5 encoder), converted to Keras.

A builder takes ``(side, seed)`` (``side``: the image side, ignored by text
models) and returns a ``keras.Model`` or ``(torch module, example_inputs)``.
Kernels keep their framework's random initialisation; every bias,
normalisation scale and offset and every running statistic is randomised, so
that a conversion that drops a bias or swaps a statistic shows. Random
statistics let deep Keras nets' activations grow (EfficientNetV2: float32
rounding then breaks the tolerance); a Keras builder called with
``calibrate=True`` calibrates them on the inputs the zoo checks with
(:func:`keras_inputs`, docs/zoo.md). Nothing is downloaded. The CI test
(``tests/benchmarks/test_zoo.py``) reads the same catalogue.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("keras", "torchvision", "timm", "transformers")
TARGET = {"keras": "torch", "torchvision": "keras", "timm": "keras", "transformers": "keras"}

# keras.applications: name -> smallest input side it accepts (weights=None).
# Keras sources built with calibrate: BatchNorm statistics calibrated on this many seeded inputs (keras_inputs)
CALIBRATION_BATCH = 32
KERAS_MIN_SIDE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
# torchvision: models whose input size is fixed by their architecture or that need a larger one.
TORCHVISION_SIDE = {"inception_v3": 75, "maxvit_t": 224, "alexnet": 64}
# timm: name -> keyword arguments that make it small.
TIMM_MODELS = {
    "vit_tiny_patch16_224": {"img_size": 32, "patch_size": 8},
    "deit_tiny_patch16_224": {"img_size": 32, "patch_size": 8},
    "convnext_atto": {},
    "efficientnet_b0": {},
    "regnetx_002": {},
    "mobilevit_xxs": {},
    "ghostnet_100": {},
    "swin_tiny_patch4_window7_224": {"img_size": 64, "window_size": 2},
    "resnet18d": {},
}
# (source, model) -> id of its entry in tests/known_gaps.toml, for a model that does not convert equal yet
# and is not float32 rounding (the zoo prints the id beside the miss)
ZOO_GAPS: dict = {
    ("keras", name): "keras-zoo-efficientnetv2-gates"
    for name in (
        "EfficientNetV2B1",
        "EfficientNetV2B2",
        "EfficientNetV2B3",
        "EfficientNetV2S",
        "EfficientNetV2M",
        "EfficientNetV2L",
    )
}
# the same randomisation of torch modules as randomize_keras gives Keras models
_BIAS_LIKE = ("bias", "running_mean")
_SCALE_LIKE = ("running_var",)


def import_torchvision():
    """``import torchvision``, also where its C++ extension cannot load beside this torch.

    PyPI's torchvision wheels are CUDA builds: their ``_C.so`` links
    ``libtorch_cuda``, which a CPU build of torch does not have, so the
    extension fails to load. torchvision handles that (its C++ ops become
    unavailable, ``torchvision.extension._has_ops()`` is False) everywhere but
    in ``_meta_registrations.py``, where ``register_fake("torchvision::nms")``
    (and ``qnms``) are not guarded and raise "operator torchvision::nms does
    not exist", so the import dies. Only in that case, this defines those two
    operator schemas (no kernels: calling them still fails) and imports again.
    Classification models never call them; detection models (NMS) would fail.
    Where the extension loads, torchvision is imported untouched.
    """
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
    # the failed import left half-initialised modules behind
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    global _TORCHVISION_SCHEMAS
    import torch

    _TORCHVISION_SCHEMAS = torch.library.Library("torchvision", "DEF")  # kept alive: the schemas live with it
    for op in ("nms", "qnms"):
        _TORCHVISION_SCHEMAS.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return importlib.import_module("torchvision")


_TORCHVISION_SCHEMAS = None


def randomize_torch(net, seed: int = 0):
    """Every bias and normalisation offset N(0, 0.1²), every normalisation scale U(0.5, 1.5), every
    running mean N(0, 0.1²) and variance U(0.5, 1.5); weights of convolutions and linear layers keep
    their initialisation, except a kernel initialised to zeros, which gets nn.Linear's uniform init.
    Returns ``net`` in eval mode."""
    import torch

    g = torch.Generator().manual_seed(seed)
    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)
    with torch.no_grad():
        for module in net.modules():
            is_norm = isinstance(module, norms) or "norm" in type(module).__name__.lower()
            for name, p in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
                if not p.is_floating_point():
                    continue
                if name in _BIAS_LIKE:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
                elif name in _SCALE_LIKE or (is_norm and name == "weight"):
                    p.copy_(torch.rand(p.shape, generator=g) + 0.5)
                elif p.dim() >= 2 and not p.any():
                    # a zero-initialised kernel (torchvision's ViT head): its output would be the bias
                    # whatever the input, so the check would prove nothing; fill it as nn.Linear does
                    bound = 1.0 / max(1, p[0].numel()) ** 0.5
                    p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
    return net.eval()


def image(batch: int, side: int, seed: int = 0):
    import torch

    return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(seed))


def token_ids(batch: int, seq: int, vocab: int, seed: int = 0):
    import torch

    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


# -- keras.applications --------------------------------------------------------------------------------


def keras_names() -> list[str]:
    import keras

    # every model function keras.applications exports (MobileNetV3Small/Large are not in their submodule's names)
    return sorted(n for n in dir(keras.applications) if n[0].isupper())


def keras_builder(fn: str):
    def build(side: int, seed: int = 0, calibrate: bool = False):
        import keras

        from twinnet.exporters.randomize import randomize_keras

        keras.utils.set_random_seed(seed)
        side = max(side, KERAS_MIN_SIDE.get(fn, 32))
        km = getattr(keras.applications, fn)(
            weights=None, include_top=False, pooling="avg", input_shape=(side, side, 3)
        )
        # with calibrate, on inputs drawn as the zoo's checks draw theirs (another seed): docs/zoo.md
        calibration = keras_inputs(km, CALIBRATION_BATCH, seed + 1000) if calibrate else None
        return randomize_keras(km, seed, calibrate=calibrate, inputs=calibration)

    return build


def keras_inputs(km, batch: int, seed: int) -> list:
    """Seeded inputs for the Keras model ``km`` (batch-first, channels-last), the ones the zoo checks it on
    and calibrates its BatchNorm statistics on: where the input goes straight into a Rescaling layer,
    uniform over the range that layer maps to ``[-1, 1]`` (pixels: ``[-255, 255]`` for ``Rescaling(1/255)``,
    ``[0, 255]`` for ``Rescaling(1/127.5, offset=-1)``), else standard normal."""
    import numpy as np

    from twinnet.exporters.randomize import keras_input_range

    rng = np.random.default_rng(seed)
    out = []
    for t in km.inputs:
        shape = (batch, *t.shape[1:])
        ends = keras_input_range(km, t)
        if ends is None:
            out.append(rng.standard_normal(shape).astype(np.float32))
        else:
            out.append((ends[0] + (ends[1] - ends[0]) * rng.random(shape)).astype(np.float32))
    return out


# -- torchvision ---------------------------------------------------------------------------------------


def torchvision_names() -> list[str]:
    tv = import_torchvision()
    return list(tv.models.list_models(module=tv.models))


def torchvision_builder(name: str):
    def build(side: int, seed: int = 0):
        import torch

        tv = import_torchvision()
        torch.manual_seed(seed)
        kwargs = {"num_classes": 10}
        side = max(side, TORCHVISION_SIDE.get(name, side))
        if name.startswith("vit_"):  # the image size is a constructor argument; it must hold whole patches
            patch = int(name.split("_")[-1])
            side = max(patch, side // patch * patch)
            kwargs["image_size"] = side
        if name in ("googlenet", "inception_v3"):
            kwargs.update(aux_logits=False, init_weights=False)
        net = tv.models.get_model(name, weights=None, **kwargs)
        return randomize_torch(net, seed), (image(2, side, seed),)

    return build


# -- timm ----------------------------------------------------------------------------------------------


def timm_builder(name: str):
    def build(side: int, seed: int = 0):
        import torch

        import_torchvision()
        import timm

        torch.manual_seed(seed)
        kwargs = dict(TIMM_MODELS[name])
        side = kwargs.get("img_size", side)
        net = timm.create_model(name, pretrained=False, num_classes=10, **kwargs)
        return randomize_torch(net, seed), (image(2, side, seed),)

    return build


# -- transformers --------------------------------------------------------------------------------------


class HiddenStates:
    """Wraps a Hugging Face model so that it returns its last hidden state, a plain tensor."""

    @staticmethod
    def wrap(model, pixels: bool = False):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x):
                out = self.model(pixel_values=x) if pixels else self.model(input_ids=x)
                return out.last_hidden_state

        return Wrapped().eval()


SMALL_TEXT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}


def transformers_configs() -> dict:
    """name -> (model class name, config class name, config keyword arguments)."""
    return {
        "bert": ("BertModel", "BertConfig", {**SMALL_TEXT, "vocab_size": 100, "max_position_embeddings": 64}),
        "distilbert": (
            "DistilBertModel",
            "DistilBertConfig",
            {
                "dim": 32,
                "n_layers": 2,
                "n_heads": 4,
                "hidden_dim": 64,
                "vocab_size": 100,
                "max_position_embeddings": 64,
            },
        ),
        "gpt2": (
            "GPT2Model",
            "GPT2Config",
            {
                "n_embd": 32,
                "n_layer": 2,
                "n_head": 4,
                "vocab_size": 100,
                "n_positions": 64,
                "bos_token_id": 0,
                "eos_token_id": 0,
            },
        ),
        "llama_gqa": (
            "LlamaModel",
            "LlamaConfig",
            {**SMALL_TEXT, "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 64},
        ),
        "vit": ("ViTModel", "ViTConfig", {**SMALL_TEXT, "image_size": 32, "patch_size": 8, "num_channels": 3}),
        "t5_encoder": (
            "T5EncoderModel",
            "T5Config",
            {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4, "vocab_size": 100},
        ),
    }


def transformers_builder(name: str):
    def build(side: int, seed: int = 0):
        import torch

        import_torchvision()  # transformers imports torchvision, whose C extension may not load here
        import transformers

        model_cls, config_cls, kwargs = transformers_configs()[name]
        torch.manual_seed(seed)
        config = getattr(transformers, config_cls)(**kwargs)
        config._attn_implementation = "eager"  # the plain PyTorch attention, no fused kernel choice
        net = randomize_torch(getattr(transformers, model_cls)(config), seed)
        if name == "vit":
            return HiddenStates.wrap(net, pixels=True), (image(2, kwargs["image_size"], seed),)
        return HiddenStates.wrap(net), (token_ids(2, 7, kwargs["vocab_size"], seed),)

    return build


def catalogue(source: str) -> dict:
    """``name -> builder(side, seed)`` for one source (a key of :data:`SOURCES`)."""
    if source == "keras":
        return {n: keras_builder(n) for n in keras_names()}
    if source == "torchvision":
        return {n: torchvision_builder(n) for n in torchvision_names()}
    if source == "timm":
        return {n: timm_builder(n) for n in TIMM_MODELS}
    if source == "transformers":
        return {n: transformers_builder(n) for n in transformers_configs()}
    raise ValueError(f"unknown source {source!r}: expected one of {', '.join(SOURCES)}")


def catalogue_builder(source: str, name: str):
    """One builder, without listing the whole source."""
    builders = {"keras": keras_builder, "torchvision": torchvision_builder}
    builders.update(timm=timm_builder, transformers=transformers_builder)
    return builders[source](name)
