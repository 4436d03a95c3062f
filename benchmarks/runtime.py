"""Run time of torch modules compiled back from their IR against the source modules (the issue's 5% budget).

For each model: the zoo's builder (``benchmarks/zoo_models.py``, random weights), ``from_torch`` then
``to_torch``, both modules called at batch 2 on the same inputs, interleaved (source, converted, source, ...)
so that load on a shared machine falls on both alike, torch on one thread, under ``inference_mode``. The
row gives the median and the minimum of converted / source over the repeats, both medians, and whether
the converted module computes what the source does (batch 1 and 2, the zoo's rule, ``benchmarks/zoo.py``).
``--profile`` adds, per side, where the time goes: ``torch.profiler``'s self CPU time per op kind.

    python benchmarks/runtime.py --models torchvision:convnext_tiny,timm:vit_tiny_patch16_224 --repeats 40
    python benchmarks/runtime.py --models torchvision:convnext_tiny --profile
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import zoo  # noqa: E402
import zoo_models  # noqa: E402

#: the models the issue's last measurement found over budget, and a few that were inside it
DEFAULT = (
    "torchvision:convnext_tiny,torchvision:convnext_small,torchvision:convnext_base,"
    "timm:vit_tiny_patch16_224,timm:deit_tiny_patch16_224,timm:convnext_atto,torchvision:mobilenet_v3_small,"
    "torchvision:resnet18,torchvision:mobilenet_v2,torchvision:efficientnet_b0,torchvision:swin_t,transformers:bert"
)


def build(spec: str, side: int):
    """``source:name`` -> (source module, example inputs, converted module)."""
    import twinnet

    source, name = spec.split(":", 1)
    net, examples = zoo_models.catalogue_builder(source, name)(side, 0)
    net.eval()
    converted = twinnet.to_torch(twinnet.from_torch(net, examples))
    return net, examples, converted


def equal(source, converted, examples) -> tuple[float, bool]:
    """(max rel diff, equal) of converted against source at batch sizes 1 and 2, under the zoo's rule."""
    rel, ok = 0.0, True
    for batch in (1, 2):
        xs = zoo.native_inputs((source, examples), batch, seed=batch)
        _, r, e = zoo.compare(zoo.bench.run_torch(converted, xs), zoo.run_source((source, examples), xs))
        rel, ok = max(rel, r), ok and e
    return rel, ok


def timed(calls: dict, repeats: int, warmup: int = 2) -> dict:
    """name -> list of seconds per call, calls interleaved."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times: dict = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def ratio(source, converted, examples, repeats: int) -> dict:
    """Median and minimum run time of each side at batch 2, and converted / source of each."""
    import torch

    xs = [torch.from_numpy(x) for x in zoo.native_inputs((source, examples), 2, seed=2)]
    with torch.inference_mode():
        t = timed({"source": lambda: source(*xs), "converted": lambda: converted(*xs)}, repeats)
    med = {k: statistics.median(v) for k, v in t.items()}
    low = {k: min(v) for k, v in t.items()}
    return {
        "source_ms": med["source"] * 1e3,
        "converted_ms": med["converted"] * 1e3,
        "median_ratio": med["converted"] / med["source"],
        "min_ratio": low["converted"] / low["source"],
    }


def profile(module, examples, top: int, label: str) -> None:
    """Print self CPU time per ATen op kind over a few calls of ``module``."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as run_profiler

    with torch.inference_mode():
        for _ in range(2):
            module(*examples)
        with run_profiler(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                module(*examples)
    print(f"--- {label}: self CPU time per op over 5 calls")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=DEFAULT, help="comma-separated source:name (zoo_models sources)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per side")
    parser.add_argument("--side", type=int, default=32, help="image side, as the zoo's default")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's op table for each side")
    parser.add_argument("--top", type=int, default=15, help="rows of the profile table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{'model':40} {'source ms':>10} {'conv ms':>10} {'median':>7} {'min':>7}  equal (max rel)")
    for spec in args.models.split(","):
        source, examples, converted = build(spec, args.side)
        rel, ok = equal(source, converted, examples)
        row = ratio(source, converted, examples, args.repeats)
        print(
            f"{spec:40} {row['source_ms']:10.2f} {row['converted_ms']:10.2f} "
            f"{row['median_ratio']:7.2f} {row['min_ratio']:7.2f}  {'yes' if ok else 'NO'} ({rel:.1e})",
            flush=True,
        )
        if args.profile:
            profile(source, examples, args.top, f"{spec} source")
            profile(converted, examples, args.top, f"{spec} converted")


if __name__ == "__main__":
    main()
