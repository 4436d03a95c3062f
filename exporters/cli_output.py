"""What the ``twinnet`` command line prints: tables (rich when available), reports, JSON."""

from __future__ import annotations

import math
import sys

_NUMERIC = {"Params", "max abs diff", "max rel diff"}


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
    """A verify :class:`~twinnet.exporters.verify.Report` as a table: the rows of ``report.table_rows()``,
    the same ones ``report.table()`` shows, so the two cannot drift."""
    lines = report.table_footer()
    lines[-1:-1] = list(footer)  # the caller's lines go above the verdict
    print_table(title, report.TABLE_HEADERS, report.table_rows(), lines)


def print_json_error(e: BaseException, problems) -> None:
    import json
    from dataclasses import asdict, is_dataclass

    listed = [asdict(p) if is_dataclass(p) else {"problem": str(p)} for p in problems or ()]
    print(
        json.dumps(
            {"ok": False, "error": one_line(str(e).split("\n", 1)[0] if problems else e), "problems": listed}, indent=2
        )
    )


def one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip()) or "(no message)"
