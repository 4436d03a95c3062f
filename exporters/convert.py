"""``convert``: any supported model -> standalone PyTorch or Keras source and weights, verified against the source.

Steps (each a progress stage):

1. **import**: SRC is read into the IR by its entry in
   :data:`twinnet.exporters.sources.SOURCES`. Anything the IR cannot represent stops
   the conversion here with one :class:`twinnet.ir.UnsupportedError` listing every
   problem; nothing is written.
2. **emit**: the target's source (``<name>.py``), its weights
   (``<name>.safetensors`` for torch, ``<name>.weights.h5`` for Keras) and the
   IR file (``<name>.twinnet.safetensors``) are written to a fresh temporary
   folder beside OUT.
3. **compile**, **export** and **compare**: :func:`twinnet.exporters.verify` runs, on the same
   inputs, the *source* model by its own framework (``source-keras``, ...),
   the *emitted file* just written, loaded as a user would load it
   (``emitted-torch``), and the IR's own paths: by default only ``onnx-ir``, the
   ONNX file written straight from the IR (:data:`~twinnet.exporters.verify.CONVERT_PATHS`);
   ``paths="all"`` adds ``keras``, ``torch``, ``onnx-keras`` and ``onnx-torch``.
   Every pair is compared.
4. The files are moved into OUT (one rename of the folder when OUT does not
   exist yet, else one atomic rename per file) only when every comparison
   passed, or when ``keep_failed`` is set. A failed conversion leaves OUT
   as it was. Files an earlier conversion of the same model wrote there for
   another target (``<name>.weights.h5`` beside a new torch ``<name>.py``)
   are removed, not refused; no other file in OUT is touched.

The model is lowered once for the target: the emitted file, its weights, the
I/O layouts the emitted file is run with and verify's own path for the target
(without ``native_io``, compiled only when that path runs) all come from that one
program, which is let go once they are made. Once the IR file is written, the model's weights are read-only
views of it (memory-mapped on POSIX), as :func:`twinnet.load` gives them. ``Conversion.profile`` holds each
stage's wall time, CPU time and the peak resident memory so far.

>>> # result = convert("resnet.keras", "torch", "out/")   # or convert(keras_model, "torch", "out/")
>>> # print(result.report.table()); assert result.ok; result.files
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import shutil
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path

from ..ir.errors import ConfigError
from ..ir.precision import check_precision
from ..ir.serde import load as ir_load
from .memory import release_memory, weight_bytes
from .progress import QUIET, Stopwatch
from .sources import Source, from_object, load_source
from .targets import FRAMEWORKS, TARGETS
from .verify import CONVERT_PATHS, Report, checked_device, resolve_paths, verify


@dataclass
class Conversion:
    """The result of :func:`convert`: what was converted, where it went, and the verification report."""

    model: object  # the ir.Model
    source: str  # source kind: keras, onnx, torch, ir
    target: str  # torch or keras
    report: Report
    out_dir: Path | None = None  # None when nothing was written (verification failed)
    files: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    #: stage -> {"wall_s", "cpu_s", "peak_rss_mb"} (peak resident memory of the process so far)
    profile: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.report.ok

    def to_dict(self) -> dict:
        return {
            "model": self.model.name,
            "source": self.source,
            "target": self.target,
            "ok": self.ok,
            "out_dir": None if self.out_dir is None else str(self.out_dir),
            "files": list(self.files),
            "seconds": dict(self.seconds),
            "profile": {k: dict(v) for k, v in self.profile.items()},
            "report": self.report.to_dict(),
        }


def convert(
    src,
    to: str,
    out_dir,
    *,
    native_io: bool = False,
    atol: float | None = None,
    rtol: float | None = None,
    batch_sizes=(1, 2),
    seq_lens=(5, 9),
    paths=CONVERT_PATHS,
    keep_failed: bool = False,
    progress=QUIET,
    randomize: bool = False,
    inputs=None,
    dtype: str | None = None,
    device: str | None = None,
) -> Conversion:
    """Convert SRC to ``to`` ("torch" or "keras") in ``out_dir`` and verify it against SRC.

    Args:
        src: a path (``.keras``, ``.onnx``, ``.json``, ``.safetensors``), a
            ``"FILE.py:FUNCTION"`` string (runs FILE.py), a model object (an
            ``twinnet.Model``, a ``keras.Model``, or ``(torch module, example_inputs)``),
            or a :class:`~twinnet.exporters.sources.Source` already loaded.
        to: the target framework.
        out_dir: the folder to write ``<name>.py``, its weights and the IR file to.
        native_io: the emitted model takes/returns the framework's own layout.
        atol, rtol, batch_sizes, seq_lens: as for :func:`twinnet.exporters.verify`; the batch sizes default to
            1 and 2 (two sizes, so a frozen batch cannot pass, kept small: a Keras source model holds every
            layer's output while it runs, some 160 MiB per 224-px ResNet50 image under the torch backend).
        paths: the IR's own verify paths to run besides the source and the emitted file (default
            ``("onnx-ir",)``; ``"all"`` adds both frameworks' compiled models and their ONNX exports).
        keep_failed: write OUT even when a comparison fails (to inspect it).
        randomize: also verify a copy with random biases, scales and normalisation statistics
            (:mod:`twinnet.exporters.randomize`): the IR's paths, and the emitted file loaded with the
            copy's weights; the source model runs with its own weights only.
        inputs: the user's sample inputs (an ``.npz`` file, ``{input name: array}`` or arrays), as for
            :func:`twinnet.exporters.verify`, instead of seeded ones.
        progress: an :class:`twinnet.exporters.progress.Progress` (default: silent).
        dtype: the precision to convert to, ``"float32"``, ``"float16"`` or ``"bfloat16"`` (default: the
            source's); the emitted model is built in it and checked against the source at its tolerances
            (:mod:`twinnet.exporters.tolerances`).
        device: where verify runs the IR's torch paths (default the CPU; ``"cuda"``...); the source model
            and the emitted file run on the CPU.

    Returns:
        a :class:`Conversion`; ``ok`` is True when every comparison passed (``report.informative``
        says whether they could have failed).

    Raises:
        ir.UnsupportedError: SRC holds something the IR cannot represent (every
            problem listed); nothing is written.
        ir.IRError: SRC cannot be read (:class:`~twinnet.exporters.sources.SourceError`) or an option is wrong.
    """
    if to not in TARGETS:
        raise ConfigError(f"target must be one of {FRAMEWORKS}, got {to!r}")
    target = TARGETS[to]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{str(out)!r} exists and is not a folder")
    paths = resolve_paths(paths)
    if dtype is not None:
        dtype = check_precision(dtype)
    device = checked_device(device)  # an unknown device, or a GPU this machine lacks, before any work
    watch = Stopwatch()
    with watch.stage("import"), progress.stage("import") as step:
        if isinstance(src, Source):
            source = src
        elif isinstance(src, (str, os.PathLike)):
            source = load_source(os.fspath(src))
        else:
            source = from_object(src, "convert")
        step()
    model = source.model
    if dtype is not None and dtype != model.dtype:  # a copy (same graph and weights) in the precision asked for
        model = copy.copy(model)
        model.dtype = dtype
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.twinnet-", dir=out.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; OUT should get the usual permissions
    try:
        with watch.stage("emit"), progress.stage("emit", total=1) as step:
            program = target.lower(model, native_io=native_io)  # the one lowering for the target
            files = write_target(model, to, staging, native_io=native_io, program=program)
            # the IR file just written holds these very weights: the model reads them from there on (read-only
            # views of a memory map, paged in when a path reads them) and the copy read from the source goes,
            # so it does not sit beside the source model while that runs
            model.set_weights(ir_load(staging / files[2]).weights, copy=False)
            step(to)
            # verify's own path for the target is the same program compiled from the IR (not the emitted file),
            # built only when that path, or the ONNX export through it, is asked for
            wanted = not native_io and (to in paths or f"onnx-{to}" in paths)
            compiled = {to: target.compile(program, model, device=device)} if wanted else {}
            # the lowered weights are written: only the program's layouts are needed from here on
            program = dataclasses.replace(program, weights={})
            release_memory(collect=False, size=weight_bytes(model))
        # verify lets go of each once it has run (Held.release), so neither the source model nor the emitted
        # one sits beside the paths it builds next; the emitted file is loaded when it first runs, after the
        # source model has run and been let go, so the two never hold their weights at the same time
        size = weight_bytes(model)
        references = {f"source-{source.kind}": Held(source.run, size=size)} if source.run is not None else {}
        references[f"emitted-{to}"] = Held(
            load=functools.partial(load_emitted, model, to, staging, native_io=native_io, program=program),
            collect=to != "torch",  # a torch module holds no reference cycles: freed as soon as it is let go
            size=size,
        )
        del program  # verify holds what it runs
        source = dataclasses.replace(source, run=None)  # only the Held reference keeps the source model
        with watch.stage("verify"):
            report = verify(
                model,
                atol=atol,
                rtol=rtol,
                batch_sizes=batch_sizes,
                seq_lens=seq_lens,
                paths=paths,
                references=references,
                make_inputs=source.make_inputs,
                progress=progress,
                compiled=compiled,
                inputs=inputs,
                randomize=randomize,
                randomized_references=randomized_emitted(to, staging, native_io),
                device=device,
            )
        shutil.rmtree(staging / "randomized", ignore_errors=True)  # never published
        seconds = watch.seconds()
        result = Conversion(model, source.kind, to, report, seconds=seconds, profile=watch.stages)
        if report.ok or keep_failed:
            result.out_dir, result.files = out, publish(staging, out, files, stale=written_by_twinnet(model.name))
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class Held:
    """A runner that :func:`~twinnet.exporters.verify.verify` lets go of once it has run (``release``).

    ``load``: instead of ``run``, a function making the runner, called when it first runs. ``collect``: run
    the cycle collector on release (a Keras model's layers refer to each other). ``size``: its weights' bytes
    (a small model's release is skipped: :data:`~twinnet.exporters.memory.WORTH_RELEASING`)."""

    def __init__(self, run=None, *, load=None, collect: bool = True, size: int | None = None):
        self.run, self.load, self.collect, self.size = run, load, collect, size

    def __call__(self, xs):
        if self.run is None and self.load is not None:
            self.run, self.load = self.load(), None
        return self.run(xs)

    def release(self) -> None:
        self.run = self.load = None
        # the model it held is garbage now: give its memory back before the next one loads
        release_memory(self.collect, self.size)


def write_target(model, to: str, folder: Path, *, native_io: bool = False, program=None) -> list[str]:
    """Write the emitted source, its weights and the IR file into ``folder``; returns the file names.

    ``program``: the model already lowered for ``to`` (with ``native_io``), so it is not lowered again."""
    from .. import ir
    from ..backends import emit

    emit(model, to, out_dir=folder, native_io=native_io, program=program)
    ir_file = ir.save(model, folder / f"{model.name}.twinnet.safetensors")
    return [f"{model.name}.py", f"{model.name}{TARGETS[to].weights_suffix}", ir_file.name]


def load_emitted(model, to: str, folder: Path, *, native_io: bool = False, program=None):
    """Load the emitted file and its weights the way a user would; returns a declared-layout runner.

    Its input/output layouts are those of ``program``, the lowering the file was written from (lowered
    here only when not given)."""
    target = TARGETS[to]
    if program is None:
        program = target.lower(model, native_io=native_io)
    path = folder / f"{model.name}.py"
    module = types.ModuleType(f"twinnet_emitted_{model.name}")
    module.__file__ = str(path)
    # Executed from its text rather than imported, so no __pycache__ lands in the output folder.
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)  # the file we generated just now
    weights = str(folder / f"{model.name}{target.weights_suffix}")
    if to == "torch":
        import torch

        from ..backends.torch.compile import class_name

        # built without storage (the meta device): load_weights assigns the file's tensors, so nothing is
        # allocated and randomly initialised only to be replaced (load_state_dict is strict: a parameter or
        # buffer the file lacks is an error, not a tensor left without data)
        with torch.device("meta"):
            net = getattr(module, class_name(model.name))()
        net = module.load_weights(net, weights).eval()
    else:
        net = getattr(module, f"build_{model.name}")()
        net.load_weights(weights)
    return target.program_runner(net, model, program)


def randomized_emitted(to: str, folder: Path, native_io: bool):
    """``(randomized copy) -> {"emitted-<to>": runner}``: the file emitted into ``folder``, loaded with the
    copy's weights (written to ``folder/randomized`` beside a copy of that very source file)."""

    def references(copy) -> dict:
        sub = folder / "randomized"
        sub.mkdir(exist_ok=True)
        program = TARGETS[to].lower(copy, native_io=native_io)
        write_target(copy, to, sub, native_io=native_io, program=program)
        shutil.copyfile(folder / f"{copy.name}.py", sub / f"{copy.name}.py")  # the file being converted
        return {f"emitted-{to}": load_emitted(copy, to, sub, native_io=native_io, program=program)}

    return references


def written_by_twinnet(name: str) -> list[str]:
    """Every file name a conversion of model ``name`` writes, whatever the target."""
    return [f"{name}.py", f"{name}.twinnet.safetensors", *(f"{name}{t.weights_suffix}" for t in TARGETS.values())]


def publish(staging: Path, out: Path, files: list[str], *, stale=()) -> list[str]:
    """Move the staged files into ``out``: one rename when ``out`` is new, else one atomic rename per file.

    Then the names in ``stale`` that are not among ``files`` are removed from ``out``: what an earlier
    conversion of the same model wrote there (another target's weights beside the new source would
    belong to no file). twinnet removes them rather than refusing; no other file is touched."""
    if not out.exists():
        try:
            staging.rename(out)
            return [str(out / f) for f in files]
        except OSError:  # created meanwhile, or another file system: fall back to per-file renames
            out.mkdir(parents=True, exist_ok=True)
    for f in files:
        (staging / f).replace(out / f)
    for f in stale:
        if f not in files and (out / f).is_file():
            (out / f).unlink()
    return [str(out / f) for f in files]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
