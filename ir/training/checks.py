"""What every training-spec family shares: argument checks and the ``{"kind": ..., fields}`` dict form.

Each family (losses, optimizers, schedules, metrics) is a set of frozen
dataclasses registered by class name in its own table; :func:`to_entry` and
:func:`from_entry` turn one into JSON-ready data and back, checking every
field, so a bad file fails with a :class:`twinnet.ir.ConfigError` naming the
item and the field.
"""

from __future__ import annotations

import dataclasses
import math

from ..errors import ConfigError, SchemaError, show


def fail(item: str, message: str) -> ConfigError:
    """The error for one bad training-spec argument (``item`` names the loss, optimizer, ...)."""
    return ConfigError(f"training spec: {item}: {message}")


def number(item: str, field: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """``value`` as a finite float inside the bounds, or a ConfigError naming ``item`` and ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(item, f"{field} must be a finite number, got {show(value)}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise fail(item, f"{field} must be {'>' if low_open else '>='} {low}, got {show(value)}")
    if high is not None and (value > high or (high_open and value == high)):
        raise fail(item, f"{field} must be {'<' if high_open else '<='} {high}, got {show(value)}")
    return value


def integer(item: str, field: str, value, *, low: int = 1) -> int:
    """``value`` as an int >= ``low``, or a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise fail(item, f"{field} must be an integer >= {low}, got {show(value)}")
    return value


def flag(item: str, field: str, value) -> bool:
    if not isinstance(value, bool):
        raise fail(item, f"{field} must be True or False, got {show(value)}")
    return value


def to_entry(obj) -> dict:
    """One spec item as ``{"kind": <class name>, <field>: <value>, ...}`` (nested items as entries)."""
    entry = {"kind": type(obj).__name__}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        entry[f.name] = to_entry(value) if dataclasses.is_dataclass(value) else value
    return entry


def from_entry(entry, table: dict[str, type], family: str, nested: tuple[dict, str] | None = None):
    """Rebuild one item from :func:`to_entry` output; the class's own checks run on every field.

    ``nested`` is the (table, family) of items held inside this one (an
    optimizer's learning-rate schedule, a warm-up's base schedule).
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        raise SchemaError(f"training spec: a {family} must be an object with a 'kind', got {show(entry)}")
    cls = table.get(entry["kind"])
    if cls is None:
        raise SchemaError(f"training spec: unknown {family} {show(entry['kind'])}; known: {', '.join(sorted(table))}")
    fields = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(entry) - fields - {"kind"})
    if extra:
        raise SchemaError(f"training spec: {family} {cls.__name__} has no field(s) {', '.join(map(show, extra))}")
    args = {}
    for key, value in entry.items():
        if key != "kind":
            args[key] = from_entry(value, *nested, nested) if isinstance(value, dict) and nested else value
    return cls(**args)
