"""``verify``: run every path on the same inputs and compare every pair.

Paths: ``keras`` and ``torch`` (the compiled models), ``onnx-keras`` and
``onnx-torch`` (the two ONNX files in onnxruntime). Inputs are seeded; every
output is brought back to its declared layout before comparing. A comparison
passes when ``|a - b| <= atol + rtol * max(|a|, |b|)`` everywhere and neither
side has NaN/Inf. On a failure between Keras and torch, the layer-by-layer
mode compiles both with every layer exposed and names the first layer whose
outputs differ.

Each row says whether it could have detected a difference (:mod:`twinnet.exporters.informative`);
``randomize=True`` also checks a copy with random biases and statistics (:mod:`twinnet.exporters.randomize`).
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..ir.errors import ConfigError, WeightError, show
from ..ir.graph import Model
from .informative import UNSEEN, Spread, judge, uninformative_outputs
from .inputs import checked_inputs, given_inputs, model_inputs
from .onnx import export_onnx
from .progress import QUIET
from .targets import TARGETS

#: every path verify can run: the frameworks of the targets table, and onnxruntime on the ONNX file each
#: writes and on the one twinnet writes straight from the IR (backends.onnx)
ALL_PATHS = (*sorted(TARGETS), *(f"onnx-{name}" for name in sorted(TARGETS)), "onnx-ir")
#: the paths verify runs by default: all of them
PATHS = ALL_PATHS


@dataclass
class Comparison:
    """One output compared between two paths at one input size."""

    output: str
    pair: str
    batch: int
    seq: int | None
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""
    weights: str = "real"  # or "randomized": the copy verify(randomize=True) checks too
    signal: float | None = None  # how many tolerances the output moves by across inputs (informative.py)
    informative: bool | None = None  # signal >= informative.MIN_SIGNAL on both paths


@dataclass
class Report:
    """The result of :func:`verify`: ``ok``, one row per output, pair and input size."""

    model: str
    atol: float
    rtol: float
    paths: list[str]
    rows: list[Comparison] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    divergence: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def informative(self) -> bool:
        """True when every output is checked informatively by the real or the randomized weights."""
        return not self.uninformative()

    def uninformative(self) -> list[str]:
        """The outputs no comparison could have told apart (see :mod:`twinnet.exporters.informative`)."""
        return uninformative_outputs(self.rows)

    def failures(self) -> list[Comparison]:
        return [r for r in self.rows if not r.ok]

    def summary_rows(self) -> list[Comparison]:
        """The worst row for each (output, pair, weights)."""
        worst: dict[tuple[str, str, str], Comparison] = {}
        for r in self.rows:
            key = (r.output, r.pair, r.weights)
            cur = worst.get(key)
            if cur is None or (cur.ok and not r.ok) or (cur.ok == r.ok and r.max_abs > cur.max_abs):
                worst[key] = r
        return list(worst.values())

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "ok": self.ok,
            "informative": self.informative,
            "uninformative": self.uninformative(),
            "atol": self.atol,
            "rtol": self.rtol,
            "paths": self.paths,
            "rows": [asdict(r) for r in self.rows],
            "errors": dict(self.errors),
            "divergence": self.divergence,
        }

    #: the columns of :meth:`table_rows`
    TABLE_HEADERS = ("output", "pair", "max abs diff", "max rel diff", "sizes", "result")

    def table_rows(self) -> list[tuple[str, ...]]:
        """The rows of every rendering of the report (:meth:`table`, the CLI's table): the worst case per
        output and pair, with the input sizes it was compared at; columns :attr:`TABLE_HEADERS`."""
        body = []
        for r in self.summary_rows():
            same = [c for c in self.rows if (c.output, c.pair, c.weights) == (r.output, r.pair, r.weights)]
            sizes = sorted({(c.batch, c.seq) for c in same})
            size_txt = " ".join(f"b{b}" + (f"/t{s}" if s else "") for b, s in sizes)
            body.append(
                (
                    r.output,
                    r.pair if r.weights == "real" else f"{r.pair} ({r.weights})",
                    f"{r.max_abs:.2e}",
                    f"{r.max_rel:.2e}",
                    size_txt,
                    ("FAIL " + r.note).strip() if not r.ok else "pass" if all(c.informative for c in same) else UNSEEN,
                )
            )
        return body

    def table_footer(self) -> list[str]:
        """The lines under the table: paths that failed to run, the first diverging layer, the verdict."""
        lines = [f"{path}: FAILED TO RUN: {err}" for path, err in self.errors.items()]
        if self.divergence:
            lines.append(f"first diverging layer: {self.divergence}")
        if self.ok and not self.informative:
            names = ", ".join(self.uninformative())
            lines.append(f"UNINFORMATIVE: every pair agrees, but {names} barely vary with the input (try --randomize)")
        else:
            lines.append("OK: every pair agrees" if self.ok else "FAILED")
        return lines

    def table(self) -> str:
        """Plain-text table: worst case per output and pair (:meth:`table_rows`), then :meth:`table_footer`."""
        head, body = self.TABLE_HEADERS, self.table_rows()
        widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
        lines = [
            f"verify {self.model}: atol={self.atol:g} rtol={self.rtol:g}",
            "  ".join(h.ljust(w) for h, w in zip(head, widths)),
        ]
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in body]
        return "\n".join(lines + self.table_footer())


def compare(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> tuple[float, float, bool, str]:
    """(max abs diff, max rel diff, ok, note) of two arrays of the same shape."""
    if a.shape != b.shape:
        return float("inf"), float("inf"), False, f"shape {a.shape} vs {b.shape}"
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bad = [name for name, x in (("first", a64), ("second", b64)) if not np.isfinite(x).all()]
    if bad:
        return float("nan"), float("nan"), False, f"NaN/Inf in the {' and '.join(bad)} path"
    diff = np.abs(a64 - b64)
    scale = np.maximum(np.abs(a64), np.abs(b64))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    ok = bool((diff <= atol + rtol * scale).all())
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), ok, ""


def _runner(model, name: str, workdir: Path, compiled: dict):
    """A function running path ``name`` on declared-layout inputs, returning declared-layout outputs.

    ``compiled`` holds the live model of each framework (compiled without ``native_io``), shared between
    the framework's own path and the ONNX file written from it, so each framework is lowered once."""
    if name in TARGETS:
        target = TARGETS[name]
        if name not in compiled:
            compiled[name] = target.compile(target.lower(model), model)
        return target.runner(compiled[name], model)
    import onnxruntime as ort

    via = name.split("-")[1]
    if via in TARGETS and via not in compiled:
        compiled[via] = TARGETS[via].compile(TARGETS[via].lower(model), model)
    path = export_onnx(model, workdir / f"{model.name}.{via}.onnx", via=via, compiled=compiled.get(via))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
    atol: float = 1e-5,
    rtol: float = 1e-4,
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
) -> "Report":
    """Run ``model`` through every path on the same inputs and compare every pair.

    Args:
        model: an initialised ``twinnet.Model``.
        inputs: optional list of arrays (declared layout; one array for a
            one-input model), ``{input name: array}`` or an ``.npz`` file of those, to use instead of seeded
            random ones (then ``batch_sizes``/``seq_lens`` are ignored); give at
            least two samples, or no row can be informative.
        atol, rtol: tolerances (float32 defaults).
        batch_sizes: batch sizes to try; several, so a batch frozen to one size cannot pass.
        seq_lens: lengths for symbolic sequence axes (models without any use none).
        paths: which of ``keras``, ``torch``, ``onnx-keras``, ``onnx-torch``, ``onnx-ir`` to run (default: all).
        localize: on a keras/torch mismatch, find the first layer that diverges.
        references: optional ``{path name: function}`` of further paths, each
            taking the list of inputs and returning the list of outputs, both in
            the declared layout (e.g. the model a converter started from); they
            run on the same inputs and are compared with every other path.
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
    check_arguments(model, paths, atol=atol, rtol=rtol, batch_sizes=batch_sizes, seq_lens=seq_lens)
    report = Report(model.name, atol, rtol, list(paths))
    if not model.weights and model.weight_specs():
        raise WeightError(f"model {model.name!r} has no weights; call initialize(seed) first")
    symbolic = any(s is None for t in model.inputs for a, s in zip(t.layout, t.shape) if a != "N")
    if inputs is not None:
        cases = [(None, None, given_inputs(model, inputs))]
    else:
        lens = seq_lens if symbolic else (None,)
        make = make_inputs or (lambda b, s, case_seed: model_inputs(model, b, s, seed=case_seed))
        cases = [
            (b, s, checked_inputs(model, make(b, s if s else 5, seed + i)))
            for i, (b, s) in enumerate(itertools.product(batch_sizes, lens))
        ]
    references = dict(references or {})
    report.paths = [*references, *paths]
    with tempfile.TemporaryDirectory(prefix="twinnet-verify-") as tmp:
        runners = dict(references)
        compiled = dict(compiled or {})
        for stage, names in (
            ("compile", [p for p in paths if not p.startswith("onnx")]),
            ("export", [p for p in paths if p.startswith("onnx")]),
        ):
            if not names:
                continue
            with progress.stage(stage, total=len(names)) as step:
                for name in names:
                    try:
                        runners[name] = _runner(model, name, Path(tmp), compiled)
                    except Exception as e:  # a path that cannot even be built is reported, not raised
                        report.errors[name] = f"{type(e).__name__}: {e}"
                    step(name)
        spread, judged = Spread(), []
        with progress.stage("compare", total=len(cases) * len(runners)) as step:
            for batch, seq, xs in cases:
                results = {}
                for name, run in runners.items():
                    try:
                        results[name] = run(xs)
                    except Exception as e:
                        report.errors.setdefault(name, f"{type(e).__name__}: {e}")
                    step(name)
                shapes = {
                    (name, t.node.name): spread.add(name, t.node.name, o, t.layout)
                    for name, outs in results.items()
                    for t, o in zip(model.outputs, outs)
                }
                b = batch if batch is not None else int(xs[0].shape[model.inputs[0].layout.index("N")])
                for (p, outs_p), (q, outs_q) in itertools.combinations(results.items(), 2):
                    for t, a, c in zip(model.outputs, outs_p, outs_q):
                        max_abs, max_rel, ok, note = compare(a, c, atol, rtol)
                        if note.startswith("NaN"):
                            note = note.replace("first", p).replace("second", q)
                        report.rows.append(Comparison(t.node.name, f"{p} vs {q}", b, seq, max_abs, max_rel, ok, note))
                        judged.append((report.rows[-1], p, q, shapes[(p, t.node.name)]))
        judge(judged, spread, atol, rtol)
        pair = _localisable(report, runners) if localize and not report.ok else None
        if pair:
            report.divergence = first_divergence(model, cases[0][2], atol, rtol, pair)
    if randomize:
        from .randomize import verify_randomized

        options = dict(atol=atol, rtol=rtol, batch_sizes=batch_sizes, seq_lens=seq_lens, paths=paths, seed=seed)
        options.update(localize=localize, make_inputs=make_inputs, progress=progress)
        verify_randomized(report, model, None if inputs is None else cases[0][2], randomized_references, **options)
    return report


def _localisable(report, runners) -> tuple[str, str] | None:
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
        raise ConfigError(f"paths must be one or more of {', '.join(ALL_PATHS)}, got {show(paths)}")
    for name in ("atol", "rtol"):
        value = options[name]
        if (
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


def first_divergence(model, inputs, atol: float, rtol: float, pair=("keras", "torch")) -> str | None:
    """Name the first layer (in topological order) whose outputs differ between the two paths of ``pair``
    (``keras``, ``torch`` or ``onnx-ir``: the ones that can return every layer's output)."""
    first, second = (_layer_outputs(model, name, inputs) for name in pair)
    for node, a, b in zip(model.layers, first, second):
        max_abs, max_rel, ok, note = compare(a, b, atol, rtol)
        if not ok:
            return f"{node.label}: max abs diff {max_abs:.3e}, max rel diff {max_rel:.3e} {note}".strip()
    return None


def _layer_outputs(model, path: str, inputs) -> list[np.ndarray]:
    """Every layer's output on ``path``, each in its declared layout."""
    if path in TARGETS:  # lowered again, with every layer's output exposed
        target = TARGETS[path]
        program = target.lower(model, expose=True)
        run = target.runner(target.compile(program, model), model, declared_outs=[n.spec.layout for n in model.layers])
        return run(inputs)
    import onnxruntime as ort

    from ..backends.onnx import to_onnx

    proto = to_onnx(model, expose=True)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})
