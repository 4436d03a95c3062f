"""IR names for what importers read: identifiers made from a source's own names, never reused."""

from __future__ import annotations

import re


def identifier(raw, *, strip: bool = False) -> str:
    """``raw`` made an IR name: ASCII letters, digits and _, not starting with a digit.

    ``strip`` drops leading and trailing underscores (ONNX names such as
    ``/conv/Conv`` would otherwise all start with one).

    >>> identifier("features.0"), identifier("/conv/Conv", strip=True), identifier("1x1")
    ('features_0', 'conv_Conv', '_1x1')
    """
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(raw))
    if strip:
        name = name.strip("_")
    name = name[:100] or "layer"
    return "_" + name if name[0].isdigit() else name


class Names:
    """Claims names: the source's own where free, else with a numeric suffix (``conv``, ``conv_1``)."""

    def __init__(self):
        self.used: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.used

    def claim(self, raw, *, strip: bool = False) -> str:
        base = identifier(raw, strip=strip)
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name
