"""Upgrading an older model file's dict to the current format, one version at a time (``ir/serde.py`` runs them)."""

from __future__ import annotations


def _v1_to_v2(data: dict) -> dict:
    """Version 2 adds the optional per-layer ``"block": [kind, instance]`` mark; a v1 file has none."""
    return {**data, "format_version": 2}


def _v2_to_v3(data: dict) -> dict:
    """Version 3 adds the optional top-level ``"training"`` spec (:mod:`twinnet.ir.training`); a v2 file has none."""
    return {**data, "format_version": 3}


def _v3_to_v4(data: dict) -> dict:
    """Version 4 lets the two-file form's ``"weights"`` list several shards and a weight map
    (:mod:`twinnet.ir.shards`); a v3 file names one weights file, which version 4 still reads."""
    return {**data, "format_version": 4}


#: format_version -> function upgrading that version's dict to the next one.
MIGRATIONS: dict[int, callable] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}
