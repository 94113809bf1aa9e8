"""Batch throughput (issue 18): jobs per hour at 256 and 512 px with 1 and 2 workers, and where a
job's time goes (the engine's start and the network's load, the style targets, the transfer).

    python bench/batch.py [--sizes 256,512] [--workers 1,2] [--presets fast,fast] [--backend local|ray]

Each configuration is one `stylesynth batch` process on 2 photos × 2 paintings (4 jobs, seed 0),
timed from its start to its exit, so it pays what a real batch pays: the workers' start (torch
import, the network's load) and each painting's style targets (a fresh target cache per
configuration; the weights are linked in). With W workers the machine's cores are split between
them (`--jobs W`, `--threads cores/W`; with `--backend ray`, a local Ray instance).

Alongside, in this process: the network's load, one painting's style targets at each size, and
the import of torch and stylesynth in a fresh interpreter. The load average before and after
every configuration is recorded: other work on the machine makes every number slower.
Writes bench/results/batch-YYYYMMDD-HHMM.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PHOTOS = [EXAMPLES / "tubingen.jpg", EXAMPLES / "shipwreck.jpg"]
PAINTINGS = [EXAMPLES / "starry_night.jpg", EXAMPLES / "the_scream.jpg"]


def fresh_cache(folder: Path) -> Path:
    """A cache folder holding the real cache's weight files (links) and no style targets."""
    from stylesynth.nets.weights import cache_dir

    folder.mkdir(parents=True)
    for weights in cache_dir().glob("*.pth"):
        (folder / weights.name).symlink_to(weights)
    return folder


def run_batch(size: int, workers: int, preset: str, backend: str, cores: int, scratch: Path) -> dict:
    out = scratch / f"out-{backend}-{size}-{workers}"
    env = {**os.environ, "STYLESYNTH_CACHE": str(fresh_cache(scratch / f"cache-{backend}-{size}-{workers}")),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    threads = max(1, cores // workers)
    command = [sys.executable, "-m", "stylesynth.cli", "batch", *map(str, PHOTOS),
               *[a for p in PAINTINGS for a in ("--style", str(p))], "-o", str(out), "--size", str(size),
               "--preset", preset, "--seed", "0", "--threads", str(threads), "--json", "--quiet"]
    command += ["--ray"] if backend == "ray" else ["--jobs", str(workers)]
    print("$", " ".join(command[2:]), file=sys.stderr)
    load_before = os.getloadavg()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"batch failed ({done.returncode}): {done.stderr.strip()}")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    jobs = [{"output": Path(line["output"]).name, "seconds": line["seconds"],
             "transfer_seconds": line["transfer_seconds"], "pid": line["pid"],
             "schedule": line["record"]["schedule"]} for line in lines]
    result = {"size": size, "workers": workers, "threads_per_job": threads, "preset": preset,
              "backend": backend, "jobs": len(jobs), "wall_seconds": round(wall, 2),
              "jobs_per_hour": round(len(jobs) / wall * 3600, 1),
              "mean_transfer_seconds": round(sum(j["transfer_seconds"] for j in jobs) / len(jobs), 2),
              # The worker's time outside the optimization: decoding, and the network's load on
              # each worker's first job.
              "mean_setup_seconds": round(sum(j["seconds"] - j["transfer_seconds"] for j in jobs) / len(jobs), 2),
              "load_before": [round(x, 2) for x in load_before],
              "load_after": [round(x, 2) for x in os.getloadavg()], "per_job": jobs}
    print(f"  {size} px, {workers} worker(s) x {threads} thread(s), {preset}: {wall:.1f} s, "
          f"{result['jobs_per_hour']} jobs/hour (load {load_before[0]:.2f})", file=sys.stderr)
    return result


def where_the_time_goes(sizes: list[int], threads: int) -> dict:
    """The parts of a job's cost, measured alone in this process (warm files, `threads` threads)."""
    import torch

    from stylesynth.io.images import open_image
    from stylesynth.nets.networks import set_threads
    from stylesynth.nets.pretrained import load_network
    from stylesynth.engine.objective import DEFAULT_STYLE_LAYERS, parse_layers, style_targets
    from stylesynth.engine.start import output_size, resize

    set_threads(threads)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import stylesynth"], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    parts = {"import_seconds": round(time.perf_counter() - start, 2)}
    start = time.perf_counter()
    net = load_network("vgg16", "avg", "cpu")
    parts["network_load_seconds"] = round(time.perf_counter() - start, 2)
    painting = open_image(PAINTINGS[0])
    layers = parse_layers(DEFAULT_STYLE_LAYERS)
    for size in sizes:
        image = resize(painting, output_size(painting, size)).contiguous(memory_format=torch.channels_last)
        start = time.perf_counter()
        style_targets(net, [(image, 1.0)], layers)
        parts[f"style_targets_{size}_seconds"] = round(time.perf_counter() - start, 2)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--presets", default="fast,fast", help="one per size")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    presets = args.presets.split(",")
    workers = [int(w) for w in args.workers.split(",")]
    cores = len(os.sched_getaffinity(0))

    import torch

    report = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": platform.node(),
              "cores": cores, "torch": torch.__version__, "python": platform.python_version(),
              "photos": [p.name for p in PHOTOS], "paintings": [p.name for p in PAINTINGS],
              "load_at_start": [round(x, 2) for x in os.getloadavg()], "runs": []}
    with tempfile.TemporaryDirectory(prefix="stylesynth-bench-batch-") as scratch:
        for size, preset in zip(sizes, presets):
            for count in workers:
                report["runs"].append(run_batch(size, count, preset, args.backend, cores, Path(scratch)))
    report["parts"] = where_the_time_goes(sizes, cores)
    report["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"batch-{time.strftime('%Y%m%d-%H%M', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(path)


if __name__ == "__main__":
    main()
