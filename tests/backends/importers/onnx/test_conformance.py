"""ONNX's own conformance cases for every op type ONNX_TABLE claims.

The cases are the node tests the ``onnx`` package ships
(``onnx/backend/test/case/node/*.py``, the source of its
``backend/test/data/node/test_*`` folders): one model of a single node, its
inputs and expected outputs. Each case whose node is an op type the table
claims (or the pattern rules take apart: ``BY_RULES``) is imported with
``from_onnx``, compiled to torch and Keras and written back to ONNX from the
IR (run by onnxruntime), run on the case's inputs and compared
with the case's outputs: float32 within ``atol=1e-5, rtol=1e-4``, integers
and bools exactly.

Inputs the IR keeps fixed (a Reshape's shape, Slice bounds, reduction axes,
pads, Clip bounds, a Gather's indices, weights: :data:`STORED`) are graph
inputs in the cases; they become initializers holding the case's values
before the import, as they are in exported models. A case the importer
refuses or gets wrong is listed with its reason in
``tests/known_gap_cases.toml`` and runs as a strict expected failure.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from gaps import CASE_GAPS, known_case
from onnx import numpy_helper

from twinnet.backends import to_keras, to_onnx, to_torch
from twinnet.backends.importers.onnx.importer import from_onnx
from twinnet.backends.importers.onnx.table import BY_RULES, ONNX_TABLE

ATOL, RTOL = 1e-5, 1e-4

#: op type -> positions of the inputs read as stored tensors (options and weights)
STORED = {
    **dict.fromkeys(("Reshape", "Squeeze", "Unsqueeze", "Expand", "Tile", "Split", "Gather", "Upsample"), (1,)),
    **dict.fromkeys(("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"), (1,)),
    **dict.fromkeys(("Clip", "Dropout", "Gemm", "Conv", "ConvTranspose", "Pad", "Resize", "Slice"), (1, 2, 3, 4)),
    **dict.fromkeys(("InstanceNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization"), (1, 2)),
    **dict.fromkeys(("BatchNormalization", "LSTM", "GRU", "RNN"), (1, 2, 3, 4, 5, 6, 7)),
}


def _collect() -> dict:
    """name -> onnx TestCase, for the single-node cases of every op type the table claims."""
    from onnx.backend.test.case import node

    claimed = {op for op in ONNX_TABLE if "." not in op} | set(BY_RULES)
    wanted = {op.lower() for op in claimed}
    node._TargetOpType = None  # collect every case of the modules imported below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in pkgutil.iter_modules(node.__path__):
            key = module.name.replace("_", "")
            if key in wanted or key.removesuffix("op") in wanted:
                importlib.import_module(f"{node.__name__}.{module.name}")
    cases = {}
    for case in node._NodeTestCases:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].op_type in claimed and nodes[0].domain in ("", "ai.onnx"):
            cases[case.name] = case
    return cases


CASES = _collect()


def _stored_inputs(case) -> tuple[onnx.ModelProto, list, list]:
    """The case's model with its fixed inputs as initializers; (model, run-time inputs, data sets)."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph, (node,) = model.graph, model.graph.node
    names = [vi.name for vi in graph.input]
    fixed = {node.input[i] for i in STORED.get(node.op_type, ()) if i < len(node.input) and node.input[i]}
    ins, _ = case.data_sets[0]
    for name in fixed & set(names):
        graph.initializer.append(numpy_helper.from_array(np.asarray(ins[names.index(name)]), name))
    keep = [vi for vi in graph.input if vi.name not in fixed]
    del graph.input[:]
    graph.input.extend(keep)
    runtime = [names.index(vi.name) for vi in keep]
    return model, runtime, case.data_sets


def _batch_first(x: np.ndarray, layout: str) -> np.ndarray:
    """An array held in ``layout`` moved to Keras's order, the batch axis first."""
    return x.transpose([layout.index(a) for a in "N" + layout.replace("N", "")])


def _declared(x: np.ndarray, layout: str) -> np.ndarray:
    """A Keras result (batch axis first) moved back to the declared ``layout``."""
    return x.transpose([("N" + layout.replace("N", "")).index(a) for a in layout])


def _check(expected: np.ndarray, got: np.ndarray, where: str) -> None:
    assert got.shape == expected.shape, f"{where}: shape {got.shape}, expected {expected.shape}"
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL, err_msg=where)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=where)


@pytest.mark.parametrize("name", [pytest.param(n, marks=known_case(n)) for n in sorted(CASES)])
def test_conformance_case(name):
    model, runtime, data_sets = _stored_inputs(CASES[name])
    imported = from_onnx(model, name=name)
    module, keras_model = to_torch(imported), to_keras(imported)
    session = ort.InferenceSession(to_onnx(imported).SerializeToString(), providers=["CPUExecutionProvider"])
    for ins, outs in data_sets:
        feeds = [np.asarray(ins[i]) for i in runtime]
        with torch.no_grad():
            got = module(*[torch.from_numpy(x.copy()) for x in feeds])
        keras_feeds = [_batch_first(x, t.layout) for x, t in zip(feeds, imported.inputs)]
        from_keras = keras_model(keras_feeds if len(feeds) > 1 else keras_feeds[0])
        from_keras = from_keras if isinstance(from_keras, (list, tuple)) else [from_keras]
        runs = {
            "torch": [t.numpy() for t in (got if isinstance(got, tuple) else (got,))],
            "Keras": [  # Keras holds the batch axis first: back to the declared order
                _declared(keras.ops.convert_to_numpy(t), o.layout) for t, o in zip(from_keras, imported.outputs)
            ],
            "ONNX from the IR": session.run(None, {i.name: x for i, x in zip(session.get_inputs(), feeds)}),
        }
        for path, results in runs.items():
            assert len(results) == len(outs), f"{path}: {len(results)} outputs, expected {len(outs)}"
            for k, expected in enumerate(outs):
                _check(np.asarray(expected), results[k], f"{path}, output {k}")


def test_listed_cases_exist():
    """Every case named in tests/known_gap_cases.toml is one of ONNX's cases for a claimed op."""
    assert sorted(set(CASE_GAPS) - set(CASES)) == []
