"""Saving and loading models: JSON architecture + safetensors weights. Never pickle.

Two forms, chosen by the file name:

* ``model.safetensors``: one file; the architecture JSON sits in the
  safetensors metadata under ``"twinnet.architecture"``.
* ``model.json``: the architecture JSON, with the weights beside it in
  ``model.<sha256[:16]>.safetensors``. The JSON names that file and its
  digest; the content-addressed name is what makes a save atomic across two
  files: the new weights go in under a new name, then the JSON is renamed
  into place, then the old weights file is removed. Large weights go in several
  such files (shards, at most ``max_shard_size`` bytes each), the JSON listing
  them and which weight each holds (:mod:`twinnet.ir.shards`).

Every file is written to a temporary file in the same folder and renamed into
place, so an interrupted save never leaves a half-written model. Loading
checks the JSON against the schema, every weight's name, shape and dtype
against the architecture, and the graph's well-formedness, and refuses files
beyond the limits below before allocating anything large.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import safetensors_io, shards
from .errors import FormatVersionError, IRError, ResourceLimitError, SchemaError, UnsupportedError, WeightError, show
from .graph import Input, Model, Node, check_weight_sizes, check_weights, output_spec
from .layers.base import LAYERS, config_problem
from .migrations import MIGRATIONS
from .precision import stored_as_float32, to_storage
from .tensor import Tensor
from .training import TrainingSpec

FORMAT = "twinnet"
FORMAT_VERSION = 4
VERSION = "0.1.0"
META_KEY = "twinnet.architecture"

#: Safety limits applied while loading.
LIMITS = {
    "json_bytes": 64 * 1024 * 1024,
    "layers": 100_000,
    "inputs": 10_000,  # model inputs, and model outputs
    "inputs_per_layer": 1024,
    "weight_elements": 2**31,  # one weight
    "weight_bytes": 16 * 1024**3,  # all weights together
}


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


# -- dict form -------------------------------------------------------------------


def to_dict(model: Model) -> dict:
    """The architecture as a JSON-ready dict (no weights)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "twinnet_version": VERSION,
        "name": model.name,
        "inputs": [
            {
                "name": t.node.name,
                "shape": [s for a, s in zip(t.layout, t.shape) if a != "N"],
                "layout": t.layout,
                "dtype": t.dtype,
            }
            for t in model.inputs
        ],
        "layers": [_layer_entry(n) for n in model.layers],
        "outputs": [t.name for t in model.outputs],
        **({"dtype": model.dtype} if model.dtype != "float32" else {}),  # optional: float32 when absent
        **_training_entry(model),
    }


def _training_entry(model: Model) -> dict:
    """``{"training": spec}`` when the model carries a training spec, else nothing (the field is optional)."""
    spec = getattr(model, "training", None)
    if spec is None:
        return {}
    if not isinstance(spec, TrainingSpec):
        raise SchemaError(f"model {model.name!r}: 'training' must be a TrainingSpec or None, got {type(spec).__name__}")
    return {"training": spec.to_dict()}


def _layer_entry(node: Node) -> dict:
    entry = {
        "name": node.name,
        "kind": node.layer.kind,
        "config": node.layer.config(),
        "inputs": [t.name for t in node.inputs],
    }
    if node.block is not None:  # optional: most layers belong to no block
        entry["block"] = list(node.block)
    return entry


def _block_mark(entry: dict, where: str) -> tuple[str, str] | None:
    if "block" not in entry:
        return None
    mark = entry["block"]
    if (
        not isinstance(mark, list)
        or len(mark) != 2
        or not all(isinstance(part, str) and _IDENT.match(part) for part in mark)
    ):
        raise SchemaError(f"{where}: 'block' must be [kind, instance name], two identifiers; got {_short(mark)}")
    return mark[0], mark[1]


def _short(value) -> str:
    """repr for messages, cut short: values come from untrusted files."""
    return show(value)  # never fails, even on an int Python refuses to print


def _need(obj, key, kind, where):
    if not isinstance(obj, dict) or key not in obj:
        raise SchemaError(f"{where}: missing field {key!r}")
    value = obj[key]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise SchemaError(
            f"{where}: field {key!r} must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}"
        )
    return value


def _migrate(data: dict) -> dict:
    version = _need(data, "format_version", int, "model file")
    if version > FORMAT_VERSION:
        raise FormatVersionError(
            f"this file has format_version {_short(version)}, written by twinnet "
            f"{_short(data.get('twinnet_version', '?'))}; this twinnet ({VERSION}) reads "
            f"versions up to {FORMAT_VERSION}: upgrade twinnet to load it"
        )
    if version < 1:
        raise SchemaError(f"format_version must be >= 1, got {_short(version)}")
    while version < FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise FormatVersionError(f"no migration from format_version {version} to {FORMAT_VERSION}")
        data = MIGRATIONS[version](data)
        new = _need(data, "format_version", int, f"model file migrated from version {version}")
        if new <= version:  # a migration must make progress, or this loop never ends
            raise FormatVersionError(f"migration from format_version {version} did not raise the version")
        version = new
    return data


def from_dict(data) -> Model:
    """Rebuild a model (without weights) from :func:`to_dict` output, validating everything."""
    if not isinstance(data, dict):
        raise SchemaError("model file: the architecture must be a JSON object")
    if data.get("format") != FORMAT:
        raise SchemaError(f"model file: 'format' must be {FORMAT!r}, got {_short(data.get('format'))}")
    data = _migrate(data)
    name = _need(data, "name", str, "model")
    inputs_raw = _need(data, "inputs", list, "model")
    layers_raw = _need(data, "layers", list, "model")
    outputs_raw = _need(data, "outputs", list, "model")
    if len(layers_raw) > LIMITS["layers"]:
        raise ResourceLimitError(f"model has {len(layers_raw)} layers, more than the limit of {LIMITS['layers']}")
    if max(len(inputs_raw), len(outputs_raw)) > LIMITS["inputs"]:
        raise ResourceLimitError(
            f"model has {len(inputs_raw)} inputs and {len(outputs_raw)} outputs; the limit is {LIMITS['inputs']} each"
        )
    tensors: dict[str, Tensor] = {}
    inputs = []
    for i, entry in enumerate(inputs_raw):
        where = f"inputs[{i}]"
        iname = _need(entry, "name", str, where)
        shape = _need(entry, "shape", list, where)
        layout = _need(entry, "layout", str, where)
        dtype = _need(entry, "dtype", str, where)
        if not _IDENT.match(iname) or iname in tensors:
            raise SchemaError(f"{where}: input name {_short(iname)} is not a fresh identifier")
        t = Input(shape, layout=layout, dtype=dtype, name=iname)
        tensors[iname] = t
        inputs.append(t)
    for i, entry in enumerate(layers_raw):
        where = f"layers[{i}]"
        lname = _need(entry, "name", str, where)
        if not _IDENT.match(lname):
            raise SchemaError(f"{where}: layer name {_short(lname)} is not an identifier")
        where = f"layer {lname!r}"
        kind = _need(entry, "kind", str, where)
        config = _need(entry, "config", dict, where)
        refs = _need(entry, "inputs", list, where)
        if lname in tensors:
            raise SchemaError(f"{where}: the name is used twice")
        cls = LAYERS.get(kind)
        if cls is None:
            raise UnsupportedError(
                f"unknown layer kind {_short(kind)}; known kinds: {', '.join(sorted(LAYERS))}", layer=lname
            )
        if "name" in config:
            raise SchemaError(f"{where}: config must not contain 'name'")
        if not refs or len(refs) > LIMITS["inputs_per_layer"]:
            raise SchemaError(f"{where}: needs between 1 and {LIMITS['inputs_per_layer']} inputs, got {len(refs)}")
        args = []
        for ref in refs:
            if not isinstance(ref, str) or ref not in tensors:
                raise SchemaError(
                    f"{where}: input {_short(ref)} is not an input or an earlier layer (dangling reference or cycle)"
                )
            args.append(tensors[ref])
        problem = config_problem(cls, config)
        if problem:
            raise SchemaError(f"{where}: bad config for {kind}: {problem}")
        layer = cls(**config, name=lname)
        node = Node(
            layer, tuple(args), output_spec(layer, tuple(t.spec for t in args)), lname, _block_mark(entry, where)
        )
        tensors[lname] = node.output
    outputs = []
    for ref in outputs_raw:
        if not isinstance(ref, str) or ref not in tensors:
            raise SchemaError(f"model: output {_short(ref)} is not an input or a layer")
        outputs.append(tensors[ref])
    try:
        model = Model(inputs, outputs, name=name)
    except IRError as e:
        raise SchemaError(f"model: {e}") from None
    if len(model.layers) != len(layers_raw):  # save never writes these; their weights would have no place
        used = {n.name for n in model.layers}
        unused = [e["name"] for e in layers_raw if e["name"] not in used]
        raise SchemaError(f"model: layer(s) {', '.join(map(repr, unused[:5]))} feed no output")
    check_weight_sizes(model.weight_specs(), LIMITS)  # absurd sizes fail here, before any weight is read
    if data.get("training") is not None:
        model.training = TrainingSpec.from_dict(data["training"])
    if "dtype" in data:
        try:
            model.dtype = data["dtype"]
        except IRError as e:
            raise SchemaError(f"model: {e}") from None
    return model


def to_json(model: Model) -> str:
    return json.dumps(to_dict(model), indent=1, sort_keys=False) + "\n"


def from_json(text: str) -> Model:
    """Rebuild a model (without weights) from :func:`to_json` text, validating everything."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise SchemaError(f"model file: the architecture must be JSON text, got {type(text).__name__}")
    if len(text) > LIMITS["json_bytes"]:
        raise ResourceLimitError(f"architecture JSON is {len(text):,} bytes, more than the limit")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, ints over 4300 digits, deep nesting
        raise SchemaError(f"model file: not valid JSON ({str(e)[:200]})") from None
    return from_dict(data)


# -- files --------------------------------------------------------------------------


def _checked_weights(model: Model) -> dict:
    """The weights, checked, as the file stores them: as they are, or in a half model's precision."""
    specs = model.weight_specs()
    weights = check_weights(specs, model.weights, copy=False) if specs else {}  # checked, written as they are
    if model.dtype != "float32":  # float16, or bfloat16 as its uint16 bits: half the bytes (ir/precision.py)
        weights = {key: to_storage(value, model.dtype) for key, value in weights.items()}
    return weights


def save(model: Model, path, *, max_shard_size: int | None = None) -> Path:
    """Save architecture and weights (see the module docstring for the two forms).

    ``max_shard_size`` (bytes): the two-file form (``.json``) writes its weights in several files (shards)
    of at most that size each (a single larger weight gets a shard of its own); default
    :data:`twinnet.ir.shards.MAX_SHARD_SIZE` (2 GiB). The one-file form (``.safetensors``) holds every
    weight in one file: it refuses a ``max_shard_size`` its weights exceed.

    >>> import os, tempfile
    >>> from twinnet import ir
    >>> m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,))).initialize(0)
    >>> p = ir.save(m, os.path.join(tempfile.mkdtemp(), "m.safetensors"))
    >>> ir.load(p).count_params()
    8
    """
    path = Path(path)
    if path.suffix not in (".json", ".safetensors"):
        raise SchemaError(f"save path must end in .json or .safetensors, got {path.name!r}")
    limit = shards.MAX_SHARD_SIZE if max_shard_size is None else shards.check_max_shard_size(max_shard_size)
    if model.weight_specs() and not model.weights:
        raise WeightError(f"model {model.name!r} has no weights; call initialize(seed) first")
    arch = to_json(model)
    weights = _checked_weights(model)
    if path.suffix == ".safetensors":
        total = sum(a.nbytes for a in weights.values())
        if max_shard_size is not None and total > limit:
            raise SchemaError(
                f"{path.name}: the weights take {total:,} bytes, more than max_shard_size {limit:,}, and a "
                ".safetensors model file is one file: save to a .json name to write the weights in shards"
            )
        safetensors_io.write(path, weights, {META_KEY: arch})  # tensor by tensor
        return path
    old = shards.referenced(path)
    entry, written = shards.write(path, weights, {"format": FORMAT}, limit)
    data = json.loads(arch)
    data["weights"] = entry
    try:
        safetensors_io.atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
    except BaseException:
        for name in written - set(old):
            (path.parent / name).unlink(missing_ok=True)
        raise
    for name in old:
        if name not in written and (path.parent / name).is_file():
            (path.parent / name).unlink()
    return path


def load(path) -> Model:
    """Load a model saved by :func:`save`, validating it completely; never runs code from the file."""
    path = Path(path)
    where = str(path)  # every error names the file, as the user wrote its path
    if not path.is_file():
        raise SchemaError(f"no model file at {str(path)!r}")
    size = path.stat().st_size
    if path.suffix == ".safetensors":
        with open(path, "rb") as f:
            header, metadata, start = safetensors_io.read_header(f, size, where)
            if META_KEY not in metadata:
                raise SchemaError(f"{where}: a safetensors file without twinnet architecture metadata")
            model = _in_file(where, from_json, metadata[META_KEY])
            shards.check_header(model.weight_specs(), header, where, model.dtype)
            weights = safetensors_io.read_tensors(f, header, start, LIMITS["weight_bytes"], where)
        return model.set_weights(stored_as_float32(weights), copy=False)  # views of the file (a half model: copies)
    if size > LIMITS["json_bytes"]:
        raise ResourceLimitError(f"{where} is {size:,} bytes, more than the architecture limit")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SchemaError(f"{where}: not UTF-8 text") from None
    model = _in_file(where, from_json, text)
    specs = model.weight_specs()
    if not specs:
        return model
    weights = shards.read(path, json.loads(text).get("weights"), specs, LIMITS["weight_bytes"], model.dtype)
    return model.set_weights(stored_as_float32(weights), copy=False)  # views of the files (a half model: copies)


def _in_file(where: str, parse, text):
    """``parse(text)``, with any error it raises naming the file ``where`` instead of "model file"."""
    try:
        return parse(text)
    except IRError as e:
        error = type(e)(f"{where}: {str(e).removeprefix('model file: ')}")  # the file first, then the layer
        error.layer = e.layer
        raise error from None
