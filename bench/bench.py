"""Style-transfer benchmark: per-evaluation efficiency, classic recipe vs presets, peak memory.

    python bench/bench.py                 # the table (about 20 minutes on 2 CPU cores)
    python bench/bench.py --only eval,rss # some sections: eval, classic, presets, rss, schedules

Prints a table and writes it as JSON to bench/results/<date>-<host>.json. All runs transfer
examples/starry_night.jpg onto examples/tubingen.jpg with the default layers and ratio, and
every "objective" is the same 512 px loss (Eq. 7 with stylesynth's normalization) of the
final image, so different schedules are compared on one definition.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "examples" / "tubingen.jpg"
STYLE = ROOT / "examples" / "starry_night.jpg"
SIZE = 512


def matmul_gflops(n: int = 2048, repeats: int = 20, dtype: torch.dtype = torch.float32) -> float:
    """The machine's peak matrix-multiply rate in `dtype`: the fastest of `repeats` products
    (a median is dragged down by other processes on a shared machine, and an efficiency must
    be measured against what the machine can do at best)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def objective_at(size: int, dtype: torch.dtype | None = None):
    """(objective function, content tensor) of the default transfer at `size`, its convolutions
    in `dtype` (None: float32)."""
    from stylesynth.io.images import load_image, to_tensor
    from stylesynth.engine.objective import (DEFAULT_CONTENT_LAYERS, DEFAULT_RATIO, DEFAULT_STYLE_LAYERS,
                                      GatysObjective, LossWeights, content_targets, parse_layers,
                                      style_targets)
    from stylesynth.nets.pretrained import shared_network

    net = shared_network("vgg16", "max", "cpu", None)
    content = to_tensor(load_image(CONTENT, size))
    style = to_tensor(load_image(STYLE, size))
    objective = GatysObjective(
        net, LossWeights(DEFAULT_RATIO, 1.0),
        content_targets(net, [(content, 1.0)], parse_layers(DEFAULT_CONTENT_LAYERS)),
        style_targets(net, [(style, 1.0)], parse_layers(DEFAULT_STYLE_LAYERS)), dtype=dtype)
    return objective, content


def evaluation_flops(objective, image: torch.Tensor) -> float:
    """FLOPs of one evaluation, from the layer shapes: every conv up to the deepest layer,
    forward (2*Cin*Cout*k*k per output position) plus the backward to the input (the same
    again: weights are frozen, so no weight gradients); Gram matrices 2*N*N*M forward and
    twice that backward. ReLU, pooling and the losses' elementwise work are left out."""
    net = objective.net
    last = max(net.layer_names.index(name) for name in objective.layers)
    x, flops = image, 0.0
    with torch.no_grad():
        for index in range(last + 1):
            module = net.features[index]
            y = module(x)
            if isinstance(module, torch.nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                flops += 2 * 2 * module.in_channels * module.out_channels * k * y.shape[-1] * y.shape[-2]
            name = net.layer_names[index]
            if name in objective.style:
                n, m = y.shape[1], y.shape[-1] * y.shape[-2]
                flops += 3 * 2 * n * n * m
            x = y
    return flops


def bench_eval(repeats: int = 7) -> dict:
    """Seconds per evaluation in float32 and in the precision `auto` picks here, each against
    the matmul rate of its own dtype."""
    from stylesynth.nets.networks import pick_dtype

    objective, content = objective_at(SIZE)
    flops = evaluation_flops(objective, content)
    result = {"size": list(content.shape[-2:][::-1]), "gflop_per_eval": flops / 1e9}
    dtypes = {"float32": None}
    auto = pick_dtype("auto", torch.device("cpu"))
    if auto is not None:
        dtypes[str(auto).removeprefix("torch.")] = auto
    for name, dtype in dtypes.items():
        objective, _ = objective_at(SIZE, dtype)
        x = content.contiguous().requires_grad_(True)
        times = []
        for k in range(repeats + 2):
            start = time.perf_counter()
            loss, _ = objective(x)
            loss.backward()
            x.grad = None
            if k >= 2:  # two warm-up evaluations
                times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        peak = matmul_gflops(dtype=dtype or torch.float32)
        result[name] = {"seconds_per_eval": seconds, "achieved_gflops": flops / seconds / 1e9,
                        "matmul_gflops": peak, "efficiency": flops / seconds / 1e9 / peak}
    result["default_precision"] = str(auto or torch.float32).removeprefix("torch.")
    return result


def run_transfer(**options) -> dict:
    """One transfer at 512 px in this process (default options but `options`); wall time and
    the objective at 512 px, always evaluated in float32."""
    import stylesynth

    start = time.perf_counter()
    image = stylesynth.transfer(CONTENT, STYLE, size=SIZE, seed=0, progress=False, device="cpu",
                                cache_targets=False, **options)
    wall = time.perf_counter() - start
    from stylesynth.io.images import to_tensor

    objective, _ = objective_at(SIZE)
    with torch.no_grad():
        value = objective(to_tensor(image))[0].item()
    record = image.info["stylesynth"]
    return {"options": options, "wall_seconds": wall, "objective_512": value,
            "evaluations": record["evaluations"], "schedule": record["schedule"]}


def peak_rss(size: int, runs: int = 3) -> dict:
    """Peak resident memory of a transfer at `size` (two iterations at the finest scale), each
    run in a fresh process so that earlier runs do not count; the largest of `runs`.

    The child reads its own high-water mark VmHWM from /proc: getrusage's ru_maxrss survives
    exec, so a child started by this (large) process would report this process's peak."""
    code = (
        "import stylesynth\n"
        f"stylesynth.transfer({str(CONTENT)!r}, {str(STYLE)!r}, size={size}, scales=1, iterations=2,"
        " progress=False, device='cpu', cache_targets=False)\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n")
    start = time.perf_counter()
    peaks = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.split()[-1]) / 1024)
    from stylesynth.engine.memory import estimate_memory

    return {"size": size, "peak_rss_mb": max(peaks), "peak_rss_mb_runs": peaks,
            "estimate_mb": estimate_memory(size_of(size)) / 2**20,
            "seconds": (time.perf_counter() - start) / runs}


def size_of(long_side: int) -> tuple[int, int]:
    from PIL import Image

    from stylesynth.engine.start import output_size

    return output_size(Image.open(CONTENT), long_side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="eval,classic,presets,rss")
    parser.add_argument("--presets", default="fast")
    parser.add_argument("--schedules", default="60;75;100;40,70;100,30,60;150,50,12",
                        help="section `schedules`: iteration lists (coarse to fine) separated by ;")
    parser.add_argument("--runs", type=int, default=3, help="runs of each preset (median)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sections = set(args.only.split(","))
    results: dict = {"machine": {"host": socket.gethostname(), "cpu": platform.processor() or platform.machine(),
                                 "cores": os.cpu_count(), "torch": torch.__version__,
                                 "threads": torch.get_num_threads()},
                     "date": time.strftime("%Y-%m-%d %H:%M")}
    if "eval" in sections:
        results["eval"] = e = bench_eval()
        for name in ("float32", "bfloat16"):
            if name in e:
                r = e[name]
                print(f"1. one evaluation at {e['size'][0]}x{e['size'][1]} in {name}: {r['seconds_per_eval']:.3f} s, "
                      f"{e['gflop_per_eval']:.1f} GFLOP -> {r['achieved_gflops']:.1f} GFLOP/s; {name} matmul "
                      f"{r['matmul_gflops']:.1f} GFLOP/s; efficiency {r['efficiency']:.0%}", flush=True)
    if "classic" in sections:
        # The reference recipe as jcjohnson/neural-style runs it: float32 throughout.
        results["classic"] = run_transfer(preset="single", precision="float32")
        c = results["classic"]
        print(f"2. one scale (preset single: L-BFGS, content init, 500 evaluations): {c['wall_seconds']:.1f} s, "
              f"objective at 512 px {c['objective_512']:.4g}", flush=True)
    if "presets" in sections:
        results["presets"] = {}
        for preset in args.presets.split(","):
            runs = [run_transfer(preset=preset) for _ in range(args.runs)]
            wall = statistics.median(r["wall_seconds"] for r in runs)
            value = statistics.median(r["objective_512"] for r in runs)
            entry = {"wall_seconds_median": wall, "wall_seconds": [r["wall_seconds"] for r in runs],
                     "objective_512": value, "schedule": runs[0]["schedule"]}
            if "classic" in results:
                entry["time_ratio_vs_classic"] = wall / results["classic"]["wall_seconds"]
                entry["objective_ratio_vs_classic"] = value / results["classic"]["objective_512"]
            results["presets"][preset] = entry
            ratios = (f"; vs classic: time x{entry['time_ratio_vs_classic']:.3f}, objective "
                      f"x{entry['objective_ratio_vs_classic']:.3f}" if "classic" in results else "")
            print(f"3. preset {preset} {entry['schedule']}: median {wall:.1f} s of {args.runs}, "
                  f"objective at 512 px {value:.4g}{ratios}", flush=True)
    if "schedules" in sections:  # the measurements behind the presets (one run each)
        results["schedules"] = [run_transfer(iterations=spec, scales=len(spec.split(",")))
                                for spec in args.schedules.split(";")]
        for r in results["schedules"]:
            print(f"   schedule {r['schedule']}: {r['wall_seconds']:.1f} s, objective at 512 px "
                  f"{r['objective_512']:.4g}", flush=True)
    if "rss" in sections:
        results["rss"] = [peak_rss(size) for size in (512, 1024, 2048)]
        for r in results["rss"]:
            print(f"4. peak RSS at {r['size']} px: {r['peak_rss_mb']:.0f} MB, the largest of "
                  f"{', '.join(f'{p:.0f}' for p in r['peak_rss_mb_runs'])} "
                  f"(estimate {r['estimate_mb']:.0f} MB)", flush=True)
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / (
        time.strftime("%Y%m%d-%H%M") + f"-{socket.gethostname()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
