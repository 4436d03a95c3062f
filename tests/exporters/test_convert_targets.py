"""The targets table: ``convert`` lowers once per target, leaves no stale files, and the report's rows are one list."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dataclasses  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.exporters import convert, verify  # noqa: E402
from twinnet.exporters.cli_output import print_report  # noqa: E402
from twinnet.exporters.targets import FRAMEWORKS, TARGETS  # noqa: E402
from twinnet.exporters.verify import ALL_PATHS, CONVERT_PATHS, PATHS  # noqa: E402
from twinnet.ir import layers as L  # noqa: E402


def tiny(name="tiny_cnn"):
    """Declared channels first, so Keras and torch hold the image differently (the transposes matter)."""
    x = ir.Input(shape=(3, 7, 6), layout="NCHW", name="image")
    h = L.Conv2D(4, 3, activation="relu")(x)
    h = L.Flatten()(h)
    return ir.Model(inputs=x, outputs=L.Dense(5)(h), name=name).initialize(0)


@pytest.fixture
def lowerings(monkeypatch):
    """Count every lowering of twinnet's own backends, by (framework, native_io, expose)."""
    from twinnet.backends import keras as keras_backend
    from twinnet.backends import torch as torch_backend

    counts = Counter()
    for name, module in (("torch", torch_backend), ("keras", keras_backend)):

        def counted(model, *, native_io=False, expose=False, _name=name, _lower=module.lower):
            counts[_name, native_io, expose] += 1
            return _lower(model, native_io=native_io, expose=expose)

        monkeypatch.setattr(module, "lower", counted)
    return counts


def test_the_table_names_the_frameworks_everywhere():
    assert FRAMEWORKS == ("torch", "keras")
    assert set(ALL_PATHS) == {*FRAMEWORKS, *(f"onnx-{f}" for f in FRAMEWORKS), "onnx-ir"}
    assert TARGETS["keras"].io_layout("TNC") == "NTC" and TARGETS["torch"].io_layout("TNC") == "TNC"


@pytest.mark.parametrize("native_io", [False, True], ids=["declared-io", "native-io"])
@pytest.mark.parametrize("to", FRAMEWORKS)
def test_convert_lowers_once_per_framework_and_variant(to, native_io, lowerings, tmp_path):
    result = convert(tiny(), to, tmp_path / "out", native_io=native_io, batch_sizes=(2,), paths="all")
    assert result.ok, result.report.table()
    assert set(result.report.paths) == {f"emitted-{to}", *ALL_PATHS}
    assert lowerings and max(lowerings.values()) == 1, dict(lowerings)
    assert (to, native_io, False) in lowerings  # the emitted file's own lowering
    assert all(not expose for _, _, expose in lowerings)  # nothing failed, so nothing was localised


@pytest.mark.parametrize("to", FRAMEWORKS)
def test_convert_checks_the_emitted_file_and_the_ir_onnx_file_by_default(to, lowerings, tmp_path):
    """By default only what matters runs: the emitted file and the ONNX file written from the IR; the target
    is lowered once (for the emitted file), the other framework not at all, and nothing is compiled twice."""
    result = convert(tiny(), to, tmp_path / "out", batch_sizes=(1, 2))
    assert result.ok, result.report.table()
    assert result.report.paths == [f"emitted-{to}", *CONVERT_PATHS] == [f"emitted-{to}", "onnx-ir"]
    assert {r.pair for r in result.report.rows} == {f"emitted-{to} vs onnx-ir"}
    assert sorted({r.batch for r in result.report.rows}) == [1, 2]
    assert dict(lowerings) == {(to, False, False): 1}
    assert set(result.profile) == {"import", "emit", "verify"} == set(result.seconds)
    assert all(s["wall_s"] >= 0 and s["cpu_s"] >= 0 and s["peak_rss_mb"] > 0 for s in result.profile.values())


def test_verify_runs_both_frameworks_and_the_ir_onnx_file_by_default():
    report = verify(tiny(), batch_sizes=(1, 2))
    assert report.ok, report.table()
    assert report.paths == list(PATHS) == ["keras", "torch", "onnx-ir"]
    assert verify(tiny(), batch_sizes=(2,), paths="all").paths == list(ALL_PATHS)


def test_each_path_runs_once_per_input_size(monkeypatch):
    """A path is built once and run once per case, whatever the number of other paths."""
    calls = Counter()
    for name, target in TARGETS.items():

        def counted(net, xs, _name=name, _call=target.call):
            calls[_name] += 1
            return _call(net, xs)

        monkeypatch.setitem(TARGETS, name, dataclasses.replace(target, call=counted))
    report = verify(tiny(), batch_sizes=(1, 2, 3), paths=("keras", "torch", "onnx-ir"))
    assert report.ok, report.table()
    assert dict(calls) == {"keras": 3, "torch": 3}


def test_emit_lowers_once_for_source_and_weights(lowerings, tmp_path):
    from twinnet.backends import emit

    emit(tiny(), "keras", tmp_path)
    assert dict(lowerings) == {("keras", False, False): 1}
    assert (tmp_path / "tiny_cnn.weights.h5").is_file()


def test_the_emitted_runner_uses_the_programs_layouts(tmp_path):
    """With native_io the emitted Keras model takes NHWC; the runner still takes and returns declared arrays."""
    from twinnet.exporters.convert import load_emitted, write_target

    model = tiny()
    program = TARGETS["keras"].lower(model, native_io=True)
    write_target(model, "keras", tmp_path, native_io=True, program=program)
    run = load_emitted(model, "keras", tmp_path, native_io=True, program=program)
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 6)).astype("float32")
    reference = TARGETS["torch"].runner(TARGETS["torch"].compile(TARGETS["torch"].lower(model), model), model)
    np.testing.assert_allclose(run([x])[0], reference([x])[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("first,second", [("torch", "keras"), ("keras", "torch")])
def test_converting_again_removes_the_other_targets_weights(first, second, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "other.safetensors").write_text("not twinnet's")
    model = tiny("m")
    assert convert(model, first, out, paths=("torch",), batch_sizes=(2,)).ok
    assert (out / f"m{TARGETS[first].weights_suffix}").is_file()
    result = convert(model, second, out, paths=("torch",), batch_sizes=(2,))
    assert result.ok, result.report.table()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["notes.txt", "other.safetensors", "m.py", f"m{TARGETS[second].weights_suffix}", "m.twinnet.safetensors"]
    )
    assert (out / "notes.txt").read_text() == "mine"


def _lines_with_rows(text, rows):
    """Each row, found as one line of ``text`` holding its cells in order."""
    found = []
    for row in rows:
        for line in text.splitlines():
            at, ok = 0, True
            for cell in row:
                at = line.find(cell, at)
                if at < 0:
                    ok = False
                    break
                at += len(cell)
            if ok:
                found.append(line)
                break
    return found


@pytest.mark.parametrize("rich", [True, False], ids=["rich", "plain"])
def test_cli_table_and_report_table_show_the_same_rows(rich, monkeypatch, capsys):
    if rich:
        pytest.importorskip("rich")
    else:
        monkeypatch.setitem(sys.modules, "rich", None)  # the plain-text fallback
    report = verify(tiny(), paths=("torch", "onnx-ir"), batch_sizes=(1, 2))
    rows = report.table_rows()
    assert len(rows) == len(report.summary_rows()) == 1 and rows[0][4] == "b1 b2"
    text = report.table()
    print_report(report, "title")
    cli = capsys.readouterr().out
    for rendering in (text, cli):
        assert len(_lines_with_rows(rendering, rows)) == len(rows), rendering
        assert all(h in rendering.lower() for h in ("max abs diff", "sizes")), rendering
        assert rendering.rstrip().endswith("OK: every pair agrees"), rendering
