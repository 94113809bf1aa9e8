"""Texture benchmark (issue 20): the default `stylesynth texture` on every painting, judged.

    python bench/texture.py [--size 256] [--seed 0] [--images ../shared/images] [--options '...']

For each painting (every image in --images but the photo, tubingen) it runs
`stylesynth texture PAINTING -o OUT --size 256 --seed 0` in its own process, timed, and reports
the judge's style number (`stylesynth evaluate`: mean relative Gram distance over AlexNet
relu1..relu5 to the painting at the result's size; the issue asks <= 0.50) and the largest
per-channel difference of mean colour to the painting, in grey levels (the issue asks <= 10).
Results go to bench/results/texture-*.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("tubingen",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "images"))
    parser.add_argument("--options", default="", help="further options of `stylesynth texture`")
    args = parser.parse_args()

    from stylesynth.evaluate import score
    from stylesynth.imageio import load_image

    paintings = sorted(p for p in Path(args.images).iterdir()
                       if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stem not in PHOTOS)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for painting in paintings:
            out = Path(work) / f"{painting.stem}.png"
            command = [sys.executable, "-m", "stylesynth.cli", "texture", str(painting), "-o", str(out),
                       "--size", str(args.size), "--seed", str(args.seed), "--quiet", *args.options.split()]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            result, style = load_image(out), load_image(painting)
            judged = score(result, style, result)
            mean = lambda im: np.asarray(im.convert("RGB"), float).reshape(-1, 3).mean(0)  # noqa: E731
            colour = float(np.abs(mean(result) - mean(style)).max())
            rows.append({"painting": painting.name, "style": round(judged.style, 3),
                         "mean_colour_difference": round(colour, 1), "seconds": round(seconds, 1)})
            print(f"{painting.name:28s} style {judged.style:.3f}  colour {colour:4.1f}  {seconds:5.1f} s", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M")
    path = ROOT / "bench" / "results" / f"texture-{stamp}.json"
    path.write_text(json.dumps({"size": args.size, "seed": args.seed, "options": args.options,
                                "rows": rows}, indent=1) + "\n")
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
