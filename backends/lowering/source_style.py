"""Generated source written as ruff format writes it (the project's ``[tool.ruff]``: line length 120).

The emitters build lines with ``repr`` and f-strings; :func:`tidy` gives the
finished module the project's style, so an emitted file passes ``ruff check``
and ``ruff format --check`` unchanged:

- string literals in double quotes (unless the text holds a double quote);
- a line over 120 characters is split at its first bracket, one item per line
  with a trailing comma (the "magic trailing comma" that keeps ruff format from
  joining them again), recursively where an item is still too long;
- a comment over 120 characters wraps onto further comment lines.

>>> tidy("x = f('a', \\"b\\")")
'x = f("a", "b")\\n'
>>> print(tidy("y = g(" + ", ".join(["argument"] * 14) + ")(x)"), end="")
y = g(
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
    argument,
)(x)
"""

from __future__ import annotations

import io
import textwrap
import tokenize

WIDTH = 120
_OPEN, _CLOSE = "([{", ")]}"


def tidy(source: str, width: int = WIDTH) -> str:
    """``source`` with double-quoted strings and no line longer than ``width`` (see the module docstring)."""
    source = double_quoted(source)
    inside = _in_long_strings(source)
    lines = []
    for row, line in enumerate(source.splitlines(), 1):
        lines += [line] if row in inside else _wrapped(line, width)
    return "\n".join(lines) + "\n"


def _in_long_strings(source: str) -> set[int]:
    """Rows (1-based) of the lines a multi-line string (a docstring) spans: never split."""
    rows: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and tok.start[0] != tok.end[0]:
            rows.update(range(tok.start[0], tok.end[0] + 1))
    return rows


def double_quoted(source: str) -> str:
    """``source`` with each single-quoted string literal double-quoted, where that needs no escape."""
    lines = source.splitlines(keepends=True)
    edits = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING or tok.start[0] != tok.end[0]:
            continue
        text = tok.string
        prefix = text[: len(text) - len(text.lstrip("rbuRBUfF"))]
        body = text[len(prefix) :]
        if body.startswith("'''") or not body.startswith("'"):
            continue
        inner = body[1:-1]
        if '"' in inner or "\\'" in inner:
            continue
        edits.append((tok.start, tok.end, f'{prefix}"{inner}"'))
    for (row, start), (_, end), new in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines)


def _wrapped(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    if line.lstrip().startswith("#"):
        return textwrap.wrap(
            line.lstrip()[1:].strip(),
            width - len(indent) - 2,
            initial_indent=indent + "# ",
            subsequent_indent=indent + "# ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    span = _first_bracket(line)
    if span is None:  # nothing to split at (a long string): leave it to the reader
        return [line]
    start, end = span
    items = [item.strip() for item in _split_top(line[start + 1 : end])]
    items = [item for item in items if item]
    out = [line[: start + 1]]
    before = line[:start].rstrip()
    # a grouping parenthesis ("(a - b) / c"), not a call, tuple or list: a trailing comma would make it a tuple
    grouping = line[start] == "(" and len(items) == 1 and not (before[-1:].isalnum() or before[-1:] in "_)]")
    for item in items:
        out += _wrapped(f"{indent}    {item}{'' if grouping else ','}", width)
    return out + [indent + line[end:]]


def _code(text: str):
    """``(index, char)`` of each character of ``text`` outside string literals (``#`` included)."""
    quote, i = "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        else:
            yield i, ch
        i += 1


def _first_bracket(line: str) -> tuple[int, int] | None:
    """(open, close) of the first bracket pair with something inside, outside string literals."""
    stack = []
    for i, ch in _code(line):
        if ch == "#":
            return None
        if ch in _OPEN:
            stack.append(i)
        elif ch in _CLOSE and stack:
            start = stack.pop()
            if not stack and i > start + 1:
                return start, i
    return None


def _split_top(text: str) -> list[str]:
    """``text`` split at its top-level commas (outside brackets and strings)."""
    parts, depth, begin = [], 0, 0
    for i, ch in _code(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[begin:i])
            begin = i + 1
    return parts + [text[begin:]]
