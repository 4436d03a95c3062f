"""Where a conversion starts: read a model of any supported kind into the IR, keeping the source runnable.

:data:`SOURCES` is the one dispatch table, keyed by source kind; each entry
turns the user's SRC into a :class:`Source`: the imported ``twinnet.Model`` and,
when the source is a model of another framework, a function that runs that
original model (by its own framework), so a conversion can be checked against
where it came from rather than only against itself.

    ========  ===============================================  ======================
    kind      SRC                                              importer
    ========  ===============================================  ======================
    keras     ``FILE.keras`` (loaded with ``safe_mode=True``)  ``twinnet.from_keras``
    onnx      ``FILE.onnx``                                    ``twinnet.from_onnx``
    ir        ``FILE.json`` / ``FILE.safetensors`` (twinnet.save) ``twinnet.load``
    python    ``FILE.py:FUNCTION`` (RUNS FILE.py)              by what FUNCTION returns
    ========  ===============================================  ======================

``FILE.py:FUNCTION`` returns an ``twinnet.Model``, a ``keras.Model``, or, for a
PyTorch model, a pair ``(module, example_inputs)``: torch needs example
inputs to trace a module (``example_inputs`` is a tuple of tensors, batch
size 2 or more so the batch axis is not specialised). A bool input is a
key-padding mask (True = pad), which the IR holds as a float mask (1 = attend):
the module is run on the mask turned back, and the conversion is checked on
masks padded at the end of each row (``Source.make_inputs``), the only ones
``nn.TransformerEncoder``'s fast path, which ``from_torch`` describes, takes.

The importers are named in one table, :data:`IMPORTERS` (source kind ->
importer), and imported when first used.

>>> source_kind("model.keras"), source_kind("build.py:make"), source_kind("m.json")
('keras', 'python', 'ir')
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..ir.errors import IRError
from .memory import release_memory

Runner = Callable[[list], list]  # declared-layout inputs -> declared-layout outputs


class SourceError(IRError):
    """The model to convert cannot be read: missing, malformed, unsafe, or of an unknown kind."""


@dataclass
class Source:
    """An imported model and, for a foreign source, a function running the original."""

    kind: str  # "keras", "onnx", "torch" or "ir": the framework the model came from
    model: object  # ir.Model
    run: Runner | None = None  # the original model, by its own framework (None for an IR source)
    # (batch, seq, seed) -> inputs (declared layouts) the original accepts, when it accepts only some
    # (see _torch_source); None: the verifier's seeded random inputs
    make_inputs: Callable[[int, int, int], list] | None = None


def source_kind(spec: str) -> str:
    """``keras``, ``onnx``, ``ir`` or ``python``, from the form of SRC (never from its content)."""
    path, sep, func = str(spec).rpartition(":")
    if sep and path.endswith(".py"):
        return "python"
    suffix = Path(str(spec)).suffix
    kinds = {".keras": "keras", ".onnx": "onnx", ".json": "ir", ".safetensors": "ir"}
    if suffix == ".py":
        raise SourceError(f"{spec!r}: name the function too, as FILE.py:FUNCTION")
    if suffix not in kinds:
        raise SourceError(f"{spec!r}: expected FILE.keras, FILE.onnx, FILE.json, FILE.safetensors or FILE.py:FUNCTION")
    return kinds[suffix]


def load_source(spec: str) -> Source:
    """Read SRC into a :class:`Source` through the :data:`SOURCES` entry for its kind."""
    return SOURCES[source_kind(spec)](str(spec))


def _existing(spec: str) -> Path:
    path = Path(spec)
    if not path.is_file():
        raise SourceError(f"{spec!r}: no such file")
    return path


def _from_keras(km):
    from ..backends.importers.keras.importer import from_keras

    with _tensorflow_not_probed():
        # the arrays read from Keras are the importer's own: not copied a second time
        return from_keras(km, copy_weights=False)


@contextlib.contextmanager
def _tensorflow_not_probed():
    """Under a Keras backend other than TensorFlow, with TensorFlow not loaded, keep Keras from loading it.

    Keras's ``get_config`` asks whether TensorFlow is available, to recognise TensorFlow objects in
    a config, and answers by importing it (seconds, and some 350 MiB): when it is not loaded, no object
    can be one of its types, so the answer is "not available" for as long as the import runs."""
    import keras

    lazy = getattr(sys.modules.get("keras.src.utils.module_utils"), "tensorflow", None)
    if (
        keras.backend.backend() == "tensorflow"
        or "tensorflow" in sys.modules
        or getattr(lazy, "_available", False) is not None  # asked before (or not the LazyModule known)
    ):
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


def _from_onnx(path):
    from ..backends import from_onnx

    return from_onnx(path)


def _from_torch(module, example_inputs):
    from ..backends import from_torch

    return from_torch(module, example_inputs=example_inputs)


#: source kind -> the importer that reads a model of that kind into the IR
IMPORTERS: dict[str, Callable] = {"keras": _from_keras, "onnx": _from_onnx, "torch": _from_torch}


# -- the entries ----------------------------------------------------------------


def keras_file(spec: str) -> Source:
    from .keras_load import load_keras_file

    path = _existing(spec)
    try:
        # safe_mode refuses to deserialise Lambda layers (their bytecode); compile=False skips the optimizer.
        km = load_keras_file(path)
    except Exception as e:
        if not zipfile.is_zipfile(path):
            # Keras says "File not found" for any file that is not a zip archive: say what is wrong instead
            raise SourceError(
                f"{spec!r}: not a valid .keras archive (a .keras file is a zip archive; this one is not)"
            ) from e
        raise SourceError(f"{spec!r}: Keras could not load it safely: {_first_line(e)}") from e
    # the random initial values Keras replaced while loading are free but still held by malloc: give them
    # back before the importer reads the weights (no cycle collection: 0.2-0.5 s, and nothing to collect here)
    release_memory(collect=False)
    return keras_model(km)


def keras_model(km) -> Source:
    model = IMPORTERS["keras"](km)
    return Source("keras", model, keras_runner(km, model))


def onnx_file(spec: str) -> Source:
    path = _existing(spec)
    model = IMPORTERS["onnx"](path)
    from .memory import onnx_session

    session = onnx_session(str(path))

    def run(xs):  # from_onnx keeps the file's input/output contract: the declared layouts are the file's
        feeds = {i.name: x for i, x in zip(session.get_inputs(), xs)}
        return [np.asarray(o) for o in session.run(None, feeds)]

    return Source("onnx", model, run)


def ir_file(spec: str) -> Source:
    from .. import ir

    return Source("ir", ir.load(_existing(spec)))  # validates; never executes anything from the file


def python_function(spec: str) -> Source:
    path, _, func = spec.rpartition(":")
    return from_object(call_python(Path(path), func), f"{Path(path).name}:{func}")


SOURCES: dict[str, Callable[[str], Source]] = {
    "keras": keras_file,
    "onnx": onnx_file,
    "ir": ir_file,
    "python": python_function,
}


# -- FILE.py:FUNCTION -------------------------------------------------------------


def call_python(path: Path, func: str):
    """Run ``path`` as a module (like ``python FILE.py`` would import it) and return ``func()``."""
    if not func.isidentifier():
        raise SourceError(f"{func!r} is not a function name (expected FILE.py:FUNCTION)")
    if not path.is_file():
        raise SourceError(f"{str(path)!r}: no such file")
    name = f"_twinnet_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SourceError(f"{str(path)!r}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(module_spec)
    # The file's folder is importable while it runs, and the module is registered so
    # dataclasses/pickling inside it work.
    folder = str(path.resolve().parent)
    sys.modules[name] = module
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
        fn = getattr(module, func, None)
        if not callable(fn):
            raise SourceError(f"{str(path)!r} has no function {func!r}")
        return fn()
    except IRError:
        raise
    except (Exception, SystemExit) as e:  # the user's code failed: bad input, not our bug
        sys.modules.pop(name, None)
        raise SourceError(f"running {path.name}:{func} failed: {type(e).__name__}: {e}") from e
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def from_object(obj, where: str) -> Source:
    """An ir.Model, a keras.Model, or ``(torch module, example_inputs)`` returned by FILE.py:FUNCTION."""
    from .. import ir

    if isinstance(obj, ir.Model):
        if obj.weight_specs() and not obj.weights:
            obj.initialize(0)
        return Source("ir", obj)
    # A framework the object came from is already imported: look there only, importing nothing new.
    keras, torch = sys.modules.get("keras"), sys.modules.get("torch")
    if keras is not None and isinstance(obj, keras.Model):
        return keras_model(obj)
    if torch is not None and isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], torch.nn.Module):
        return _torch_source(*obj, where=where)
    hint = ""
    if torch is not None and isinstance(obj, torch.nn.Module):
        hint = "; for a torch module return (module, example_inputs)"
    raise SourceError(
        f"{where}() returned {type(obj).__name__}: expected an ir.Model, a keras.Model or "
        f"(torch module, example_inputs){hint}"
    )


def _torch_source(module, example_inputs, where: str) -> Source:
    import torch

    if not isinstance(module, torch.nn.Module):
        raise SourceError(f"{where}() returned ({type(module).__name__}, ...): the first item must be an nn.Module")
    examples = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    if not all(isinstance(x, torch.Tensor) for x in examples):
        raise SourceError(f"{where}(): example_inputs must be a tensor or a tuple of tensors")
    model = IMPORTERS["torch"](module.eval(), examples)
    # A bool input is a key-padding mask (True = pad), which from_torch declares as the IR's mask
    # (float32, 1 = attend): the module gets the IR mask back as its own bool mask.
    is_mask = [x.dtype == torch.bool for x in examples]

    def run(xs):  # from_torch declares the module's own layouts (NCHW, ...): inputs go in as they are
        from .targets import TARGETS

        return TARGETS["torch"].call(
            module, [np.ascontiguousarray(x) < 0.5 if mask else np.ascontiguousarray(x) for x, mask in zip(xs, is_mask)]
        )

    def make_inputs(batch: int, seq: int, seed: int) -> list:
        # TransformerEncoder (eval, no grad) takes its nested-tensor fast path, whose padded outputs
        # are zeros, only when every row's padding is at its end, and the import describes that path:
        # the masks keep each row's number of attended keys (at least one), moved to the front.
        from .onnx import example_inputs

        xs = example_inputs(model, batch, seq, seed=seed)
        for i in (i for i, mask in enumerate(is_mask) if mask):
            t = model.inputs[i]
            x = np.moveaxis(xs[i], t.layout.index("T"), -1)
            x = (np.arange(x.shape[-1]) < x.sum(axis=-1, keepdims=True)).astype(np.float32)
            xs[i] = np.ascontiguousarray(np.moveaxis(x, -1, t.layout.index("T")))
        return xs

    return Source("torch", model, run, make_inputs if any(is_mask) else None)


def keras_runner(km, model) -> Runner:
    """Run the original Keras model on declared-layout inputs (Keras puts the batch axis first).

    A large model (:data:`~twinnet.exporters.memory.WORTH_RELEASING` bytes of weights or more) runs a
    segment at a time (:mod:`twinnet.exporters.segments`): a functional model holds every layer's output
    until its call returns, so its peak would grow with the whole network's activations."""
    from .memory import WORTH_RELEASING, weight_bytes
    from .segments import segmented
    from .targets import TARGETS

    return TARGETS["keras"].runner(segmented(km) if weight_bytes(model) >= WORTH_RELEASING else km, model)


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}"
