"""Reading an ONNX file safely, and a small mutable view of its graph.

``load`` turns a path (or bytes, or an ``onnx.ModelProto``) into a checked,
shape-inferred ``ModelProto``; every way a file can be wrong ends in an
``ir.SchemaError``, never a protobuf traceback. ``onnx.load`` parses a
protobuf and runs no code; external weight files are read only from inside
the model's own folder.

:class:`Graph` holds the nodes as :class:`Op` records (plain Python, so
pattern rules can replace a group of nodes by one), the constants (initializers,
``Constant`` nodes, all-zero ``ConstantOfShape``), and each value's shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ....ir.errors import ResourceLimitError, SchemaError

MAX_FILE_BYTES = 2 * 1024**3  # protobuf's own limit for one message

#: Marks a value that is all zeros of a shape only known at run time (ConstantOfShape(0)).
ZEROS = "zeros"


@dataclass(eq=False)  # identity, not field equality: rules look ops up in a list
class Op:
    """One ONNX node (or, after a pattern rule, a group of nodes acting as one).

    ``sources`` lists the original ``(node name, op_type)`` pairs it stands for,
    so a refusal names what is in the file.
    """

    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    sources: list[tuple[str, str]] = field(default_factory=list)

    def attr(self, key: str, default=None):
        return self.attrs.get(key, default)

    @property
    def where(self) -> str:
        return ", ".join(f"{n!r} ({t})" for n, t in self.sources) or f"{self.name!r} ({self.op_type})"


def load(source) -> onnx.ModelProto:
    """A checked, shape-inferred model from a path, bytes or ``onnx.ModelProto``.

    Raises:
        ir.SchemaError: the file is missing, truncated, not ONNX, fails
            ``onnx.checker``, or names external data outside its folder.
    """
    base = None
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        if isinstance(source, (bytes, bytearray)):
            data = bytes(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise SchemaError(f"no ONNX file at {str(path)!r}")
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ResourceLimitError(f"{path.name!r} is larger than {MAX_FILE_BYTES:,} bytes")
            data, base = path.read_bytes(), path.resolve().parent
        try:
            model = onnx.load_from_string(data)
        except Exception as e:  # DecodeError and friends: the bytes are not an ONNX protobuf
            raise SchemaError(f"not a readable ONNX file ({type(e).__name__}: {str(e)[:200]})") from None
        if not model.graph.node and not model.graph.output:
            raise SchemaError("not an ONNX model: the file has no graph (empty or truncated?)")
    _load_external(model, base)
    try:
        onnx.checker.check_model(model)
        return onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:  # checker/inference errors: one line, not a traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise SchemaError(f"invalid ONNX model ({type(e).__name__}: {first[:300]})") from None


def _load_external(model: onnx.ModelProto, base: Path | None) -> None:
    """Read external tensors, refusing any location that leaves the model's folder."""
    tensors = [
        t for t in onnx.external_data_helper._get_all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL
    ]
    if not tensors:
        return
    if base is None:
        raise SchemaError("the model keeps weights in external files; load it from its path")
    for t in tensors:
        location = {e.key: e.value for e in t.external_data}.get("location", "")
        target = (base / location).resolve()
        if not location or os.path.isabs(location) or base not in target.parents or not target.is_file():
            raise SchemaError(
                f"initializer {t.name!r}: external data {location!r} is not a file inside the "
                f"model's folder; refusing to read it"
            )
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(base))
    except Exception as e:
        raise SchemaError(f"could not read external data ({type(e).__name__}: {str(e)[:200]})") from None


def _dims(value_info) -> tuple | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


class Graph:
    """Nodes as :class:`Op` records, constants, shapes, element types and consumers."""

    def __init__(self, model: onnx.ModelProto):
        g = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.consts: dict[str, np.ndarray | str] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.shapes: dict[str, tuple | None] = {}
        self.dtypes: dict[str, int] = {}
        self.symbols: dict[str, tuple] = {}  # each axis's symbolic size name (dim_param), None where static/unnamed
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            self.shapes[vi.name] = _dims(vi)
            self.dtypes[vi.name] = vi.type.tensor_type.elem_type
            self.symbols[vi.name] = tuple(d.dim_param or None for d in vi.type.tensor_type.shape.dim)
        self.inputs = [vi for vi in g.input if vi.name not in self.consts]
        self.outputs = [vi.name for vi in g.output]
        self.ops: list[Op] = []
        #: shape vectors folded to constants with -1 for a run-time size (onnx/passes/fold.py), and the op that
        #: computed each: a probe at concrete sizes (onnx/patterns/evaluator.py) recomputes them.
        self.symbolic: dict[str, Op] = {}
        #: every shape vector fold.py folded, and the op that computed it (where a size came from: Range).
        self.folded: dict[str, Op] = {}
        for i, node in enumerate(g.node):
            name = node.name or f"{node.op_type}_{i}"
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            op = Op(node.op_type, name, list(node.input), list(node.output), attrs, [(name, node.op_type)])
            if node.domain not in ("", "ai.onnx"):
                op.op_type = f"{node.domain}.{node.op_type}"
            if not self._constant(op):
                self.ops.append(op)
        self.index()

    def _constant(self, op: Op) -> bool:
        """Record a Constant / all-zero ConstantOfShape as a constant; True if it was one."""
        if op.op_type == "Constant" and len(op.attrs) == 1:
            ((key, value),) = op.attrs.items()
            if key == "value":
                self.consts[op.outputs[0]] = numpy_helper.to_array(value)
            elif key in ("value_float", "value_int", "value_floats", "value_ints"):
                self.consts[op.outputs[0]] = np.asarray(value, np.float32 if "float" in key else np.int64)
            else:
                return False
            return True
        if op.op_type == "ConstantOfShape":
            value = op.attrs.get("value")
            fill = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
            shape = self.consts.get(op.inputs[0])
            if not fill.any():
                if (
                    fill.dtype.kind in "iu"
                    and isinstance(shape, np.ndarray)
                    and shape.ndim == 1
                    and 0 <= np.prod(shape) <= 64
                ):  # integer zeros of a stored shape: torch's pads arithmetic
                    self.consts[op.outputs[0]] = np.zeros(shape.astype(np.int64), fill.dtype)
                else:
                    self.consts[op.outputs[0]] = ZEROS
                return True
        return False

    def index(self) -> None:
        """Rebuild producer and consumer maps (after a pattern rule changed the ops)."""
        self.producer = {o: op for op in self.ops for o in op.outputs if o}
        self.consumers: dict[str, list[Op]] = {}
        for op in self.ops:
            for name in op.inputs:
                if name:
                    self.consumers.setdefault(name, []).append(op)

    def const(self, name: str):
        """The constant value of ``name`` (a numpy array or :data:`ZEROS`), or None if it is computed."""
        return self.consts.get(name) if name else None

    def only_consumer(self, name: str) -> Op | None:
        """The one op reading ``name``, if exactly one does and it is no graph output."""
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in self.outputs else None

    def rank(self, name: str) -> int | None:
        shape = self.shapes.get(name)
        return None if shape is None else len(shape)
