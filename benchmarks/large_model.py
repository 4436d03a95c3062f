"""A model past protobuf's 2 GiB limit: saved in shards, converted and verified, peak memory against its weights.

A decoder-style language model built from IR layers and ops (token embedding; blocks of layer norm,
causal multi-head self-attention as ``Dense`` projections, ``View``/``Transpose`` and
``ScaledDotProductAttention``, and a GELU MLP, each with a residual ``Add``; a final norm and an LM head),
random weights, sized to ``--mb`` megabytes of float32 weights (default 2,500: ~630 M parameters). It is
saved as ``model.json`` with its weights in shards (``--shard-mb``), then, each in a fresh process measured
by ``os.wait4`` (wall seconds and peak resident memory):

* ``import torch, keras, onnxruntime``: the frameworks' bare import footprint;
* ``twinnet convert model.json --to torch`` (the emitted file and the ONNX file written from the IR, with
  its weights as external data past 1 GiB, verified against each other), and to Keras with
  ``--to torch keras`` (memory allowing);
* with ``--verify``, ``twinnet verify model.json --paths torch,onnx-ir`` (or ``--paths all``: the ONNX
  files exported through torch and Keras too, their weights as external data past 1 GiB).

Printed per run: the weights' bytes, peak RSS, the ratio peak / weights (the goal: under 2.5) and the
same after subtracting the import footprint, wall time, and each stage's peak RSS from ``--profile``.
Develop with a small size; run the full size rarely (it writes ~10 GB to a temporary folder):

    python benchmarks/large_model.py --mb 300
    python benchmarks/large_model.py                 # ~2.5 GB
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
SEQ = 16


def decoder(mb: float, seed: int = 0):
    """The decoder-style model with about ``mb`` MB of float32 weights (random: ``randomize(seed)``)."""
    from twinnet import ir
    from twinnet.ir import layers as L
    from twinnet.ir import ops as O

    width = 2048 if mb >= 1000 else 768 if mb >= 100 else 128
    heads, vocab = width // 128 if width >= 1024 else width // 64, 16 * width
    per_block = 12 * width * width  # q, k, v, o (4 d^2) and the MLP (8 d^2), biases aside
    blocks = max(1, round((mb * 1e6 / 4 - 2 * vocab * width) / per_block))
    ids = ir.Input((SEQ,), dtype="int32", name="ids")
    x = L.Embedding(vocab, width, name="embed")(ids)
    for b in range(blocks):
        h = L.LayerNorm(name=f"b{b}_norm1")(x)
        qkv = [
            O.Transpose("NATE")(O.View((SEQ, heads, width // heads), "NTAE")(L.Dense(width, name=f"b{b}_{p}")(h)))
            for p in "qkv"
        ]
        a = O.ScaledDotProductAttention(causal=True, name=f"b{b}_attention")(qkv)
        a = O.View((SEQ, width), "NTC")(O.Transpose("NTAE")(a))
        x = L.Add(name=f"b{b}_res1")([x, L.Dense(width, name=f"b{b}_o")(a)])
        h = L.LayerNorm(name=f"b{b}_norm2")(x)
        h = L.Dense(4 * width, activation="gelu", name=f"b{b}_up")(h)
        x = L.Add(name=f"b{b}_res2")([x, L.Dense(width, name=f"b{b}_down")(h)])
    logits = L.Dense(vocab, name="lm_head")(L.LayerNorm(name="final_norm")(x))
    return ir.Model(ids, logits, name="decoder").randomize(seed)


BUILD = """
import json, sys, time
sys.path.insert(0, {here!r})
from large_model import decoder
from twinnet import ir
t = time.perf_counter()
m = decoder(float(sys.argv[1]))
ir.save(m, sys.argv[2], max_shard_size=int(sys.argv[3]))
print(json.dumps({{"weights_bytes": int(sum(a.nbytes for a in m.weights.values())),
                  "params": m.count_params(), "layers": len(m.layers), "seconds": time.perf_counter() - t}}))
"""

IMPORTS = "import torch, keras, onnxruntime"


def measured(argv: list[str]) -> dict:
    """Run ``argv``; its wall seconds, peak RSS (MiB, from ``os.wait4``), exit status and output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        text, errors = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return {"wall_s": wall, "peak_mb": usage.ru_maxrss / 1024, "rc": proc.returncode, "out": text, "err": errors}


def run(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="twinnet-large-", dir=args.tmp))
    py = sys.executable
    built = measured([py, "-c", BUILD.format(here=str(Path(__file__).parent)), str(args.mb), str(work / "model.json"),
                      str(int(args.shard_mb * 2**20))])  # fmt: skip
    if built["rc"] != 0:
        sys.exit(f"building the model failed:\n{built['err'][-2000:]}")
    info = json.loads(built["out"].strip().splitlines()[-1])
    weights_mb = info["weights_bytes"] / 2**20
    shards = json.loads((work / "model.json").read_text())["weights"]
    count = len(shards["shards"]) if "shards" in shards else 1
    print(
        f"model: {info['params']:,} parameters, {info['layers']} layers, {weights_mb:,.0f} MiB of weights in "
        f"{count} shard(s); built and saved in {built['wall_s']:.1f}s (peak {built['peak_mb']:,.0f} MiB)"
    )
    imports = measured([py, "-c", IMPORTS])
    print(f"import footprint ({IMPORTS}): {imports['peak_mb']:,.0f} MiB, {imports['wall_s']:.1f}s")
    runs = [(f"convert --to {to}", ["convert", "model.json", "--to", to, "-o", f"out_{to}"]) for to in args.to]
    if args.verify:
        runs.append((f"verify --paths {args.paths}", ["verify", "model.json", "--paths", args.paths]))
    print(f"{'run':30} {'rc':>3} {'wall s':>7} {'peak MiB':>9} {'peak/weights':>13} {'(peak-imports)/weights':>23}")
    for label, cli in runs:
        extra = ["--profile"] if cli[0] == "convert" else []
        argv = [py, "-m", "twinnet.exporters", *[str(work / c) if c.startswith(("model", "out")) else c for c in cli]]
        r = measured([*argv, *extra])
        ratio, net = r["peak_mb"] / weights_mb, (r["peak_mb"] - imports["peak_mb"]) / weights_mb
        print(f"{label:30} {r['rc']:>3} {r['wall_s']:>7.1f} {r['peak_mb']:>9,.0f} {ratio:>13.2f} {net:>23.2f}")
        for line in r["out"].splitlines():
            if re.match(r"^profile |.*\b(pass|FAIL|fail)\b.*onnx-ir", line):
                print(f"    {line.strip()}")
        if r["rc"] != 0:
            print("    " + "\n    ".join((r["err"] or r["out"]).strip().splitlines()[-6:]))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"files kept in {work}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mb", type=float, default=2500, help="float32 weights to build, in MB (default 2500)")
    p.add_argument("--shard-mb", type=float, default=1024, help="largest weights shard, in MiB (default 1024)")
    p.add_argument("--to", nargs="+", choices=("torch", "keras"), default=["torch"], help="targets (default torch)")
    p.add_argument("--verify", action="store_true", help="also run twinnet verify --paths PATHS")
    p.add_argument("--paths", default="torch,onnx-ir", help="the paths --verify runs (default torch,onnx-ir; 'all')")
    p.add_argument("--keep", action="store_true", help="keep the files written")
    p.add_argument("--tmp", default=None, help="where to write the files (default: the system's temporary folder)")
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
