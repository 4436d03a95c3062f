"""twinnet on a GPU, in float32, float16 and bfloat16: one short check (well under 5 minutes on one GPU).

Run from the repository root (no network, no install; Keras, TensorFlow and timm may be absent):

    python benchmarks/gpu_check.py --out "$OUT"

Where ``import twinnet`` fails (the checkout is not installed), the script imports it from this checkout:
the repository root *is* the package ``twinnet``, so it puts the root's parent on ``sys.path`` when the
folder is named ``twinnet``, and otherwise a link named ``twinnet`` to it in a temporary folder
(:func:`bootstrap`). ``pip install --no-deps --no-build-isolation -e .`` (offline, needs setuptools)
installs it instead.

For each IR model (a convnet with BatchNorm, an LSTM, a small transformer from Embedding, a learned
position table (ops.Learned), MultiHeadAttention and an RMS-normalised feed-forward (ops.Normalize), and
ResNet-50, all with random weights and randomised normalisation statistics and biases) and each
precision (float32, float16, bfloat16), it:

1. compiles to torch on the GPU (``to_torch(model, dtype=..., device=...)``) and on the CPU;
2. compares the GPU outputs with the CPU torch module of the same precision and with the ONNX file
   written straight from the IR run by onnxruntime on the CPU in float32 on the same rounded weights
   (the float32 reference), at the precision's tolerances (twinnet.exporters.tolerances);
3. runs ``verify(model, device=...)`` on the torch and onnx-ir paths (Keras too where it is installed);
4. times one forward pass at two batch sizes on the GPU and on the CPU (float32 on the CPU);

and trains the convnet for two epochs with ``twinnet.fit(..., device=...)`` on the GPU and on the CPU,
comparing the per-epoch losses (relative 1e-3).

It prints one table and writes ``gpu_check.json`` to ``--out``. Keras paths are skipped, with the reason
printed, where Keras is not installed. ``--device cpu`` runs the same steps without a GPU (a dry run).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PRECISIONS = ("float32", "float16", "bfloat16")


def bootstrap() -> str:
    """Make ``import twinnet`` work from this checkout when twinnet is not installed; returns where it came from."""
    try:
        import twinnet
    except ImportError:
        root = Path(__file__).resolve().parents[1]
        if root.name == "twinnet":
            sys.path.insert(0, str(root.parent))
        else:
            folder = Path(tempfile.mkdtemp(prefix="twinnet-checkout-"))
            (folder / "twinnet").symlink_to(root, target_is_directory=True)
            sys.path.insert(0, str(folder))
        import twinnet
    return str(Path(twinnet.__file__).parent)


def build_models(quick: bool) -> dict:
    """name -> (IR model with random weights, (small batch, large batch), sequence length or None)."""
    from twinnet import ir
    from twinnet.ir import layers as L
    from twinnet.ir import ops as O

    models = {}
    x = ir.Input((32, 32, 3), layout="NHWC", name="image")
    y = x
    for width in (16, 32, 64):
        y = L.Conv2D(width, 3, padding="same", use_bias=False)(y)
        y = L.BatchNorm()(y)
        y = L.Activation("relu")(y)
        y = L.MaxPool2D(2)(y)
    y = L.Dense(10)(L.Flatten()(y))
    models["convnet_bn"] = (ir.Model(x, y, name="convnet_bn"), (2, 64), None)

    t = ir.Input((None, 16), layout="NTC", name="signal")
    s = L.LSTM(64, return_sequences=True)(t)
    s = L.LSTM(64)(s)
    models["lstm"] = (ir.Model(t, L.Dense(4)(s), name="lstm"), (2, 64), 24)

    length, width = 32, 64
    tokens = ir.Input((length,), layout="NT", dtype="int32", name="tokens")
    h = L.Embedding(100, width)(tokens)
    h = L.Add()([h, O.Learned((length, width), "NTC", init="embedding_uniform")(h)])
    for _ in range(2):
        a = L.LayerNorm()(h)
        h = L.Add()([h, L.MultiHeadAttention(4, 16, use_causal_mask=True)([a, a])])
        f = O.Normalize(rms=True)(h)
        f = L.Dense(width)(L.Dense(4 * width, activation="gelu")(f))
        h = L.Add()([h, f])
    models["transformer"] = (ir.Model(tokens, L.Dense(100)(L.LayerNorm()(h)), name="transformer"), (2, 32), None)

    if not quick:
        models["resnet50"] = (resnet50(), (1, 16), None)
    return {name: (model.randomize(0), sizes, seq) for name, (model, sizes, seq) in models.items()}


def resnet50(size: int = 224):
    """ResNet-50 (v1.5: stride in the 3x3 conv) from IR layers, 25.6 M parameters."""
    from twinnet import ir
    from twinnet.ir import layers as L

    def conv_bn(x, filters, kernel, strides=1, relu=True):
        x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        x = L.BatchNorm(epsilon=1e-5)(x)
        return L.Activation("relu")(x) if relu else x

    x = ir.Input((size, size, 3), layout="NHWC", name="image")
    y = L.MaxPool2D(3, strides=2, padding="same")(conv_bn(x, 64, 7, strides=2))
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        for b in range(blocks):
            strides = 2 if b == 0 and stage > 0 else 1
            shortcut = conv_bn(y, 4 * width, 1, strides, relu=False) if b == 0 else y
            z = conv_bn(conv_bn(y, width, 1), width, 3, strides)
            y = L.Activation("relu")(L.Add()([shortcut, conv_bn(z, 4 * width, 1, relu=False)]))
    y = L.Dense(1000)(L.GlobalAvgPool2D()(y))
    return ir.Model(x, y, name="resnet50")


def inputs_for(model, batch: int, seq, seed: int = 0) -> list[np.ndarray]:
    from twinnet.exporters.inputs import model_inputs

    return model_inputs(model, batch, seq or 5, seed=seed)


def compare_row(a: np.ndarray, b: np.ndarray, dtype: str) -> dict:
    from twinnet.exporters.report import compare
    from twinnet.exporters.tolerances import tolerances

    tol = tolerances(dtype)
    max_abs, max_rel, ok, note = compare(a, b, tol.atol, tol.rtol, tol.scaled)
    peak = float(max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0)))
    return {"max_abs": max_abs, "rel_to_peak": max_abs / peak if peak else 0.0, "ok": ok, "note": note}


def time_forward(net, xs, device: str, repeats: int) -> float:
    """Median seconds of one forward pass (after two warm-up passes), synchronised on a GPU."""
    import torch

    from twinnet.backends.torch.placement import feed

    feeds = feed(net, xs)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    with torch.no_grad():
        for i in range(repeats + 2):
            sync()
            start = time.perf_counter()
            net(*feeds)
            sync()
            if i >= 2:
                times.append(time.perf_counter() - start)
    return float(np.median(times))


def check_model(name, model, sizes, seq, device: str, keras_ok: bool, repeats: int) -> list[dict]:
    import onnxruntime as ort

    import twinnet
    from twinnet.exporters.targets import TARGETS
    from twinnet.exporters.verify import float32_reference
    from twinnet.ir.precision import round_to

    rows = []
    torch_target = TARGETS["torch"]
    for dtype in PRECISIONS:
        model.dtype = dtype
        row = {"model": name, "dtype": dtype, "params": model.count_params()}
        start = time.perf_counter()
        try:
            gpu = twinnet.to_torch(model, device=device)
            row["compile_s"] = time.perf_counter() - start
            cpu = twinnet.to_torch(model)
            reference = float32_reference(model)
            session = ort.InferenceSession(
                twinnet.to_onnx(reference).SerializeToString(), providers=["CPUExecutionProvider"]
            )
            xs = [round_to(np.asarray(x), dtype) for x in inputs_for(model, sizes[0], seq, seed=1)]
            out_gpu = torch_target.runner(gpu, model)(xs)[0]
            out_cpu = torch_target.runner(cpu, model)(xs)[0]
            out_ort = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})[0]
            row["vs_cpu_torch"] = compare_row(out_gpu, out_cpu, dtype)
            row["vs_onnx_ir_f32"] = compare_row(out_gpu, out_ort, dtype)
            paths = ("keras", "torch", "onnx-ir") if keras_ok else ("torch", "onnx-ir")
            report = twinnet.verify(model, device=device, paths=paths, batch_sizes=(1, 3), localize=False)
            row["verify_ok"] = report.ok
            row["verify_errors"] = report.errors
            row["verify_worst"] = {r.pair: r.max_abs for r in report.summary_rows()}
            for batch in sizes:
                xb = inputs_for(model, batch, seq, seed=2)
                row[f"gpu_ms_b{batch}"] = 1e3 * time_forward(gpu, xb, device, repeats)
                if dtype == "float32":
                    row[f"cpu_ms_b{batch}"] = 1e3 * time_forward(cpu, xb, "cpu", max(1, repeats // 5))
            del gpu, cpu, session
        except Exception as e:  # a failure is a result: recorded and printed, the next case runs
            row["error"] = f"{type(e).__name__}: {str(e)[:400]}"
        rows.append(row)
        print(one_line(row), flush=True)
    model.dtype = "float32"
    return rows


def check_fit(model, device: str) -> dict:
    """``twinnet.fit`` of the convnet for two epochs on ``device`` and on the CPU: the per-epoch losses."""
    import twinnet
    from twinnet.ir import training as T

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, *model.inputs[0].shape[1:])).astype(np.float32)
    y = rng.integers(0, 10, 64).astype(np.int64)
    spec = T.TrainingSpec(T.SparseCategoricalCrossentropy(from_logits=True), T.Adam(1e-3), batch_size=16, epochs=2)
    out = {}
    try:
        for where in (device, "cpu"):
            history = twinnet.fit(twinnet.to_torch(model), spec, (x, y), device=where, verbose=False)
            out[where] = [float(v) for v in history.history["loss"]]
        ours, cpu = np.array(out[device]), np.array(out["cpu"])
        out["max_rel_diff"] = float(np.max(np.abs(ours - cpu) / np.maximum(np.abs(cpu), 1e-12)))
        out["ok"] = bool(out["max_rel_diff"] <= 1e-3)
    except Exception as e:  # recorded, not raised: the rest of the check still runs
        out.update(ok=False, error=f"{type(e).__name__}: {str(e)[:400]}")
    return out


def one_line(row: dict) -> str:
    if "error" in row:
        return f"{row['model']:<12} {row['dtype']:<9} ERROR {row['error']}"
    times = " ".join(f"{k}={v:.2f}" for k, v in row.items() if "_ms_b" in k)
    return (
        f"{row['model']:<12} {row['dtype']:<9} "
        f"vs-cpu {row['vs_cpu_torch']['rel_to_peak']:.1e} {'ok' if row['vs_cpu_torch']['ok'] else 'FAIL'}  "
        f"vs-onnx-f32 {row['vs_onnx_ir_f32']['rel_to_peak']:.1e} {'ok' if row['vs_onnx_ir_f32']['ok'] else 'FAIL'}  "
        f"verify {'ok' if row['verify_ok'] else 'FAIL ' + str(row['verify_errors'])[:120]}  {times}"
    )


def environment(device: str) -> dict:
    import onnx
    import onnxruntime as ort
    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "ort_providers": ort.get_available_providers(),
        "device": device,
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def keras_available() -> tuple[bool, str]:
    try:
        import keras  # noqa: F401
    except Exception as e:  # not installed, or TensorFlow missing under it
        return False, f"{type(e).__name__}: {e}"
    return True, ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder to write gpu_check.json to")
    parser.add_argument("--device", default="cuda", help="the torch device to check (default cuda)")
    parser.add_argument("--quick", action="store_true", help="leave out ResNet-50")
    parser.add_argument("--models", help="only these models, comma-separated (convnet_bn,lstm,transformer,resnet50)")
    parser.add_argument("--repeats", type=int, default=20, help="timed forward passes per batch size")
    args = parser.parse_args(argv)
    where = bootstrap()
    import torch

    torch.manual_seed(0)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device: torch {torch.__version__} sees none; rerun with --device cpu for a dry run")
        return 2
    keras_ok, why = keras_available()
    if not keras_ok:
        print(f"Keras paths skipped: Keras cannot be imported ({why})")
    started = time.perf_counter()
    env = environment(args.device)
    env["twinnet"] = where
    print(json.dumps(env))
    rows = []
    models = build_models(args.quick)
    for name, (model, sizes, seq) in models.items():
        if args.models and name not in args.models.split(","):
            continue
        rows += check_model(name, model, sizes, seq, args.device, keras_ok, args.repeats)
    fit_device = "cuda" if args.device.startswith("cuda") else args.device  # fit takes cpu, cuda or auto
    fit = check_fit(models["convnet_bn"][0], fit_device)
    print(f"fit on {fit_device} vs cpu: {json.dumps(fit)}")
    ok = fit["ok"] and all(
        "error" not in r and r["verify_ok"] and r["vs_cpu_torch"]["ok"] and r["vs_onnx_ir_f32"]["ok"] for r in rows
    )
    result = {"environment": env, "keras": keras_ok, "rows": rows, "fit": fit, "ok": ok}
    result["seconds"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(table(rows))
    print(f"{'OK' if ok else 'FAILED'} in {result['seconds']:.0f} s; wrote {out / 'gpu_check.json'}")
    return 0 if ok else 1


def table(rows: list[dict]) -> str:
    head = ("model", "dtype", "vs cpu torch", "vs onnx-ir f32", "verify", "gpu ms (b small/large)", "cpu f32 ms")
    body = []
    for r in rows:
        if "error" in r:
            body.append((r["model"], r["dtype"], "ERROR", r["error"][:60], "", "", ""))
            continue
        gpu = "/".join(f"{v:.2f}" for k, v in r.items() if k.startswith("gpu_ms_"))
        cpu = "/".join(f"{v:.1f}" for k, v in r.items() if k.startswith("cpu_ms_"))
        body.append(
            (
                r["model"],
                r["dtype"],
                f"{r['vs_cpu_torch']['rel_to_peak']:.1e} {'ok' if r['vs_cpu_torch']['ok'] else 'FAIL'}",
                f"{r['vs_onnx_ir_f32']['rel_to_peak']:.1e} {'ok' if r['vs_onnx_ir_f32']['ok'] else 'FAIL'}",
                "ok" if r["verify_ok"] else "FAIL",
                gpu,
                cpu,
            )
        )
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [head, *body]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
