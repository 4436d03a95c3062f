"""``verify``: run every path on the same inputs and compare every pair.

Paths: ``keras`` and ``torch`` (the compiled models), ``onnx-ir`` (the ONNX
file written straight from the IR, in onnxruntime), and ``onnx-keras`` and
``onnx-torch`` (the ONNX files the frameworks' own exporters write, slow to
export: extra paths, run when asked for or with ``paths="all"``). Each path is
built once, run once per input size, and let go before the next one is built,
so only one of them holds the weights at a time. Inputs are seeded; every
output is brought back to its declared layout before comparing. A comparison
passes when ``|a - b| <= atol + rtol * max(|a|, |b|)`` everywhere and neither
side has NaN/Inf. On a failure between Keras and torch, the layer-by-layer
mode compiles both with every layer exposed and names the first layer whose
outputs differ.

Each row says whether it could have detected a difference (:mod:`twinnet.exporters.informative`);
``randomize=True`` also checks a copy with random biases and statistics (:mod:`twinnet.exporters.randomize`).
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from pathlib import Path

import numpy as np

from ..ir.errors import ConfigError, WeightError, show
from ..ir.graph import Model
from ..ir.pages import release_pages
from ..ir.precision import round_to
from .informative import Spread, judge
from .inputs import checked_inputs, given_inputs, model_inputs
from .memory import WORTH_RELEASING, onnx_session, release_memory, weight_bytes
from .onnx import export_onnx
from .progress import QUIET
from .report import Comparison, Report, compare
from .targets import TARGETS
from .tolerances import tolerances

#: every path verify can run: the frameworks of the targets table, and onnxruntime on the ONNX file each
#: writes and on the one twinnet writes straight from the IR (backends.onnx)
ALL_PATHS = (*sorted(TARGETS), *(f"onnx-{name}" for name in sorted(TARGETS)), "onnx-ir")
#: the paths :func:`verify` runs by default: both frameworks and the ONNX file written from the IR (the ONNX
#: files exported through Keras and torch take tens of seconds on a large model: ``paths="all"`` adds them)
PATHS = (*sorted(TARGETS), "onnx-ir")
#: the IR's paths ``convert`` runs by default besides the source model and the emitted file
CONVERT_PATHS = ("onnx-ir",)


def resolve_paths(paths) -> tuple:
    """``paths`` as a tuple of path names: ``"all"`` is :data:`ALL_PATHS`, anything else is kept as given."""
    return ALL_PATHS if isinstance(paths, str) and paths == "all" else paths


def _runner(model, name: str, workdir: Path, compiled: dict, device: str | None = None):
    """A function running path ``name`` on declared-layout inputs, returning declared-layout outputs.

    ``compiled`` holds the live model of each framework (compiled without ``native_io``), shared between
    the framework's own path and the ONNX file written from it, so each framework is lowered once. The
    torch path runs on ``device``; the ONNX paths of a half-precision model run its float32 reference
    (:func:`float32_reference`), on onnxruntime's CUDA provider when ``device`` is a GPU and it is installed."""
    if name in TARGETS:
        target = TARGETS[name]
        if name not in compiled:
            compiled[name] = target.compile(target.lower(model), model, device=device)
        return target.runner(compiled[name], model)

    via = name.split("-")[1]
    if model.dtype != "float32":  # the float32 reference: nothing compiled in half precision is reused
        model, compiled = float32_reference(model), {}
    if via in TARGETS and via not in compiled:
        compiled[via] = TARGETS[via].compile(TARGETS[via].lower(model), model)
    # a large model's weights go to an external data file that onnxruntime maps, rather than through a
    # protobuf message that the export, the checker and the session would each hold a copy of
    large = via == "ir" and weight_bytes(model) >= WORTH_RELEASING
    path = export_onnx(
        model,
        workdir / f"{model.name}.{via}.onnx",
        via=via,
        compiled=compiled.get(via),
        external_data_threshold=0 if large else None,
    )
    release_memory(size=weight_bytes(model))  # what the export built and let go, before the session loads
    if large:  # the export read every weight (some through transposed copies): the session maps its own
        release_pages(model.weights.values())
    session = onnx_session(str(path), providers=onnx_providers(device))
    io_layout = TARGETS[via].io_layout if via in TARGETS else (lambda layout: layout)

    def run(inputs):
        xs = [
            np.ascontiguousarray(x.transpose([t.layout.index(a) for a in io_layout(t.layout)]))
            for x, t in zip(inputs, model.inputs)
        ]
        outs = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})
        return [
            np.ascontiguousarray(o.transpose([io_layout(t.layout).index(a) for a in t.layout]))
            for o, t in zip(outs, model.outputs)
        ]

    return run


def verify(
    model,
    inputs=None,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    batch_sizes=(1, 3),
    seq_lens=(5, 9),
    paths=PATHS,
    localize: bool = True,
    seed: int = 0,
    references=None,
    make_inputs=None,
    progress=QUIET,
    compiled=None,
    randomize: bool = False,
    randomized_references=None,
    device: str | None = None,
) -> "Report":
    """Run ``model`` through every path on the same inputs and compare every pair.

    Args:
        model: an initialised ``twinnet.Model``.
        inputs: optional list of arrays (declared layout; one array for a
            one-input model), ``{input name: array}`` or an ``.npz`` file of those, to use instead of seeded
            random ones (then ``batch_sizes``/``seq_lens`` are ignored); give at
            least two samples, or no row can be informative.
        atol, rtol: tolerances (default: those of the model's precision, :mod:`twinnet.exporters.tolerances`;
            for a half-precision model ``atol`` is relative to each output's peak magnitude).
        batch_sizes: batch sizes to try; several, so a batch frozen to one size cannot pass.
        seq_lens: lengths for symbolic sequence axes (models without any use none).
        paths: which of ``keras``, ``torch``, ``onnx-keras``, ``onnx-torch``, ``onnx-ir`` to run, or ``"all"``
            (default :data:`PATHS`: ``keras``, ``torch`` and ``onnx-ir``; the ONNX files exported through
            Keras and torch are extra paths, as their exporters take tens of seconds on a large model).
        localize: on a keras/torch mismatch, find the first layer that diverges.
        references: optional ``{path name: function}`` of further paths, each
            taking the list of inputs and returning the list of outputs, both in
            the declared layout (e.g. the model a converter started from); they
            run on the same inputs, first, and are compared with every other path.
            Once one has run on every input, verify calls its ``release()`` where
            it has one, so the model it holds can go before the paths are built
            (``convert`` hands over the source model and the emitted file so).
        make_inputs: optional function ``(batch, seq, seed) -> list of arrays``
            (declared layouts) making each case's inputs instead of the seeded
            random ones, for a reference that only accepts some inputs (a torch
            source's key-padding masks, padded at the end of each row).
        progress: an :class:`twinnet.exporters.progress.Progress` told about the
            compile, export and compare stages (default: silent).
        compiled: optional ``{framework: live model}`` already compiled from ``model``
            (without ``native_io``), used by that framework's path and its ONNX
            export instead of compiling again (``convert`` passes what it lowered).
        randomize: also verify a copy of ``model`` with random biases, scales and
            normalisation statistics (:func:`twinnet.exporters.randomize.randomized`,
            seeded by ``seed``) on the same inputs; its rows have ``weights="randomized"``.
        randomized_references: optional function ``(copy) -> {path name: function}``
            giving the ``references`` to run with the randomized copy (default: none).
        device: where the torch paths run (``"cpu"`` by default, ``"cuda"``, ``"cuda:1"``, ...); Keras and the
            ONNX file written from the IR run on the CPU (onnxruntime's CUDA provider where installed and
            ``device`` is a GPU), so the GPU is compared with them.

    A half-precision model (``model.dtype``) runs in its precision on the keras and torch paths; its ONNX
    paths run the float32 reference (the weights rounded to the half grid, computed in float32), and every
    float input is rounded to the half grid first, so all paths see the same numbers.

    Returns:
        a :class:`Report`; ``report.ok`` is True when every pair agrees, ``report.informative``
        when every output varies enough with the input for the comparisons to mean something.

    Raises:
        ConfigError: ``model`` is not an ``twinnet.Model``, a path is unknown, a tolerance or size is not valid,
            or an input has the wrong dtype.
        ShapeError: ``inputs`` has the wrong number of arrays, or one has the wrong shape.
        WeightError: the model has no weights.

    >>> # report = verify(model); print(report.table()); assert report.ok
    """
    paths = resolve_paths(paths)
    check_arguments(model, paths, atol=atol, rtol=rtol, batch_sizes=batch_sizes, seq_lens=seq_lens)
    device = checked_device(device)
    tol = tolerances(model.dtype)
    atol, rtol = tol.atol if atol is None else atol, tol.rtol if rtol is None else rtol
    report = Report(model.name, atol, rtol, list(paths), dtype=model.dtype, device=device or "cpu")
    if not model.weights and model.weight_specs():
        raise WeightError(f"model {model.name!r} has no weights; call initialize(seed) first")
    symbolic = any(s is None for t in model.inputs for a, s in zip(t.layout, t.shape) if a != "N")
    if inputs is not None:
        cases = [(None, None, _on_grid(model, given_inputs(model, inputs)))]
    else:
        lens = seq_lens if symbolic else (None,)
        make = make_inputs or (lambda b, s, case_seed: model_inputs(model, b, s, seed=case_seed))
        cases = [
            (b, s, _on_grid(model, checked_inputs(model, make(b, s if s else 5, seed + i))))
            for i, (b, s) in enumerate(itertools.product(batch_sizes, lens))
        ]
    references = dict(references or {})
    report.paths = [*references, *paths]
    # path -> {case index: outputs}; each path is built, run on every case and let go before the next is built
    results: dict[str, dict[int, list]] = {}

    def run_all(name, run, step=None):
        results[name] = {}
        for i, (_, _, xs) in enumerate(cases):
            try:
                results[name][i] = run(xs)
            except Exception as e:
                report.errors.setdefault(name, f"{type(e).__name__}: {e}")
            if step is not None:
                step(name)

    with tempfile.TemporaryDirectory(prefix="twinnet-verify-") as tmp:
        # the given references run first: those with a release() let go of their model before any path is built
        if references:
            with progress.stage("run", total=len(cases) * len(references)) as step:
                for name in list(references):
                    run_all(name, references[name], step)
                    release = getattr(references.pop(name), "release", None)
                    if callable(release):
                        release()  # Held.release gives the memory back (exporters/memory.py)
        compiled = dict(compiled or {})
        stages = (
            ("compile", [p for p in paths if not p.startswith("onnx")]),
            ("export", [p for p in paths if p.startswith("onnx")]),
        )
        built = [name for _, names in stages for name in names]  # the order the paths are built in
        for stage, names in stages:
            if not names:
                continue
            with progress.stage(stage, total=len(names)) as step:
                for name in names:
                    try:
                        run = _runner(model, name, Path(tmp), compiled, device)
                    except Exception as e:  # a path that cannot even be built is reported, not raised
                        report.errors[name] = f"{type(e).__name__}: {e}"
                    else:
                        run_all(name, run)
                        del run  # the path's live model or session goes before the next one is built
                        _release(name, compiled, later=built[built.index(name) + 1 :])
                        # Keras models hold reference cycles
                        release_memory(collect=name != "onnx-ir", size=weight_bytes(model))
                    step(name)
        spread, judged = Spread(), []
        with progress.stage("compare"):
            order = [p for p in report.paths if p in results]
            for i, (batch, seq, xs) in enumerate(cases):
                b = batch if batch is not None else int(xs[0].shape[model.inputs[0].layout.index("N")])
                ran = [(name, results[name][i]) for name in order if i in results[name]]
                shapes = {
                    (name, t.node.name): spread.add(name, t.node.name, o, t.layout)
                    for name, outs in ran
                    for t, o in zip(model.outputs, outs)
                }
                for (p, outs_p), (q, outs_q) in itertools.combinations(ran, 2):
                    strict = tol.scaled and p.startswith("onnx") and q.startswith("onnx")  # two float32 paths
                    for t, a, c in zip(model.outputs, outs_p, outs_q):
                        if strict:
                            max_abs, max_rel, ok, note = compare(a, c, **vars(tolerances("float32")))
                        else:
                            max_abs, max_rel, ok, note = compare(a, c, atol, rtol, tol.scaled)
                        if note.startswith("NaN"):
                            note = note.replace("first", p).replace("second", q)
                        report.rows.append(Comparison(t.node.name, f"{p} vs {q}", b, seq, max_abs, max_rel, ok, note))
                        judged.append((report.rows[-1], p, q, shapes[(p, t.node.name)]))
        judge(judged, spread, atol, rtol)
        pair = _localisable(report) if localize and not report.ok else None
        if pair:
            report.divergence = first_divergence(model, cases[0][2], atol, rtol, pair, device)
    if randomize:
        from .randomize import verify_randomized

        options = dict(atol=atol, rtol=rtol, batch_sizes=batch_sizes, seq_lens=seq_lens, paths=paths, seed=seed)
        options.update(device=device)
        options.update(localize=localize, make_inputs=make_inputs, progress=progress)
        verify_randomized(report, model, None if inputs is None else cases[0][2], randomized_references, **options)
    return report


def _release(name: str, compiled: dict, later) -> None:
    """Let go of a framework's live model once no ``later`` path needs it (its ONNX export reuses it)."""
    framework = name.split("-")[-1]
    if framework in compiled and framework not in later and f"onnx-{framework}" not in later:
        del compiled[framework]


def _localisable(report) -> tuple[str, str] | None:
    """The pair to localise a mismatch with: keras vs torch where that pair fails, else the ONNX file written
    from the IR against a framework it disagrees with (each of the three can return every layer's output)."""
    failing = {r.pair for r in report.failures()}
    if "keras vs torch" in failing:
        return ("keras", "torch")
    for other in ("torch", "keras"):
        if f"{other} vs onnx-ir" in failing or f"onnx-ir vs {other}" in failing:
            return (other, "onnx-ir")
    return None


def check_arguments(model, paths, **options) -> None:
    """Refuse bad arguments to :func:`verify` with a ConfigError, before any framework is loaded."""
    if not isinstance(model, Model):
        raise ConfigError(f"verify expects an ir.Model, got {type(model).__name__}")
    if isinstance(paths, str) or not paths or any(p not in ALL_PATHS for p in paths):
        raise ConfigError(f"paths must be 'all' or one or more of {', '.join(ALL_PATHS)}, got {show(paths)}")
    for name in ("atol", "rtol"):
        value = options[name]
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not 0 <= value < float("inf")
        ):
            raise ConfigError(f"{name} must be a non-negative number, got {show(value)}")
    for name in ("batch_sizes", "seq_lens"):
        value = options[name]
        if (
            not isinstance(value, (list, tuple))
            or not value
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in value)
        ):
            raise ConfigError(f"{name} must be a non-empty tuple of positive ints, got {show(value)}")


def first_divergence(model, inputs, atol: float, rtol: float, pair=("keras", "torch"), device=None) -> str | None:
    """Name the first layer (in topological order) whose outputs differ between the two paths of ``pair``
    (``keras``, ``torch`` or ``onnx-ir``: the ones that can return every layer's output)."""
    first, second = (_layer_outputs(model, name, inputs, device) for name in pair)
    scaled = tolerances(model.dtype).scaled
    for node, a, b in zip(model.layers, first, second):
        max_abs, max_rel, ok, note = compare(a, b, atol, rtol, scaled)
        if not ok:
            return f"{node.label}: max abs diff {max_abs:.3e}, max rel diff {max_rel:.3e} {note}".strip()
    return None


def _layer_outputs(model, path: str, inputs, device=None) -> list[np.ndarray]:
    """Every layer's output on ``path``, each in its declared layout."""
    if path in TARGETS:  # lowered again, with every layer's output exposed
        target = TARGETS[path]
        program = target.lower(model, expose=True)
        net = target.compile(program, model, device=device)
        return target.runner(net, model, declared_outs=[n.spec.layout for n in model.layers])(inputs)

    with tempfile.TemporaryDirectory(prefix="twinnet-localise-") as tmp:  # a file: external data past 1 GiB
        path = export_onnx(float32_reference(model), Path(tmp) / f"{model.name}.onnx", via="ir", expose=True)
        session = onnx_session(str(path))
        return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def float32_reference(model: Model) -> Model:
    """A half-precision model's float32 reference: a copy (same graph) of precision float32 whose weights
    are the model's rounded to its half grid; ``model`` itself when it is float32."""
    if model.dtype == "float32":
        return model
    out = copy.copy(model)
    out.weights = {key: round_to(value, model.dtype) for key, value in model.weights.items()}
    out.dtype = "float32"
    return out


def _on_grid(model: Model, xs: list) -> list:
    """The float inputs rounded to a half-precision model's grid, so every path sees the same numbers."""
    return [round_to(np.asarray(x), model.dtype) for x in xs]


def checked_device(device) -> str | None:
    """``device`` checked (a ConfigError for an unknown one or one this machine lacks), None for the CPU."""
    if device is None or device == "cpu":
        return None
    from ..backends.torch.placement import check_device

    checked = check_device(device)
    return None if checked == "cpu" else checked


def onnx_providers(device: str | None) -> list[str]:
    """onnxruntime's providers for ``device``: CUDA first where the device is a GPU and the provider is installed."""
    import onnxruntime as ort

    if device and device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
