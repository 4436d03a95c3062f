"""The weights of the two-file form (``model.json``): one safetensors file, or several (shards) when large.

The architecture JSON's ``"weights"`` field names them:

* one file: ``{"file": "m.<sha256[:16]>.safetensors", "sha256": ...}``;
* shards (format version 4): ``{"shards": [{"file", "sha256", "bytes"}, ...], "weight_map": {weight: file}}``,
  the files named ``m-00001-of-00003.<sha256[:16]>.safetensors``; the map says which shard holds each weight.

Each file is written tensor by tensor while it is hashed, to a temporary name, synced, and renamed to its
content-addressed name, so a shard is never seen half-written and nothing holds a copy of the whole file.
Reading checks every shard (present, its header against the map and the architecture, its SHA-256) before
any tensor is handed out, then returns read-only views of a memory map of each shard, so loading reads
tensor by tensor as they are used.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

import numpy as np

from . import safetensors_io
from .errors import ResourceLimitError, SchemaError, WeightError, show
from .precision import CODES as PRECISION_CODES

#: the largest shard ``save`` writes by default (a weight larger than that gets a shard of its own)
MAX_SHARD_SIZE = 2 * 1024**3
#: the most shards a model file may list
MAX_SHARDS = 10_000
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


def plan(weights: dict[str, np.ndarray], max_shard_size: int) -> list[list[str]]:
    """The weight names of each shard, in order: consecutive weights while they fit in ``max_shard_size``."""
    groups: list[list[str]] = [[]]
    size = 0
    for name, array in weights.items():
        if groups[-1] and size + array.nbytes > max_shard_size:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += array.nbytes
    return groups


def check_max_shard_size(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SchemaError(f"max_shard_size must be a positive number of bytes, got {show(value)}")
    return int(value)


def write(path: Path, weights: dict[str, np.ndarray], metadata: dict, max_shard_size: int) -> tuple[dict, set]:
    """Write the weights of the model file ``path`` beside it; returns its ``"weights"`` entry and the files
    written. On an error, the files this call wrote (and no other) are removed again."""
    groups = plan(weights, max_shard_size)
    old = set(referenced(path))
    written: list[str] = []
    try:
        if len(groups) == 1:
            name, digest, _ = _write_hashed(path.parent, path.stem, weights, metadata)
            written.append(name)
            return {"file": name, "sha256": digest}, set(written)
        shards = []
        for i, names in enumerate(groups, 1):
            stem = f"{path.stem}-{i:05d}-of-{len(groups):05d}"
            name, digest, size = _write_hashed(path.parent, stem, {k: weights[k] for k in names}, metadata)
            written.append(name)
            shards.append({"file": name, "sha256": digest, "bytes": size})
        weight_map = {k: shard["file"] for names, shard in zip(groups, shards) for k in names}
        return {"shards": shards, "weight_map": weight_map}, set(written)
    except BaseException:
        for name in written:
            if name not in old:
                (path.parent / name).unlink(missing_ok=True)
        raise


class _Hashing:
    """A file that hashes what is written to it."""

    def __init__(self, f):
        self.f, self.hash, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> None:
        self.hash.update(data)
        self.f.write(data)
        self.size += memoryview(data).nbytes


def _write_hashed(folder: Path, stem: str, tensors: dict, metadata: dict) -> tuple[str, str, int]:
    """One safetensors file, written to a temporary name while hashed, then renamed to
    ``<stem>.<sha256[:16]>.safetensors``; returns (name, sha256, bytes)."""
    tmp = folder / f".{stem}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            out = _Hashing(f)
            safetensors_io.write_to(out, tensors, metadata)
            f.flush()
            os.fsync(f.fileno())
        digest = out.hash.hexdigest()
        name = f"{stem}.{digest[:16]}.safetensors"
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return name, digest, out.size


def referenced(path: Path) -> list[str]:
    """The weights files an existing model file at ``path`` names (none when there is none or it is not ours)."""
    import json

    try:
        ref = json.loads(path.read_text())["weights"]
        files = [ref["file"]] if "file" in ref else [s["file"] for s in ref["shards"]]
        return [f for f in files if isinstance(f, str) and safe_sibling(f)]
    except Exception:  # no previous file, or not ours: nothing to clean up
        return []


def safe_sibling(name: str) -> bool:
    # at most 255 characters: a longer name makes the OS raise OSError (ENAMETOOLONG) rather than "no such file"
    return (
        bool(re.match(r"^[A-Za-z0-9_.-]{1,243}\.safetensors\Z", name)) and "/" not in name and not name.startswith(".")
    )


def read(path: Path, ref, specs: dict, limit: int, precision: str = "float32") -> dict[str, np.ndarray]:
    """The weights named by the ``"weights"`` entry ``ref`` of the model file ``path``, every file checked
    first; read-only views of memory maps of the files, as stored (a half model's: float16 or bfloat16 bits)."""
    where = str(path)
    if isinstance(ref, dict) and "shards" in ref:
        files = _shard_files(ref, specs, where)
    elif isinstance(ref, dict) and isinstance(ref.get("file"), str) and isinstance(ref.get("sha256"), str):
        files = {ref["file"]: (ref["sha256"], list(specs))}
    else:
        raise SchemaError(f"{where}: 'weights' must name the weights file and its sha256, or list its shards")
    weights: dict[str, np.ndarray] = {}
    total = 0
    for name, (digest, names) in files.items():
        if not safe_sibling(name):
            raise SchemaError(f"{where}: weights file {name!r} must be a plain .safetensors name in the same folder")
        wpath = path.parent / name
        wwhere = str(wpath)
        if not wpath.is_file():
            raise WeightError(f"weights file {wwhere} (named by {where}) is missing")
        with open(wpath, "rb") as f:
            header, _, start = safetensors_io.read_header(f, wpath.stat().st_size, wwhere)
            check_header({k: specs[k] for k in names}, header, wwhere, precision)
            total += sum(e["data_offsets"][1] - e["data_offsets"][0] for e in header.values())
            if total > limit:
                raise ResourceLimitError(f"{where}: weights need {total:,} bytes or more, over the limit of {limit:,}")
            f.seek(0)
            h = hashlib.sha256()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
            if h.hexdigest() != digest:
                raise WeightError(f"{wwhere}: contents do not match the sha256 recorded in {where}")
            weights.update(safetensors_io.read_tensors(f, header, start, limit, wwhere))
    return {k: weights[k] for k in specs}  # in the architecture's order


def _shard_files(ref: dict, specs: dict, where: str) -> dict[str, tuple[str, list[str]]]:
    """shard file -> (its sha256, the weights the map puts in it), the index checked against the architecture."""
    shards, weight_map = ref.get("shards"), ref.get("weight_map")
    if not isinstance(shards, list) or not shards or len(shards) > MAX_SHARDS:
        raise SchemaError(f"{where}: 'weights.shards' must list between 1 and {MAX_SHARDS} shards")
    files: dict[str, tuple[str, list[str]]] = {}
    for i, shard in enumerate(shards):
        if (
            not isinstance(shard, dict)
            or not isinstance(shard.get("file"), str)
            or not isinstance(shard.get("sha256"), str)
            or not _SHA256.match(shard["sha256"])
        ):
            raise SchemaError(f"{where}: weights.shards[{i}] must give a 'file' and its hex 'sha256'")
        if not safe_sibling(shard["file"]):
            raise SchemaError(f"{where}: shard {shard['file']!r} must be a plain .safetensors name in the same folder")
        if shard["file"] in files:
            raise SchemaError(f"{where}: shard {show(shard['file'])} is listed twice")
        files[shard["file"]] = (shard["sha256"], [])
    if not isinstance(weight_map, dict):
        raise SchemaError(f"{where}: 'weights.weight_map' must map each weight to its shard")
    missing = [k for k in specs if k not in weight_map]
    extra = [show(k) for k in weight_map if k not in specs]
    if missing:
        raise WeightError(
            f"{where}: the weight map has no shard for {', '.join(missing[:10])}", layer=missing[0].split("/")[0]
        )
    if extra:
        raise WeightError(f"{where}: the weight map names unexpected weight(s) {', '.join(extra[:10])}")
    for key in specs:
        file = weight_map[key]
        if not isinstance(file, str) or file not in files:
            raise SchemaError(f"{where}: weight {key!r} is mapped to {show(file)}, which is not a listed shard")
        files[file][1].append(key)
    return files


def check_header(specs: dict, header: dict, where: str, precision: str = "float32") -> None:
    """Names, shapes and dtypes of the stored weights against the architecture, before reading data; a half
    model (``precision`` float16 or bfloat16) stores its float weights in that precision's code."""
    for key, spec in specs.items():
        entry = header.get(key)
        if entry is None:
            raise WeightError(f"{where}: missing weight {key!r}", layer=key.split("/")[0])
        if tuple(entry["shape"]) != spec.shape:
            raise WeightError(
                f"{where}: weight {key!r} has shape {tuple(entry['shape'])}, expected {spec.shape}",
                layer=key.split("/")[0],
            )
        stored = PRECISION_CODES[precision] if precision != "float32" and spec.dtype == "float32" else None
        if (entry["dtype"] != stored) if stored else np.dtype(safetensors_io.DTYPES[entry["dtype"]]) != spec.dtype:
            raise WeightError(
                f"{where}: weight {key!r} has dtype {entry['dtype']}, expected "
                + (f"{stored} (a {precision} model)" if stored else str(spec.dtype)),
                layer=key.split("/")[0],
            )
    extra = [k for k in header if k not in specs]
    if extra:
        raise WeightError(f"{where}: unexpected weight(s) {', '.join(extra[:10])}")
