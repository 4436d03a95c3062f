"""Upgrading an older model file's dict to the current format, one version at a time (``ir/serde.py`` runs them)."""

from __future__ import annotations


def _v1_to_v2(data: dict) -> dict:
    """Version 2 adds the optional per-layer ``"block": [kind, instance]`` mark; a v1 file has none."""
    return {**data, "format_version": 2}


def _v2_to_v3(data: dict) -> dict:
    """Version 3 adds the optional top-level ``"training"`` spec (:mod:`twinnet.ir.training`); a v2 file has none."""
    return {**data, "format_version": 3}


#: format_version -> function upgrading that version's dict to the next one.
MIGRATIONS: dict[int, callable] = {1: _v1_to_v2, 2: _v2_to_v3}
