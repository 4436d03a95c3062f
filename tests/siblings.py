"""Load another test file's module by its path under tests/, for the few tests that share cases or models, and
the scripts of benchmarks/ that tests run (the reduced zoo, the round trips, the large model).

Test modules are imported with ``--import-mode=importlib`` and may share base
names across folders, so they cannot import each other by name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent
_BENCHMARKS = _TESTS.parent / "benchmarks"


def sibling(relpath: str):
    """The module of ``tests/<relpath>``, loaded once per session under a name derived from its path."""
    name = "twinnet_tests." + relpath.removesuffix(".py").replace("/", ".")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TESTS / relpath)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def benchmark(name: str):
    """The module of ``benchmarks/<name>.py``, loaded once per session as ``twinnet_benchmarks_<name>``."""
    key = f"twinnet_benchmarks_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, _BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
