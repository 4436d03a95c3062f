"""One exception hierarchy for everything twinnet rejects.

Every error is an :class:`IRError` (itself a ``ValueError``), so callers can
catch one type; the subclasses say *what kind* of input was wrong. Messages
name the layer (when there is one), the expected and the actual value.
"""

from __future__ import annotations


class IRError(ValueError):
    """Base class of every error twinnet raises on bad input.

    Attributes:
        layer: name (or kind) of the layer the error is about, or None.
    """

    def __init__(self, message: str, *, layer: str | None = None):
        self.layer = layer
        self.bare_message = message
        super().__init__(f"{layer}: {message}" if layer else message)


def show(value, limit: int = 80) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters, never failing.

    Values in messages come from users and files: Python refuses to print an
    int of more than 4300 digits (ValueError), and a long list would swamp the
    message, so neither may stand between the user and the real error.

    >>> show(10**5000)
    '<int of 16610 bits>'
    """
    try:
        text = repr(value)
    except ValueError:
        if isinstance(value, int):
            text = f"<{'negative ' if value < 0 else ''}int of {value.bit_length()} bits>"
        elif isinstance(value, (list, tuple)):
            inner = ", ".join(show(v, limit) for v in value[:8])
            text = f"[{inner}]" if isinstance(value, list) else f"({inner})"
        else:
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ConfigError(IRError):
    """A layer argument is invalid (bad kernel size, unknown padding, ...)."""


class ShapeError(IRError):
    """Tensor shapes do not fit together (wrong rank, mismatched sizes)."""


class LayoutError(IRError):
    """A layout string is malformed, or a layer needs an axis the layout lacks."""


class GraphError(IRError):
    """The model graph is malformed: cycles, dangling references, duplicates."""


class SchemaError(IRError):
    """A saved model file does not follow the twinnet format."""


class FormatVersionError(SchemaError):
    """A saved model was written by a newer, unknown format version."""


class WeightError(IRError):
    """A weight is missing, unexpected, or has the wrong shape or dtype."""


class UnsupportedError(IRError):
    """A layer, option or operation is not supported by a backend or importer."""


class ResourceLimitError(SchemaError):
    """A file declares sizes beyond twinnet's safety limits."""
