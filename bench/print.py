"""Print sizes (issue 16): wall time, peak memory and the engine's estimate at 1024, 2048, 4096 px,
the cost of tile-by-tile passes where the whole image also fits, and an 8192 px top scale.

    python bench/print.py                       # 1024, 2048, 4096 px and the overheads (~40 min)
    python bench/print.py --sizes 1024 --no-overhead
    python bench/print.py --top 8192 --start out/print-4096.png   # two iterations at 8192 px

Every run is `stylesynth transfer examples/tubingen.jpg examples/the_scream.jpg --size N --seed 0`
with the default preset in a fresh process; its peak RSS is the child's (wait4's ru_maxrss, the
kernel's VmHWM), the estimate and the memory plan come from the result's record. "Overhead" runs
the finest scale alone (3 iterations from that result) whole and with `--tile T` forced (T = half
the long side) where the whole image fits, and compares the wall times. `--top N` runs only the top scale of an N px print from an upsampled
start (`--scales 1 --iterations K --init IMAGE`): the way to measure a size whose whole pyramid
would take hours. Run it on an otherwise idle machine; it writes bench/results/print-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO, PAINTING = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "the_scream.jpg"


def transfer(out: Path, *args: str) -> dict:
    """One transfer in a fresh process: its wall seconds, peak RSS and record."""
    command = [sys.executable, "-m", "stylesynth.cli", "transfer", str(PHOTO), str(PAINTING), "-o", str(out),
               "--seed", "0", *args]
    start = time.perf_counter()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{stderr[-2000:]}")
    record = json.loads(Path(f"{out}.json").read_text()) if Path(f"{out}.json").exists() else _png_record(out)
    return {"args": list(args), "seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "estimate_mb": record["memory_estimate_mb"], "tile": record["tile"],
            "lbfgs_history": record["lbfgs_history"], "checkpoint_until": record["checkpoint_until"],
            "schedule": record["schedule"], "engine_seconds": record["seconds"]}


def _png_record(path: Path) -> dict:
    import stylesynth

    return stylesynth.read_params(path)


def show(name: str, row: dict) -> None:
    plan = f"tile {row['tile']} history {row['lbfgs_history']}" if row["tile"] else \
        f"whole image{', checkpoint ' + row['checkpoint_until'] if row['checkpoint_until'] else ''}"
    print(f"{name:<22} {row['seconds']:>8.1f} s  peak {row['peak_rss_mb']:>6} MB  estimate "
          f"{row['estimate_mb']:>6} MB ({row['estimate_mb'] / row['peak_rss_mb'] - 1:+.0%})  {plan}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024,2048,4096")
    parser.add_argument("--no-overhead", action="store_true", help="skip the forced-tile runs")
    parser.add_argument("--top", type=int, help="only the top scale of a print this large")
    parser.add_argument("--start", help="--top's start image (upsampled to the size)")
    parser.add_argument("--iterations", type=int, default=2, help="--top's iterations")
    parser.add_argument("--out", default=str(ROOT / "out"), help="folder for the images")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    if args.top:
        if not args.start:
            parser.error("--top needs --start IMAGE")
        name = f"{args.top} top scale"
        rows[name] = transfer(out / f"print-{args.top}-top.png", "--size", str(args.top), "--scales", "1",
                              "--iterations", str(args.iterations), "--init", args.start)
        show(name, rows[name])
    else:
        for size in [int(s) for s in args.sizes.split(",")]:
            rows[str(size)] = transfer(out / f"print-{size}.png", "--size", str(size))
            show(str(size), rows[str(size)])
            if not args.no_overhead and rows[str(size)]["tile"] is None:
                # The finest scale alone, whole and in tiles of half its side, from that result.
                top = ["--size", str(size), "--scales", "1", "--iterations", "3", "--init", str(out / f"print-{size}.png")]
                whole, tiled = f"{size} top, whole", f"{size} top, tiles {size // 2}"
                rows[whole] = transfer(out / f"print-{size}-top.png", *top)
                rows[tiled] = transfer(out / f"print-{size}-tiled.png", *top, "--tile", str(size // 2))
                rows[tiled]["overhead"] = round(rows[tiled]["seconds"] / rows[whole]["seconds"] - 1, 3)
                show(whole, rows[whole])
                show(tiled, rows[tiled])
                print(f"{'':<22} overhead of tiles: {rows[tiled]['overhead']:+.0%} wall", flush=True)
    results = ROOT / "bench" / "results" / f"print-{time.strftime('%Y%m%d-%H%M')}.json"
    results.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(),
                                   "rows": rows}, indent=1) + "\n")
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
