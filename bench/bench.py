"""Style-transfer benchmark: per-evaluation efficiency, classic recipe vs presets, peak memory.

    python bench/bench.py                 # everything (about 25 minutes on 2 CPU cores)
    python bench/bench.py --only eval,rss # some sections: eval, classic, presets, rss

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


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """The machine's fp32 matrix-multiply rate (median of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def objective_at(size: int):
    """(objective function, content tensor) of the default transfer at `size`."""
    from stylesynth.imageio import load_image, to_tensor
    from stylesynth.synthesis import (DEFAULT_CONTENT_LAYERS, DEFAULT_RATIO, DEFAULT_STYLE_LAYERS,
                                      GatysObjective, Weights, _network, content_targets,
                                      parse_layers, style_targets)

    net = _network("vgg16", "max", "cpu", None)
    content = to_tensor(load_image(CONTENT, size))
    style = to_tensor(load_image(STYLE, size))
    objective = GatysObjective(
        net, Weights(DEFAULT_RATIO, 1.0),
        content_targets(net, [(content, 1.0)], parse_layers(DEFAULT_CONTENT_LAYERS)),
        style_targets(net, [(style, 1.0)], parse_layers(DEFAULT_STYLE_LAYERS)))
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
    objective, content = objective_at(SIZE)
    x = content.clone().requires_grad_(True)
    times = []
    for k in range(repeats + 2):
        start = time.perf_counter()
        loss, _ = objective(x)
        loss.backward()
        x.grad = None
        if k >= 2:  # two warm-up evaluations
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = evaluation_flops(objective, content)
    peak = matmul_gflops()
    return {"size": list(content.shape[-2:][::-1]), "seconds_per_eval": seconds,
            "gflop_per_eval": flops / 1e9, "achieved_gflops": flops / seconds / 1e9,
            "matmul_gflops": peak, "efficiency": flops / seconds / 1e9 / peak}


def run_transfer(**options) -> dict:
    """One default-options transfer at 512 px in this process; wall time and 512 px objective."""
    import stylesynth

    start = time.perf_counter()
    image = stylesynth.transfer(CONTENT, STYLE, size=SIZE, seed=0, progress=False, device="cpu",
                                cache_targets=False, **options)
    wall = time.perf_counter() - start
    from stylesynth.imageio import to_tensor

    objective, _ = objective_at(SIZE)
    with torch.no_grad():
        value = objective(to_tensor(image))[0].item()
    record = image.info["stylesynth"]
    return {"options": options, "wall_seconds": wall, "objective_512": value,
            "evaluations": record["evaluations"], "schedule": record["schedule"]}


def peak_rss(size: int) -> dict:
    """Peak resident memory of a transfer at `size` (two iterations at the finest scale), measured
    in a fresh process so that earlier runs do not count."""
    code = (
        "import resource, stylesynth, sys\n"
        f"stylesynth.transfer({str(CONTENT)!r}, {str(STYLE)!r}, size={size}, scales=1, iterations=2,"
        " progress=False, device='cpu', cache_targets=False)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from stylesynth.synthesis import estimate_memory

    return {"size": size, "peak_rss_mb": int(out.stdout.split()[-1]) / 1024,
            "estimate_mb": estimate_memory(size_of(size)) / 2**20,
            "seconds": time.perf_counter() - start}


def size_of(long_side: int) -> tuple[int, int]:
    from PIL import Image

    from stylesynth.synthesis import output_size

    return output_size(Image.open(CONTENT), long_side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="eval,classic,presets,rss")
    parser.add_argument("--presets", default="fast,quality")
    parser.add_argument("--runs", type=int, default=3, help="runs of each preset (median)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sections = set(args.only.split(","))
    results: dict = {"machine": {"host": socket.gethostname(), "cpu": platform.processor() or platform.machine(),
                                 "cores": os.cpu_count(), "torch": torch.__version__,
                                 "threads": torch.get_num_threads()},
                     "date": time.strftime("%Y-%m-%d %H:%M")}
    if "eval" in sections:
        results["eval"] = bench_eval()
        e = results["eval"]
        print(f"1. one evaluation at {e['size'][0]}x{e['size'][1]}: {e['seconds_per_eval']:.3f} s, "
              f"{e['gflop_per_eval']:.1f} GFLOP -> {e['achieved_gflops']:.1f} GFLOP/s; fp32 matmul "
              f"{e['matmul_gflops']:.1f} GFLOP/s; efficiency {e['efficiency']:.0%}", flush=True)
    if "classic" in sections:
        results["classic"] = run_transfer(preset="classic")
        c = results["classic"]
        print(f"2. classic (1 scale, L-BFGS, content init, 500 evaluations): {c['wall_seconds']:.1f} s, "
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
    if "rss" in sections:
        results["rss"] = [peak_rss(size) for size in (512, 1024, 2048)]
        for r in results["rss"]:
            print(f"4. peak RSS at {r['size']} px: {r['peak_rss_mb']:.0f} MB "
                  f"(estimate {r['estimate_mb']:.0f} MB)", flush=True)
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / (
        time.strftime("%Y%m%d-%H%M") + f"-{socket.gethostname()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
