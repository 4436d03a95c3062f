"""``join_tables``: one table from several, each key claimed once.

Every backend joins its lowering table (IR class -> lowering function) from
its family files, and every importer its converter tables (Keras class, torch
module or function, ONNX op type -> converter) the same way; ``{**a, **b}``
would silently keep the last of two claims.
"""

from __future__ import annotations

from typing import Mapping

from ..ir.errors import ConfigError


def join_tables(*tables: Mapping, what: str = "table") -> dict:
    """One table holding every entry of ``tables``, in order.

    Args:
        tables: the tables to join, each a mapping of key -> function.
        what: what the joined table is, for the error (e.g. ``"torch MODULE_TABLE"``).

    Raises:
        ConfigError: a key appears in two tables; the message names the key and both functions.

    >>> join_tables({int: abs}, {str: len})
    {<class 'int'>: <built-in function abs>, <class 'str'>: <built-in function len>}
    """
    joined: dict = {}
    for table in tables:
        for key, fn in table.items():
            if key in joined:
                raise ConfigError(
                    f"{what}: {_label(key)} is claimed twice: by {_where(joined[key])} and by {_where(fn)}"
                )
            joined[key] = fn
    return joined


def _label(key) -> str:
    """A class or function by its qualified name, anything else (an op type) by its repr."""
    return getattr(key, "__qualname__", None) or repr(key)


def _where(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
