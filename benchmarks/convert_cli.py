"""What a user waits for: ``twinnet convert`` run as a command, next to the peer routes, in one run.

For each Keras application (random weights, saved to a ``.keras`` file first), every figure comes from
a fresh process, measured by ``os.wait4``: wall seconds, CPU seconds (user + system, every thread) and
peak resident memory. Side by side:

* the frameworks' bare import footprint, twice: ``import keras, torch, onnx, onnxruntime`` under Keras's
  torch backend (what the default convert below loads: the ``twinnet`` command runs a ``.keras`` file
  converted to torch under that backend, and never loads TensorFlow), and ``import keras, torch,
  onnxruntime`` under TensorFlow (what it loaded before, and what ``--paths all`` loads);
* ``twinnet convert M.keras --to torch`` (default paths: the source model, the emitted file and the
  ONNX file written from the IR), ``--repeat`` times, and the same with ``--paths all`` once;
* the peer route Keras -> ONNX (tf2onnx, through ``keras.Model.export``) -> onnx2torch, and the route
  torch -> ONNX -> onnx2tf, where they install; a row that cannot run says why.

The goal is a ratio printed per model: the convert's peak RSS over (import footprint + 3 x the weights'
bytes), the footprint being that of the frameworks the default convert loads (the first row), and its
wall time over the peer route's. CPU seconds (user + system, every thread) stand beside wall seconds:
on a shared machine the wall time is inflated, the CPU time much less. Run from the repository root,
on a quiet machine, for the issue's figures (10 s wall, budget ratio at most 1):

    python benchmarks/convert.py --cli --cli-models resnet50_224 --repeat 2
    python benchmarks/convert.py --cli                       # resnet50 at 224 px, mobilenetv2 at 96 px
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: key -> the keras.applications call that makes the model (random weights: nothing is downloaded)
MODELS = {
    "resnet50_224": "keras.applications.ResNet50(weights=None)",
    "mobilenetv2_96": "keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))",
}
#: `twinnet convert`'s exit status when every pair agreed but an output barely varies with the input
UNINFORMATIVE_EXIT = 5
# the command picks its own Keras backend and OpenMP wait policy where the environment does not say
ENV = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "OMP_WAIT_POLICY")} | {
    "TF_CPP_MIN_LOG_LEVEL": "3"
}

# weights=None gives an uninformative model (its output barely varies with the input, so `convert` exits 5):
# the statistics and biases are randomised and calibrated as trained ones would be (twinnet's --randomize helper)
MAKE = """
import json, sys, keras
from twinnet.exporters.randomize import randomize_keras
km = randomize_keras({call}, 0)
km.save(sys.argv[1])
print(json.dumps({{"weights_bytes": int(sum(v.numpy().nbytes for v in km.weights))}}))
"""

# Keras -> ONNX -> onnx2torch, as a user of those tools would run it (one process, the output checked to run)
PEER_ONNX2TORCH = """
import sys, numpy as np, keras
km = keras.saving.load_model(sys.argv[1], compile=False)
x = np.random.default_rng(0).standard_normal((1, *km.input_shape[1:])).astype("float32")
km(x)  # the exporter needs a model that has been called once
km.export(sys.argv[2], format="onnx", verbose=False)
try:
    import onnx2torch
except Exception as e:
    print(f"SKIP onnx2torch does not import here ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
    sys.exit(0)
import onnx, torch
net = onnx2torch.convert(onnx.load(sys.argv[2])).eval()
with torch.no_grad():
    net(torch.from_numpy(x))
"""

# torch -> ONNX -> onnx2tf: needs a torch model (torchvision's would do) and onnx2tf
PEER_ONNX2TF = """
import sys
try:
    import onnx2tf, torchvision
except Exception as e:
    print(f"SKIP onnx2tf or torchvision does not import here ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
    sys.exit(0)
print("SKIP not written yet: onnx2tf imports here, add the torch model to convert")
"""


def run(argv: list[str], cwd=None, env=None) -> dict:
    """Run ``argv`` to its end; its wall and CPU seconds, peak RSS (MiB), exit status and output.

    ``env``: variables set for it besides this process's environment."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**ENV, **(env or {})}, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    peak = usage.ru_maxrss / (1 << 20) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": peak,
        "rc": proc.returncode,
        "output": text,
    }


def python(code: str, *args: str) -> dict:
    return run([sys.executable, "-c", code, *args])


def twinnet_convert(src: Path, out: Path, *extra: str) -> dict:
    result = run(
        [sys.executable, "-m", "twinnet.exporters", "convert", str(src), "--to", "torch", "-o", str(out), *extra]
    )
    result["what"] = "twinnet convert --to torch " + " ".join(extra)
    return result


def model_rows(key: str, folder: Path, footprint: dict, repeat: int = 1) -> list[dict]:
    """The rows of one model: making it, twinnet's convert (default and all paths), the peer routes."""
    src = folder / f"{key}.keras"
    made = python(MAKE.format(call=MODELS[key]), str(src))
    if made["rc"] != 0:
        return [{"model": key, "what": "make the .keras file", "skip": made["output"].strip().splitlines()[-1]}]
    weights = json.loads(made["output"].strip().splitlines()[-1])["weights_bytes"]
    budget = footprint["peak_rss_mb"] + 3 * weights / (1 << 20)
    rows = []
    for i, extra in enumerate([()] * repeat + [("--randomize",), ("--paths", "all")]):
        row = twinnet_convert(src, folder / f"{key}-out-{i}", "--quiet", *extra)
        rows.append(row)
    peer = python(PEER_ONNX2TORCH, str(src), str(folder / f"{key}.onnx"))
    peer["what"] = "peer: keras -> onnx (tf2onnx) -> onnx2torch"
    rows.append(peer)
    other = python(PEER_ONNX2TF)
    other["what"] = "peer: torch -> onnx -> onnx2tf"
    rows.append(other)
    for row in rows:
        row["model"], row["weights_mb"], row["budget_mb"] = key, weights / (1 << 20), budget
        skip = [line for line in row["output"].splitlines() if line.startswith("SKIP ")]
        if skip:
            row["skip"] = skip[0][5:]
            if "keras -> onnx" in row["what"]:  # the Keras -> ONNX leg ran: its figures stand for that leg alone
                row["what"] = "peer, first leg only: keras -> onnx (tf2onnx)"
                row["partial"] = True
        elif row["rc"] == UNINFORMATIVE_EXIT and "convert" in row["what"]:
            row["uninformative"] = True  # every stage ran; random weights leave the predictions nearly constant
        elif row["rc"] != 0:
            row["skip"] = f"exit {row['rc']}: " + (row["output"].strip().splitlines() or [""])[-1][:160]
        if "convert" in row["what"] and row["rc"] in (0, UNINFORMATIVE_EXIT):
            row["rss_over_budget"] = row["peak_rss_mb"] / budget
    default = rows[0]
    for row in rows[1:]:
        if "skip" not in row or row.get("partial"):
            row["default_convert_wall_ratio"] = default["wall_s"] / row["wall_s"]
    return rows


def cli_rows(keys, repeat: int = 1) -> list[dict]:
    """Every row, the frameworks' import footprints first (the budget's is the first one)."""
    footprint = run([sys.executable, "-c", "import keras, torch, onnx, onnxruntime"], env={"KERAS_BACKEND": "torch"})
    footprint.update(model="-", what="KERAS_BACKEND=torch: import keras, torch, onnx, onnxruntime (footprint)")
    tensorflow = run([sys.executable, "-c", "import keras, torch, onnxruntime"], env={"KERAS_BACKEND": "tensorflow"})
    tensorflow.update(model="-", what="KERAS_BACKEND=tensorflow: import keras, torch, onnxruntime")
    rows = [footprint, tensorflow]
    with tempfile.TemporaryDirectory(prefix="twinnet-bench-") as tmp:
        for key in keys:
            rows += model_rows(key, Path(tmp), footprint, repeat)
    for row in rows:
        row.pop("output", None)
    return rows


def print_rows(rows: list[dict]) -> None:
    head = ("model", "what", "wall s", "CPU s", "peak RSS MiB", "RSS / budget", "default wall / this")
    lines = [head]
    for r in rows:
        if "skip" in r and not r.get("partial"):
            lines.append((r["model"], r["what"], "-", "-", "-", "-", "skipped: " + r["skip"]))
            continue
        lines.append(
            (
                r["model"],
                r["what"],
                f"{r['wall_s']:.1f}",
                f"{r['cpu_s']:.1f}",
                f"{r['peak_rss_mb']:,.0f}",
                f"{r['rss_over_budget']:.2f}" if "rss_over_budget" in r else "",
                f"{r['default_convert_wall_ratio']:.2f}" if "default_convert_wall_ratio" in r else "",
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    budgets = {r["model"]: (r["weights_mb"], r["budget_mb"]) for r in rows if "budget_mb" in r}
    for model, (weights, budget) in budgets.items():
        print(f"{model}: weights {weights:,.0f} MiB; budget = import footprint + 3 x weights = {budget:,.0f} MiB")
    for r in rows:
        if r.get("uninformative"):
            print(
                f"{r['model']}: `{r['what']}` exited {UNINFORMATIVE_EXIT} (uninformative: with random weights the"
                " predictions barely vary with the input); every stage ran, so its time stands"
            )
        if r.get("partial"):
            print(f"{r['model']}: the peer's second leg did not run: {r['skip']}")
