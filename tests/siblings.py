"""Load another test file's module by its path under tests/, for the few tests that share cases or models.

Test modules are imported with ``--import-mode=importlib`` and may share base
names across folders, so they cannot import each other by name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent


def sibling(relpath: str):
    """The module of ``tests/<relpath>``, loaded once per session under a name derived from its path."""
    name = "twinnet_tests." + relpath.removesuffix(".py").replace("/", ".")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TESTS / relpath)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
