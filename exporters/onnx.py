"""ONNX export through each framework's own exporter.

* ``via="torch"``: ``torch.onnx.export`` (the dynamo exporter), symbolic batch (and sequence) dimensions.
* ``via="keras"``: ``keras.Model.export(format="onnx")`` (tf2onnx), after one
  call of the model, as that exporter needs.
* Through either framework, weights past ``external_data_threshold`` go to an external data file (torch's
  ``external_data``, tf2onnx's ``large_model`` storage), renamed to the IR writer's content-addressed name
  (:func:`_adopt_data`); below it they are embedded in the file.
* ``via="ir"``: straight from the IR (``backends.onnx``), no framework loaded;
  the file keeps the declared input/output layout like the torch one. Past
  ``external_data_threshold`` bytes of weights (default 1 GiB; protobuf caps a file at 2 GiB) they go to
  an external data file beside it (:mod:`twinnet.backends.onnx.files`), which replaces the old one only
  once the new ``.onnx`` file is in place.

Files are written to a temporary name in the target folder (mode ``0o666 & ~umask``,
like any new file) and renamed into place, and checked with ``onnx.checker`` before they replace anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import secrets
import stat
import warnings
from pathlib import Path

from ..ir.errors import ConfigError, IRError, UnsupportedError

VIAS = ("torch", "keras", "ir")
#: the largest protobuf message: an ONNX file holding its weights inside must stay under it
PROTOBUF_LIMIT = 2**31

# torch's ONNX exporter warns about optional torchvision ops on every export.
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
EXAMPLE_BATCH, EXAMPLE_SEQ = 2, 5  # not 0/1: torch.export would specialise those sizes


def example_inputs(model, batch: int = EXAMPLE_BATCH, seq: int = EXAMPLE_SEQ, layouts=None, seed: int = 0):
    """Seeded inputs for ``model`` that fit it (:func:`twinnet.exporters.inputs.model_inputs`).

    ``layouts`` (one per input) transposes each from its declared layout.
    """
    from .inputs import model_inputs

    return model_inputs(model, batch, seq, seed=seed, layouts=layouts)


def export_onnx(
    model, path, via: str = "torch", *, compiled=None, external_data_threshold: int | None = None, expose=False
) -> Path:
    """Export ``model`` to ONNX through torch or Keras, or straight from the IR (``via="ir"``); returns the path.

    The file keeps the compiled model's input/output layout (declared; Keras
    puts the batch axis first) and has a symbolic batch dimension.
    ``compiled``: the model already compiled for ``via`` (``to_torch(model)`` /
    ``to_keras(model)``), exported instead of compiling it again.
    A half-precision model is exported through a framework as its float32 reference (the weights rounded
    to the half grid), then every float tensor of the file is cast (:mod:`twinnet.backends.onnx.precision`);
    ``via="ir"`` writes the half file directly.
    ``external_data_threshold``: bytes of weights above which they are written to
    ``<stem>.<sha256[:16]>.onnx.data`` beside the file (default
    :data:`twinnet.backends.onnx.files.EXTERNAL_DATA_THRESHOLD`), whichever exporter writes them: the IR's
    writer lays them out itself, torch's and tf2onnx's data are renamed to that name (:func:`_adopt_data`).
    A half-precision model's file is cast whole, in one protobuf message: one whose weights would pass
    2 GiB is refused before any work. ``expose`` (``via="ir"`` only): every layer's output is an output of
    the file, for localising a mismatch.

    >>> # export_onnx(model, "m.onnx", via="keras")
    """
    if via not in VIAS:
        raise ConfigError(f"via must be one of {VIAS}, got {via!r}")
    if expose and via != "ir":
        raise ConfigError(f"expose=True is for via='ir' only, got via={via!r}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ConfigError(f"the ONNX file name must end in .onnx, got {path.name!r}")
    from ..backends.onnx import files

    threshold = files.checked_threshold(external_data_threshold)
    size = sum(getattr(w, "nbytes", 0) for w in model.weights.values())  # float32 (a half model's too)
    if model.dtype != "float32" and size // 2 >= PROTOBUF_LIMIT:
        raise UnsupportedError(
            f"ONNX export via {via} of {model.dtype} model {model.name!r}: its weights ({size // 2:,} bytes in "
            f"{model.dtype}) would pass protobuf's 2 GiB limit, and a half-precision file is cast in one piece "
            "(no external data); export it in float32 instead"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file_beside(path)
    old, written = files.data_files_of(path), []
    try:
        if model.dtype != "float32" and via != "ir":  # the frameworks export the float32 graph; cast after
            _export_half(model, Path(tmp), via)
        elif via == "ir":
            written = files.write(model, Path(tmp), stem=path.stem, external_data_threshold=threshold, expose=expose)
        else:
            {"torch": _export_torch, "keras": _export_keras}[via](model, Path(tmp), compiled, large=size > threshold)
            written = _adopt_data(Path(tmp), path.stem)
        import onnx

        onnx.checker.check_model(tmp, full_check=True)
        os.replace(tmp, path)
        for name in set(old) - set(written):  # the data file of the model this one replaced
            (path.parent / name).unlink(missing_ok=True)
    except BaseException as e:
        for name in set(written) - set(old):
            (path.parent / name).unlink(missing_ok=True)
        if isinstance(e, IRError) or not isinstance(e, Exception):
            raise
        raise _failed(model, via, e) from e
    finally:
        for leftover in (tmp, tmp + ".data"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return path


def _export_half(model, path: Path, via: str) -> None:
    """A half model through a framework: its float32 reference exported, the file cast to the model's precision."""
    import onnx

    from ..backends.onnx.precision import cast_model
    from .verify import float32_reference

    {"torch": _export_torch, "keras": _export_keras}[via](float32_reference(model), path, None)
    onnx.save(cast_model(onnx.load(str(path)), model.dtype), str(path))


def _failed(model, via: str, e: Exception) -> UnsupportedError:
    """A framework exporter's failure as one readable line."""
    return UnsupportedError(
        f"ONNX export via {via} failed for model {model.name!r}: "
        f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    )


def _new_file_beside(path: Path) -> str:
    """An empty ``.<stem>.<random>.onnx`` in ``path``'s folder, mode ``0o666 & ~umask`` like any new file
    (``tempfile.mkstemp`` would make it private, 0600); a re-export keeps the mode of the file it replaces."""
    while True:
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(6)}.onnx"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        if hasattr(os, "fchmod") and path.is_file():
            os.fchmod(fd, stat.S_IMODE(path.stat().st_mode))
    finally:
        os.close(fd)
    return str(tmp)


def _export_torch(model, path: Path, module=None, large: bool = False) -> None:
    import torch

    from ..backends.torch import to_torch

    module = module if module is not None else to_torch(model)
    program = module.twinnet_program
    args = tuple(torch.from_numpy(x) for x in example_inputs(model))
    dynamic = {}
    for var, spec, phys in program.inputs:
        dims = {phys.index(a): torch.export.Dim.DYNAMIC for a, s in zip(spec.layout, spec.shape) if s is None}
        dynamic[var] = dims
    names = [v for v, _, _ in program.inputs]
    recurrent = any(isinstance(m, (torch.nn.RNNBase,)) for m in module.modules())
    if recurrent and large:
        raise UnsupportedError(
            f"ONNX export via torch of model {model.name!r}: a recurrent model goes through torch's TorchScript "
            "exporter, which cannot write external data, and its weights pass the external data threshold"
        )
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with warnings.catch_warnings(), quiet[0], quiet[1]:
        warnings.simplefilter("ignore")
        if recurrent:
            # The dynamo exporter decomposes nn.GRU/nn.LSTM with the example's sequence length baked
            # into a Reshape (verify caught it: a length-9 input fails); the TorchScript exporter emits
            # ONNX's own LSTM/GRU/RNN ops, which keep the length symbolic.
            axes = {var: {i: f"{var}_dim{i}" for i in dims} for var, dims in dynamic.items()}
            axes.update(
                {
                    o: {i: f"{t.node.name}_dim{i}" for i, s in enumerate(t.shape) if s is None}
                    for o, t in zip(_output_names(model), model.outputs)
                }
            )
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                input_names=names,
                output_names=_output_names(model),
                dynamic_axes=axes,
                opset_version=17,
            )
        else:
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=True,
                external_data=large,  # beside the file as <file>.data (renamed by _adopt_data)
                dynamic_shapes=dynamic,
                input_names=names,
                output_names=_output_names(model),
                verbose=False,
            )


def _adopt_data(path: Path, stem: str) -> list[str]:
    """Give the external data files a framework's exporter wrote beside ``path`` (torch: ``<file>.data``)
    twinnet's names, ``<stem>.<sha256[:16]>.onnx.data`` (hashed as read, so the name says what is in it),
    and point the file's tensors at them; returns those names (none when every weight is inside)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    entries = [entry for tensor in _tensors(proto.graph) for entry in tensor.external_data if entry.key == "location"]
    if not entries:
        return []
    names = {}
    for location in sorted({entry.value for entry in entries}):
        source = path.parent / location
        if Path(location).name != location or not source.is_file():
            raise UnsupportedError(f"the exporter wrote external data twinnet cannot place: {location!r}")
        digest = hashlib.sha256()
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        names[location] = f"{stem}.{digest.hexdigest()[:16]}.onnx.data"
        os.replace(source, path.parent / names[location])
    for entry in entries:
        entry.value = names[entry.value]
    onnx.save(proto, str(path))  # the graph only: its weights are in the data files
    return sorted(set(names.values()))


def _tensors(graph):
    """Every tensor of an ONNX graph: its initializers and the tensors of its nodes' attributes, subgraphs
    included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for sub in [attribute.g] if attribute.HasField("g") else []:
                yield from _tensors(sub)
            for sub in attribute.graphs:
                yield from _tensors(sub)


def _export_keras(model, path: Path, km=None, large: bool = False) -> None:
    from ..backends.keras import to_keras
    from .tf2onnx_ops import register

    register()

    km = km if km is not None else to_keras(model)
    layouts = [keras_layout(t.layout) for t in model.inputs]
    xs = example_inputs(model, layouts=layouts)
    km(xs if len(xs) > 1 else xs[0])  # tf2onnx needs a model that has been called once
    # tf2onnx logs an op it cannot convert (at ERROR, on stderr) and writes a file that onnx.checker
    # then rejects for a less telling reason: keep its log off stderr and fail with what it said.
    log, collected = logging.getLogger("tf2onnx"), _Collect()
    log.addHandler(collected)
    propagate, log.propagate = log.propagate, False
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if large:  # Keras's export writes one protobuf message: the same conversion, its data beside
                _export_keras_large(km, path)
            else:
                km.export(str(path), format="onnx", verbose=False)
    finally:
        log.removeHandler(collected)
        log.propagate = propagate
    if collected.messages:
        import onnx

        try:  # errors tf2onnx recovered from are no reason to fail
            onnx.checker.check_model(str(path), full_check=True)
        except Exception as e:
            raise RuntimeError(f"tf2onnx: {'; '.join(collected.messages[:3])}") from e


def _export_keras_large(km, path: Path) -> None:
    """What ``km.export(path, format="onnx")`` does (the same concrete function, tf2onnx's conversion and
    Keras's fixes to it), with tf2onnx's ``large_model`` storage: the tensors it keeps apart are written
    to ``<file>.data`` (4096-byte aligned), which :func:`_adopt_data` then names. Keras's ``export`` has
    no such option, so this reaches into ``keras.src.export``; a Keras without it is a clear error."""
    import onnx
    import tf2onnx
    from keras import tree

    try:
        from keras.src.export.export_utils import get_input_signature, make_tf_tensor_spec
        from keras.src.export.onnx import get_concrete_fn
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError as e:
        raise UnsupportedError(f"this Keras cannot export a model past the external data threshold: {e}") from e
    signature = tree.map_structure(make_tf_tensor_spec, get_input_signature(km))
    patch_tf2onnx()
    proto, storage = tf2onnx.convert.from_function(get_concrete_fn(km, signature), signature, large_model=True)
    data = path.parent / f"{path.name}.data"
    blobs, offset = storage.name_to_tensor_data, 0
    with open(data, "wb") as f:
        for tensor in _tensors(proto.graph):
            entries = {entry.key: entry for entry in tensor.external_data}
            if "location" not in entries:
                continue
            blob = blobs[entries["location"].value]
            f.write(b"\0" * (-offset % 4096))
            offset += -offset % 4096
            f.write(blob)
            del tensor.external_data[:]
            for key, value in (("location", data.name), ("offset", str(offset)), ("length", str(len(blob)))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            offset += len(blob)
    blobs.clear()
    onnx.save(proto, str(path))


class _Collect(logging.Handler):
    """Keeps the messages of ERROR log records."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def keras_layout(layout: str) -> str:
    """How Keras holds a declared layout at its inputs and outputs: the batch axis first."""
    return "N" + layout.replace("N", "")


def _output_names(model):
    # Suffixed so they cannot clash with the exporter's names for internal values (a module named
    # like its output layer made the dynamo exporter reuse "conv2d" for two values).
    return [f"{t.node.name}:out" for t in model.outputs]
