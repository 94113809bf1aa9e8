"""Texture benchmark (issues 20 and 36): the default `stylesynth texture` on every painting, judged.

    python bench/texture.py [--sizes 256,512] [--seeds 0,1,2] [--options '...']

For each painting (every image of ../shared/images and ../shared/bench but the photos) and each
size and seed it runs `stylesynth texture PAINTING -o OUT --size SIZE --seed SEED` in its own
process, timed, and reports
* the judge's style number (`stylesynth evaluate`: mean relative Gram distance over AlexNet
  relu1..relu5 to the painting at the result's size; issue 36 asks <= 0.55 on average);
* the largest per-channel difference of mean colour to the painting, in grey levels (<= 6);
* the layout correlation with the painting (`evaluate.layout_correlation`: 8 x 8 luminance
  cells; a texture keeps none of the painting's arrangement: |r| <= 0.25 on average over the
  seeds, none above 0.4) and between the seeds' results (<= 0.3 on average).
Results go to bench/results/texture-*.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = (ROOT.parent / "shared" / "images", ROOT.parent / "shared" / "bench")
PHOTOS = ("tubingen", "brad_pitt", "hoovertowernight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--paintings", default="", help="comma-separated file names (default: all)")
    parser.add_argument("--options", default="", help="further options of `stylesynth texture`")
    args = parser.parse_args()

    from stylesynth.engine.colors import mean_colour
    from stylesynth.evaluate import layout_correlation, score
    from stylesynth.io.images import load_image

    paintings = sorted((p for folder in FOLDERS if folder.is_dir() for p in folder.iterdir()
                        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stem not in PHOTOS),
                       key=lambda p: p.name)
    if args.paintings:
        paintings = [p for p in paintings if p.name in args.paintings.split(",")]
    rows, summary = [], []
    with tempfile.TemporaryDirectory() as work:
        for painting, size in itertools.product(paintings, [int(s) for s in args.sizes.split(",")]):
            style, results = load_image(painting), []
            for seed in (int(s) for s in args.seeds.split(",")):
                out = Path(work) / f"{painting.stem}-{size}-{seed}.png"
                command = [sys.executable, "-m", "stylesynth.cli", "texture", str(painting), "-o", str(out),
                           "--size", str(size), "--seed", str(seed), "--quiet", *args.options.split()]
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, text=True)
                seconds = time.perf_counter() - start
                result = load_image(out)
                results.append(result)
                row = {"painting": painting.name, "size": size, "seed": seed,
                       "style": round(score(result, style, result).style, 3),
                       "mean_colour_difference": round(float(np.abs(mean_colour(result) - mean_colour(style)).max()), 1),
                       "layout": round(layout_correlation(result, style), 3), "seconds": round(seconds, 1)}
                rows.append(row)
                print(f"{painting.name:28s} {size:4d} px seed {seed}  style {row['style']:.3f}  colour "
                      f"{row['mean_colour_difference']:4.1f}  layout {row['layout']:+.2f}  {seconds:5.1f} s", flush=True)
            mine = rows[-len(results):]
            between = [layout_correlation(a, b) for a, b in itertools.combinations(results, 2)]
            summary.append({"painting": painting.name, "size": size,
                            "style": round(float(np.mean([r["style"] for r in mine])), 3),
                            "layout_mean_abs": round(float(np.mean([abs(r["layout"]) for r in mine])), 3),
                            "layout_max_abs": round(max(abs(r["layout"]) for r in mine), 3),
                            "between_seeds": round(float(np.mean(between)), 3) if between else None})
            print(f"  {painting.name} {size} px: {summary[-1]}", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M")
    path = ROOT / "bench" / "results" / f"texture-{stamp}.json"
    path.write_text(json.dumps({"sizes": args.sizes, "seeds": args.seeds, "options": args.options,
                                "rows": rows, "summary": summary}, indent=1) + "\n")
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
