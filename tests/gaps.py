"""Reads tests/known_gaps.toml, the one list of known gaps."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

_FILE = Path(__file__).with_name("known_gaps.toml")
GAPS = {g["id"]: g for g in tomllib.loads(_FILE.read_text())["gap"]}


def known_gap(gap_id: str):
    """Mark a test case as a listed known gap: it must fail (strict), or the entry is stale."""
    if gap_id not in GAPS:
        raise KeyError(f"{gap_id!r} is not in {_FILE.name}")
    return pytest.mark.xfail(reason=f"known gap {gap_id}: {GAPS[gap_id]['why']}", strict=True)
