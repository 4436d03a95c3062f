"""Block code that differs only in integer literals becomes one parametrised class / function.

A block kind's instances (and several kinds of one structure: a ResNet
stage's repeated blocks, ``Conv2Block2`` ... ``Conv5Block2``) often lower to
code that is the same but for channel counts: ``nn.Conv2d(256, 64, ...)`` in
one, ``nn.Conv2d(512, 128, ...)`` in the other. Here such code is compared
with its integer literals masked (:func:`skeleton`); code with the same
skeleton is written once, and each literal that differs between instances
becomes a parameter (:func:`parametrise`):

- a literal is a bare integer (``64``) or a tuple of integers (``(3, 3)``),
  outside string literals (layer names, modes) -- never a float (an epsilon, a
  rate), a name or a keyword; correctness does not depend on what a literal
  means, since each instance passes back exactly the values it had;
- a literal equal in every instance stays a literal; literals whose values
  agree in every instance (a conv's out channels and the next BatchNorm's
  features) share one parameter;
- a parameter is named after its first use: ``<owner>_<argument>``, where the
  owner is the attribute (torch ``__init__``) or the variable the line
  defines, and the argument the keyword (``conv_2_stride``) or the
  positional argument's name from the backend's table (``nn.Conv2d``'s
  first is ``in_channels`` -> ``conv_1_in_channels``); failing both,
  ``<owner>_arg<i>``, ``<owner>_index`` (a subscript) or ``<owner>_value``.

Positional arguments are a backend's business (its ``ARG_NAMES`` table), so
this module imports no framework.

>>> skeleton("conv = nn.Conv2d(256, 64, kernel_size=(1, 1), eps=1e-05, name='b_2')")
"conv = nn.Conv2d(#, #, kernel_size=#, eps=1e-05, name='b_2')"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

_STRING = re.compile(r"('[^'\\]*'|\"[^\"\\]*\")")
# An all-integer tuple not called or subscripted, or a number (floats match whole, so "05" in 1e-05 is no literal).
_LITERAL = re.compile(
    r"(?<![\w)\].])\((?:\s*\d+\s*,)+(?:\s*\d+\s*)?\)"
    r"|(?<![\w.])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w.])"
)
_KEYWORD = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)")
MARK = "#"


def _masked(text: str) -> str:
    """``text`` with each string literal's contents blanked, positions kept."""
    return _STRING.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], text)


def literals(text: str) -> list[tuple[int, int]]:
    """(start, end) of each integer literal of ``text`` (see the module docstring), in order.

    >>> text = "x = f(3, (1, 1), 0.5, 'a1')"
    >>> [text[a:b] for a, b in literals(text)]
    ['3', '(1, 1)']
    """
    return [m.span() for m in _LITERAL.finditer(_masked(text)) if not re.search(r"[.eE]", m.group(0))]


def skeleton(text: str) -> str:
    """``text`` with every integer literal replaced by ``#``."""
    out, last = [], 0
    for start, end in literals(text):
        out += [text[last:start], MARK]
        last = end
    return "".join(out + [text[last:]])


def describe(text: str, start: int, arg_names: dict[str, tuple[str, ...]]) -> str:
    """The argument a literal at ``start`` fills: a keyword, a positional name from ``arg_names``, ``arg<i>``,
    ``index`` or ``value`` (see the module docstring)."""
    code = _masked(text)
    depth = 0
    for i in range(start - 1, -1, -1):
        ch = code[i]
        if ch in ")]}":
            depth += 1
        elif ch in "([{" and depth:
            depth -= 1
        elif ch in "([{":
            before = code[:i].rstrip()
            called = bool(before) and (before[-1].isalnum() or before[-1] in "_)]")
            if ch == "[" and called:
                return "index"
            if ch == "(" and called:
                callee = re.search(r"[\w.]*$", before).group(0)
                position, arg = _argument(code[i + 1 : start])
                kw = _KEYWORD.match(arg)
                if kw:
                    return kw.group(1)
                names = arg_names.get(callee, ())
                return names[position] if position < len(names) else f"arg{position}"
    return "value"


def _argument(head: str) -> tuple[int, str]:
    """(index, text so far) of the argument being written at the end of ``head`` (a call's text after ``(``)."""
    depth, position, begin = 0, 0, 0
    for i, ch in enumerate(head):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            position, begin = position + 1, i + 1
    return position, head[begin:]


@dataclass
class Parametrised:
    """Texts with their varying literals replaced by parameters, and each instance's values for them."""

    texts: list[str]
    params: list[str]
    values: list[list[str]]  # per instance, one source literal per parameter
    in_texts: list[set[str]] = field(default_factory=list)  # per text, the parameters it uses


def parametrise(
    instances: list[list[str]],
    owners: list[str],
    taken: set[str],
    arg_names: dict[str, tuple[str, ...]],
    refs: list[Callable[[str], str]] | None = None,
) -> Parametrised:
    """Replace the literals that differ between ``instances`` (lists of texts with one skeleton) by parameters.

    Args:
        instances: per instance, its texts; all instances' texts have equal skeletons.
        owners: per text, the name a parameter first used in it is named after.
        taken: names a parameter must not take (locals, attributes, reserved); extended.
        arg_names: callee (``nn.Conv2d``) -> its positional argument names.
        refs: per text, how it reads a parameter (torch's ``forward`` reads ``self.<param>``); default the name.

    >>> p = parametrise([["a = f(3, 1)", "b = g(a, 3)"], ["a = f(5, 1)", "b = g(a, 5)"]], ["a", "b"], set(), {})
    >>> p.texts, p.params, p.values
    (['a = f(a_arg0, 1)', 'b = g(a, a_arg0)'], ['a_arg0'], [['3'], ['5']])
    """
    first = instances[0]
    found = [[[text[a:b] for a, b in literals(text)] for text in inst] for inst in instances]
    by_values: dict[tuple[str, ...], str] = {}  # the values a parameter takes, per instance -> its name
    texts, in_texts = [], []
    for k, text in enumerate(first):
        out, last, used = [], 0, set()
        for j, (start, end) in enumerate(literals(text)):
            values = tuple(inst[k][j] for inst in found)
            out.append(text[last:start])
            last = end
            if len(set(values)) == 1:  # the same in every instance: stays a literal
                out.append(text[start:end])
                continue
            if values not in by_values:
                base = f"{owners[k]}_{describe(text, start, arg_names)}"
                name, n = base, 1
                while name in taken:
                    name, n = f"{base}_{n}", n + 1
                taken.add(name)
                by_values[values] = name
            used.add(by_values[values])
            out.append(refs[k](by_values[values]) if refs else by_values[values])
        texts.append("".join(out + [text[last:]]))
        in_texts.append(used)
    values = [[column[i] for column in by_values] for i in range(len(instances))]
    return Parametrised(texts, list(by_values.values()), values, in_texts)
