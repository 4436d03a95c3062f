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


_CASE_FILE = Path(__file__).with_name("known_gap_cases.toml")
#: conformance case name -> why it fails (tests/known_gap_cases.toml: ``[[case]]`` groups, ``names`` and ``why``)
CASE_GAPS = {name: group["why"] for group in tomllib.loads(_CASE_FILE.read_text())["case"] for name in group["names"]}


def known_case(name: str):
    """The marks of one conformance case: a strict expected failure if it is listed, else none."""
    if name not in CASE_GAPS:
        return ()
    return pytest.mark.xfail(reason=f"listed in {_CASE_FILE.name}: {CASE_GAPS[name]}", strict=True)
