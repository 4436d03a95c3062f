"""What the page-release tests share: the process's resident file-backed memory, and a model loaded from its file.

Resident file pages are read from ``/proc/self/status`` (``RssFile``), so the tests that use them run on Linux only.
"""

from __future__ import annotations

import sys

import pytest

from twinnet import ir

#: the mark of a test that reads RssFile
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RssFile from /proc/self/status")


def resident_file_kib() -> int:
    """KiB of file-backed pages resident in this process."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


def two_wide_layers(tmp_path):
    """(a model of 8 MiB of kernels held in memory, the same model saved and loaded back memory-mapped, none read)."""
    model = ir.Sequential(
        [ir.layers.Dense(1024, name="wide"), ir.layers.Dense(1024, name="again")], input=ir.Input((1024,)), name="m"
    ).randomize(0)
    ir.save(model, tmp_path / "m.json")
    return model, ir.load(tmp_path / "m.json")
