"""``join_tables``: a backend's lowering table from its family files, each IR class claimed once."""

from __future__ import annotations

from typing import Callable, Mapping

from ...ir.errors import ConfigError


def join_tables(*tables: Mapping[type, Callable]) -> dict[type, Callable]:
    """One table from several (IR layer class -> lowering function).

    Raises:
        ConfigError: an IR class appears in two tables (``{**a, **b}`` would silently keep the last one).

    >>> join_tables({int: abs}, {str: len})
    {<class 'int'>: <built-in function abs>, <class 'str'>: <built-in function len>}
    """
    joined: dict[type, Callable] = {}
    for table in tables:
        for cls, fn in table.items():
            if cls in joined:
                first, second = joined[cls], fn
                raise ConfigError(f"{cls.__name__} is claimed twice: by {_where(first)} and by {_where(second)}")
            joined[cls] = fn
    return joined


def _where(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
