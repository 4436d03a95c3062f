"""What the ``twinnet`` command line prints: tables (rich when available), reports, JSON."""
from __future__ import annotations

import math
import sys

_NUMERIC = {"Params", "Batch", "Seq", "Max abs", "Max rel"}


def print_table(title: str, headers, rows, footer: list[str] = ()) -> None:
    """A table on stdout: with rich when it imports, else aligned plain text."""
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:
        widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
        print(title)
        for r in [headers, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        for line in footer:
            print(line)
        return
    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title=Text(title), title_justify="left")
    for h in headers:
        table.add_column(Text(h), justify="right" if h in _NUMERIC else "left")
    for r in rows:  # Text(), so brackets in names are not read as rich markup
        table.add_row(*(Text(str(c)) for c in r))
    console.print(table)
    for line in footer:
        console.print(Text(line))


def json_safe(value):
    """NaN/Inf (from a diverging comparison) as strings, so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def print_report(report, title: str, footer=()) -> None:
    rows_of = getattr(report, "summary_rows", None)  # worst case per output and pair
    rows = [(r.output, r.pair, r.batch, "-" if r.seq is None else r.seq, f"{r.max_abs:.2e}", f"{r.max_rel:.2e}",
             "pass" if r.ok else f"FAIL {getattr(r, 'note', '')}".strip())
            for r in (rows_of() if rows_of else report.rows)]
    lines = [f"{path}: FAILED TO RUN: {err}" for path, err in report.errors.items()]
    if report.divergence:
        lines.append(f"first diverging layer: {report.divergence}")
    lines += list(footer)
    lines.append("OK: every pair agrees" if report.ok else "FAILED")
    print_table(title, ("Output", "Pair", "Batch", "Seq", "Max abs", "Max rel", "Result"), rows, lines)


def print_json_error(e: BaseException, problems) -> None:
    import json
    from dataclasses import asdict, is_dataclass

    listed = [asdict(p) if is_dataclass(p) else {"problem": str(p)} for p in problems or ()]
    print(json.dumps({"ok": False, "error": one_line(str(e).split("\n", 1)[0] if problems else e),
                      "problems": listed}, indent=2))


def one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip()) or "(no message)"
