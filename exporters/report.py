"""The verifier's result: one :class:`Comparison` row per output, pair of paths and input size, gathered in
a :class:`Report` that prints as a table and serialises with ``to_dict``; :func:`compare` makes one row's
figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .informative import UNSEEN, uninformative_outputs


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
    dtype: str = "float32"  # the model's precision: the keras and torch paths ran in it
    device: str = "cpu"  # where the torch paths ran

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
            "dtype": self.dtype,
            "device": self.device,
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

    def tolerance_text(self) -> str:
        """``atol=1e-05 rtol=0.0001``; for a half-precision model ``atol=0.01 x peak ... dtype=float16`` (atol
        relative to each output's peak magnitude); the device where it is not the CPU."""
        text = f"atol={self.atol:g}{' x peak' if self.dtype != 'float32' else ''} rtol={self.rtol:g}"
        text += f" dtype={self.dtype}" if self.dtype != "float32" else ""
        return text + (f" device={self.device}" if self.device != "cpu" else "")

    def table(self) -> str:
        """Plain-text table: worst case per output and pair (:meth:`table_rows`), then :meth:`table_footer`."""
        head, body = self.TABLE_HEADERS, self.table_rows()
        widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
        lines = [
            f"verify {self.model}: {self.tolerance_text()}",
            "  ".join(h.ljust(w) for h, w in zip(head, widths)),
        ]
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in body]
        return "\n".join(lines + self.table_footer())


def compare(
    a: np.ndarray, b: np.ndarray, atol: float, rtol: float, scaled: bool = False
) -> tuple[float, float, bool, str]:
    """(max abs diff, max rel diff, ok, note) of two arrays of the same shape; ``scaled``: ``atol`` is relative
    to the larger array's peak magnitude (half precision, :mod:`twinnet.exporters.tolerances`)."""
    if a.shape != b.shape:
        return float("inf"), float("inf"), False, f"shape {a.shape} vs {b.shape}"
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bad = [name for name, x in (("first", a64), ("second", b64)) if not np.isfinite(x).all()]
    if bad:
        return float("nan"), float("nan"), False, f"NaN/Inf in the {' and '.join(bad)} path"
    diff = np.abs(a64 - b64)
    scale = np.maximum(np.abs(a64), np.abs(b64))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    if scaled:
        atol = atol * float(scale.max(initial=0.0))
    ok = bool((diff <= atol + rtol * scale).all())
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), ok, ""
