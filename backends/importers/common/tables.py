"""Joining converter tables (class, function or op type -> converter) into one, refusing a key claimed twice."""
from __future__ import annotations


def join_tables(*tables: dict, what: str) -> dict:
    """One table holding every entry of ``tables``.

    Args:
        tables: the tables to join, each a dict of key -> converter.
        what: what the joined table is, for the error (e.g. ``"torch MODULE_TABLE"``).

    Raises:
        ValueError: a key appears in two tables (the later would silently replace the earlier).

    >>> join_tables({"a": 1}, {"b": 2}, what="demo")
    {'a': 1, 'b': 2}
    """
    joined: dict = {}
    for table in tables:
        for key, convert in table.items():
            if key in joined:
                raise ValueError(f"{what}: {_label(key)} is claimed by two tables")
            joined[key] = convert
    return joined


def _label(key) -> str:
    """A class or function by its qualified name, anything else (an op type) by its repr."""
    return getattr(key, "__qualname__", None) or repr(key)
