"""Reading and renaming the names in lines of generated code (``a, b = expr``), for cutting blocks out of a program.

Lines are the backends' own output, so a small scan suffices: string literals are set aside, names are read
outside them, keyword argument names (``dim=1``) are not variables, and ``self.<name>`` is a torch module
attribute.
"""

from __future__ import annotations

import keyword
import re
from typing import Callable

_STRING = re.compile(r"('[^'\\]*'|\"[^\"\\]*\")")
_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?!\w)")


def defined(line: str) -> list[str]:
    """Variables a body line ``a, b = expr`` assigns (``_`` excluded)."""
    target = line.split(" = ", 1)[0]
    return [v.strip() for v in target.split(",") if v.strip() not in ("", "_")]


def used(line: str) -> set[str]:
    """Names a body line reads (outside string literals, not attributes, not keyword names)."""
    expr = line.split(" = ", 1)[1]
    code = _STRING.sub("''", expr)
    return {m.group(1) for m in _NAME.finditer(code) if not re.match(r"\s*=(?!=)", code[m.end() :])}


def attributes(line: str) -> set[str]:
    """Module attributes (``self.<name>``) a torch line uses."""
    return set(re.findall(r"(?<![\w.])self\.(\w+)", _STRING.sub("''", line)))


def rename(line: str, local: dict[str, str], attrs: dict[str, str], strings: Callable[[str], str]) -> str:
    """``line`` with variables and ``self.<attributes>`` renamed; string literals go through ``strings``."""
    target, expr = line.split(" = ", 1)
    target = ", ".join(local.get(v.strip(), v.strip()) for v in target.split(","))
    parts = _STRING.split(expr)
    for i, part in enumerate(parts):
        if i % 2:
            parts[i] = strings(part)
        else:  # keyword names (``dim=1``) are not variables
            parts[i] = re.sub(
                r"(?<![\w.])(self\.)?([A-Za-z_]\w*)(?!\w|\s*=[^=])",
                lambda m: (
                    ("self." + attrs.get(m.group(2), m.group(2))) if m.group(1) else local.get(m.group(2), m.group(2))
                ),
                part,
            )
    return f"{target} = {''.join(parts)}"


def local_names(outer: list[str], prefix: str, taken: set[str]) -> dict[str, str]:
    """Local names for ``outer`` names: ``prefix`` dropped, Keras apps' leading numbers moved last, keywords and
    ``taken`` names avoided (``taken`` grows with each name given)."""
    out = {}
    for name in outer:
        base = name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else name
        if base[0].isdigit():  # Keras apps number a block's layers first ("1_conv"): "conv_1" reads as a name
            head, _, rest = base.partition("_")
            base = f"{rest}_{head}" if rest and not rest[0].isdigit() else "v" + base
        base = base + "_" if keyword.iskeyword(base) else base
        local, k = base, 1
        while local in taken:
            local, k = f"{base}_{k}", k + 1
        taken.add(local)
        out[name] = local
    return out
