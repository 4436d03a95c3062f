"""Users' own converters: the one extension point of each importer (docs/extending.md).

``from_keras(model, converters={MyLayer: fn})``, ``from_torch(module, x, converters={MyModule: fn})`` and
``from_onnx(f, converters={("my.domain", "MyOp"): fn})`` add entries to the importer's table for that call
only. Each ``fn`` takes exactly what the built-in entries of that importer take and returns what they
return, so a user entry reads like the ones in the package. A key the built-in table already has is
refused unless the entry is wrapped in :func:`override`: replacing how twinnet reads ``nn.Conv2d`` is
allowed, but never by accident. Nothing here imports a framework.

>>> def fn(layer, inputs): ...
>>> table = user_table({"Relu": print}, {"Relu": override(fn)}, "ONNX op")
>>> table["Relu"] is fn
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ....ir.errors import ConfigError


@dataclass(frozen=True)
class Override:
    """A user converter meant to replace the built-in one for its key (made by :func:`override`)."""

    fn: Callable


def override(fn: Callable) -> Override:
    """Mark ``fn`` as replacing the built-in converter for its key: ``converters={nn.GELU: override(fn)}``."""
    if not callable(fn):
        raise ConfigError(f"override takes a function, got {type(fn).__name__}")
    return Override(fn)


def user_table(builtin: dict, converters: dict | None, what: str, key=lambda k: k) -> dict:
    """``builtin`` with the user's ``converters`` added (keys normalised by ``key``); ConfigError for an entry
    that is not callable, or that would replace a built-in one without :func:`override`."""
    if not converters:
        return builtin
    if not isinstance(converters, dict):
        raise ConfigError(f"converters must be a dict of {what} -> function, got {type(converters).__name__}")
    table = dict(builtin)
    for raw, fn in converters.items():
        k = key(raw)
        explicit = isinstance(fn, Override)
        fn = fn.fn if explicit else fn
        if not callable(fn):
            raise ConfigError(f"the converter for {what} {_show(raw)} must be a function, got {type(fn).__name__}")
        if k in builtin and not explicit:
            raise ConfigError(
                f"{what} {_show(raw)} already has a built-in converter; wrap yours in "
                "twinnet.backends.importers.override(fn) to replace it"
            )
        table[k] = fn
    return table


def onnx_key(raw) -> str:
    """An ONNX converter key: ``("domain", "OpType")`` or ``"OpType"`` -> how the importer names the op type
    (``"domain.OpType"`` outside the standard domain)."""
    if isinstance(raw, tuple) and len(raw) == 2 and all(isinstance(p, str) for p in raw):
        domain, op_type = raw
        return op_type if domain in ("", "ai.onnx") else f"{domain}.{op_type}"
    if isinstance(raw, str):
        return raw
    raise ConfigError(f"an ONNX converter key is 'OpType' or ('domain', 'OpType'), got {raw!r}")


def _show(raw) -> str:
    return getattr(raw, "__qualname__", None) or repr(raw)
