"""What every importer reports when it cannot import a model: one record per problem, one error for all.

Importers never stop at the first problem: they check every layer (behind a
refused one, on a stand-in input) and then raise one ``ir.UnsupportedError``
whose ``problems`` attribute lists them all, so a user sees in one go
everything a model needs that twinnet lacks. No partial model is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from ....ir.errors import UnsupportedError


@dataclass(frozen=True)
class Problem:
    """One reason a model cannot be imported.

    Attributes:
        where: the source's own name for the place: a Keras layer name, the
            ONNX node name(s), a torch module's qualified name or fx node.
        what: its kind there: the Keras class, the ONNX op type(s) (``Pad+Conv``
            for a pattern), the torch module class or function.
        reason: why the IR cannot represent it.
    """

    where: str
    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where!r} ({self.what}): {self.reason}"


def unsupported(subject: str, problems: list[Problem], hint: str = "") -> UnsupportedError:
    """The one error listing every problem (``subject``: e.g. "Keras model 'cnn'")."""
    lines = "\n".join(f"  - {p}" for p in problems)
    err = UnsupportedError(f"cannot import {subject}: {len(problems)} problem(s), so no model was made{hint}:\n{lines}")
    err.problems = list(problems)
    return err
