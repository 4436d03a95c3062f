"""Round trips: ``from_torch(to_torch(m))`` and ``from_keras(to_keras(m))`` against ``m``, per model.

``m`` is every model of ``examples/`` (the IR examples, the torch architectures of ``examples/torch_archs.py``,
the custom layer and module of ``examples/custom_layers.py`` imported with their converters, every Keras
application of ``examples/keras_apps.py``) and the torch models of the reduced zoo
(``benchmarks/zoo.py``'s ``REDUCED``: torchvision, timm, Hugging Face). Per model and direction it prints
whether the round trip is structurally exact (``twinnet.ir.structure.structural_diff`` with weights: the same
layer kinds and arguments, layouts, wiring and weights), the seconds it took (compile, import and compare),
the first differences and, for an extended case, the known gap it is listed as (:data:`EXTENDED_GAPS`).
``tests/backends/importers/test_roundtrip.py`` runs the :data:`CI` cases; the others (:data:`EXTENDED`) take
minutes on two cores and run here. Not a test: it only measures.

    python benchmarks/roundtrip.py                  # every case
    python benchmarks/roundtrip.py --ci             # the CI cases
    python benchmarks/roundtrip.py --only vit,keras:resnet50 --directions torch
    python benchmarks/roundtrip.py --zoo --isolate  # and every model of the full zoo, each in its own process
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from examples import (  # noqa: E402
    custom_layers,
    fasttext_sentiment,
    keras_apps,
    lstm_sentiment,
    mnist_convnet,
    torch_archs,
    vgg_block,
)
from twinnet.backends import from_keras, from_torch, to_keras, to_torch  # noqa: E402
from twinnet.ir.structure import structural_diff  # noqa: E402

IR_EXAMPLES = {
    "mnist_convnet": mnist_convnet.build,  # also what demo.py and mnist_digits_training.py build
    "mnist_convnet_variant": mnist_convnet.build_variant,
    "vgg_block": vgg_block.build,
    "fasttext_sentiment": fasttext_sentiment.build,
    "lstm_sentiment": lstm_sentiment.build,
    "lstm_sentiment_sequence_first": lstm_sentiment.build_sequence_first,
}
CUSTOM = {"custom_keras_layer", "custom_torch_module"}
#: the Keras applications CI runs (the reduced zoo's); the rest of examples/keras_apps.py is extended. Named
#: ``keras:<app>``, apart from the torch architectures (both have a ``mobilenet``)
APPS = [f"keras:{a}" for a in keras_apps.APPS]
CI_APPS = ("keras:mobilenet_v2", "keras:resnet50", "keras:vgg16")
ZOO_SIDE = 32


def _zoo():
    import importlib.util

    if "twinnet_benchmarks_zoo" not in sys.modules:
        spec = importlib.util.spec_from_file_location("twinnet_benchmarks_zoo", ROOT / "benchmarks" / "zoo.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["twinnet_benchmarks_zoo"]


def zoo_names() -> list[str]:
    """The reduced zoo's torch models, as ``source:name`` (its Keras models are the CI applications)."""
    return [f"{s}:{n}" for s, names in _zoo().REDUCED.items() if s != "keras" for n in names]


def whole_zoo() -> list[str]:
    """Every model of ``benchmarks/zoo.py``'s full zoo, as ``source:name``, less those of the reduced zoo (which
    :data:`EXTENDED` holds already)."""
    zoo = _zoo()
    names = [f"{s}:{n}" for s in zoo.zoo_models.SOURCES for n in zoo.zoo_models.catalogue(s)]
    return [n for n in names if n not in zoo_names()]


def too_large(name: str, max_params: float) -> str | None:
    """Why a zoo case is skipped: its source model holds over ``max_params`` weights (None: it is not)."""
    if ":" not in name or name in APPS:
        return None
    zoo_source, model = name.split(":", 1)
    params = _zoo().count_params(_zoo().zoo_models.catalogue_builder(zoo_source, model)(ZOO_SIDE, 0))
    return f"{params / 1e6:.0f}M parameters, over --max-params" if params > max_params else None


def isolated(name: str, directions: str, timeout: int, max_params: float) -> list[str]:
    """Run one case in a process of its own (bounds memory across the whole zoo); its printed lines."""
    import subprocess

    command = [sys.executable, __file__, "--only", name, "--directions", directions, "--max-params", str(max_params)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [f"{name:40s} source  timed out ({timeout} s)"]
    lines = done.stdout.splitlines()[:-1]  # less its own count
    return lines or [f"{name:40s} source  exited {done.returncode}: {done.stderr.strip()[-300:]}"]


#: (case, direction) -> the known gap (tests/known_gaps.toml) an extended round trip that is not exact is listed as
EXTENDED_GAPS: dict[tuple[str, str], str] = {}

CI = [*IR_EXAMPLES, *torch_archs.ARCHS, *sorted(CUSTOM), *CI_APPS]
EXTENDED = [*(a for a in APPS if a not in CI_APPS), *zoo_names()]


@functools.cache
def source(name: str):
    """The IR model ``m`` a round trip must give back."""
    if name in IR_EXAMPLES:
        return IR_EXAMPLES[name]()
    if name in APPS:
        return from_keras(keras_apps.build(name.removeprefix("keras:")))
    if name == "custom_keras_layer":
        return from_keras(custom_layers.keras_model(), converters={custom_layers.SiLUDense: custom_layers.silu_dense})
    if name == "custom_torch_module":
        net = custom_layers.torch_module()
        return from_torch(net, (torch.zeros(2, 5),), converters={custom_layers.ResidualMLP: custom_layers.residual_mlp})
    if ":" in name:  # a model of the zoo (a Keras application of the zoo is CamelCase: keras:ResNet50)
        zoo_source, model = name.split(":", 1)
        built = _zoo().zoo_models.catalogue_builder(zoo_source, model)(ZOO_SIDE, 0)
        return from_keras(built) if zoo_source == "keras" else from_torch(*built)
    module, example = getattr(torch_archs, name)()
    return from_torch(module, example)


def example(model, batch: int = 2) -> tuple:
    """Seeded inputs of ``model``'s declared shapes (5 for a symbolic length; token ids below 5)."""
    g = torch.Generator().manual_seed(batch)
    out = []
    for t in model.inputs:
        shape = [batch if a == "N" else (5 if s is None else s) for a, s in zip(t.layout, t.shape)]
        if t.dtype.startswith("int"):
            out.append(torch.randint(0, 5, shape, generator=g, dtype=getattr(torch, t.dtype)))
        else:
            out.append(torch.randn(shape, generator=g))
    return tuple(out)


def through_torch(m):
    """``from_torch(to_torch(m))``, keeping ``m``'s sequence lengths where they are fixed (``fixed_lengths``),
    since ``from_torch`` would otherwise make a length the module accepts at any size symbolic."""
    fixed = all(s is not None for t in m.inputs for a, s in zip(t.layout, t.shape) if a != "N")
    return from_torch(to_torch(m), example(m), fixed_lengths=fixed)


def through_keras(m):
    return from_keras(to_keras(m))


THROUGH = {"torch": through_torch, "keras": through_keras}


def diff(name: str, direction: str) -> list[str]:
    """The structural differences between ``m`` and its round trip through ``direction`` (empty: exact)."""
    m = source(name)
    return structural_diff(m, THROUGH[direction](m), weights=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help="only the cases CI runs")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--directions", default="torch,keras")
    parser.add_argument("--zoo", action="store_true", help="also every model of the full zoo (benchmarks/zoo.py)")
    parser.add_argument("--max-params", type=float, default=150, help="skip zoo models over this many million weights")
    parser.add_argument("--isolate", action="store_true", help="each case in its own process (bounds memory)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per case, with --isolate")
    args = parser.parse_args(argv)
    names = CI if args.ci else CI + EXTENDED + (whole_zoo() if args.zoo else [])
    if args.only:
        wanted = args.only.split(",")
        names = [n for n in names if n in wanted] + [n for n in wanted if ":" in n and n not in names]
    exact = total = 0
    for name in names:
        if args.isolate:
            for line in isolated(name, args.directions, args.timeout, args.max_params):
                print(line, flush=True)
                total += line[41:47].strip() in args.directions.split(",")
                exact += line[41:47].strip() in args.directions.split(",") and line[48:53] == "exact"
            continue
        start = time.perf_counter()
        try:
            skip = too_large(name, args.max_params * 1e6)
            if skip:
                print(f"{name:40s} source  skipped: {skip}", flush=True)
                continue
            source(name)
        except Exception as e:  # the source itself does not import: no round trip to check
            print(f"{name:40s} source  {type(e).__name__}: {str(e)[:200]}", flush=True)
            continue
        built = time.perf_counter() - start
        for direction in args.directions.split(","):
            start = time.perf_counter()
            try:
                found = diff(name, direction)
            except Exception as e:
                found = [f"{type(e).__name__}: {str(e)[:300]}"]
            seconds = time.perf_counter() - start
            total += 1
            exact += not found
            verdict = "exact" if not found else "DIFF"
            gap = EXTENDED_GAPS.get((name, direction))
            note = f"  known gap {gap}" if gap and found else f"  listed as {gap} but exact" if gap else ""
            note = note or ("  NOT LISTED" if found and name not in CI else "")
            print(f"{name:40s} {direction:6s} {verdict:5s} {seconds:6.1f}s (source {built:.1f}s){note}", flush=True)
            for line in found[:3]:
                print(f"    {line[:300]}", flush=True)
    print(f"{exact} of {total} round trips structurally exact", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
