"""The classic preset on the three anchor pairs, judged beside the published results.

    python bench/anchors.py [--recipe 2015|master] [--iterations 1000] [--out DIR] [--evaluate-only]

For tubingen × starry_night, the_scream and shipwreck (../shared/images) it runs
`stylesynth transfer --preset classic` (seed 0, `--threads 2`, a snapshot every 50 iterations)
one pair at a time, then scores the result, each snapshot and the published result
(../shared/anchor) with `stylesynth evaluate --json`. `--evaluate-only` scores what DIR already
holds (a run stopped early, or one made by hand with the same names). Prints a markdown table
and writes bench/results/anchors-*.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PAIRS = {"starry_night": "tubingen_starry.png", "the_scream": "tubingen_scream.png",
         "shipwreck": "tubingen_shipwreck.png"}
STYLESYNTH = [sys.executable, "-m", "stylesynth.cli"]
# The published results were made on 2015-09-01 by neural_style.lua of that day (commits 5faf307
# and 833afce), not by today's defaults (the `classic` preset): content relu4_1 at weight 1, style
# relu1_1, relu2_1, relu3_1, conv3_3 (the module list's 15th entry) and relu4_1 at 10 x 10 each,
# TV 5e-4. docs/classic.md, "Which recipe made the anchors".
RECIPES = {"master": [],
           "2015": ["--content-layers", "relu4_1",
                    "--style-layers", "relu1_1:1,relu2_1:1,relu3_1:1,conv3_3:1,relu4_1:1",
                    "--content-weight", "1", "--style-weight", "100", "--tv-weight", "5e-4"]}


def judge(painting: str, images: list[Path]) -> list[dict]:
    """`stylesynth evaluate` of each image against tubingen and the painting."""
    out = subprocess.run([*STYLESYNTH, "evaluate", str(SHARED / "images" / "tubingen.jpg"),
                          str(SHARED / "images" / f"{painting}.jpg"), *map(str, images), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="2015",
                        help="neural_style.lua of the published results (2015) or of today (master)")
    # the images stay out of the repository: only the scores are kept (bench/results)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "stylesynth-anchors")
    parser.add_argument("--evaluate-only", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for painting, anchor in PAIRS.items():
        result = args.out / f"{painting}.png"
        record_path = args.out / f"{painting}.json"
        if not args.evaluate_only:
            start = time.perf_counter()
            with open(record_path, "w") as record:
                subprocess.run([*STYLESYNTH, "transfer", str(SHARED / "images" / "tubingen.jpg"),
                                str(SHARED / "images" / f"{painting}.jpg"), "-o", str(result),
                                "--preset", "classic", *RECIPES[args.recipe], "--iterations", str(args.iterations),
                                "--threads", "2", "--seed", "0", "--snapshot-every", "50",
                                "--quiet", "--json"], check=True, stdout=record)
            print(f"{painting}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        record = json.loads(record_path.read_text()) if record_path.exists() and record_path.stat().st_size else {}
        # the last snapshot is the result itself when the count is a multiple of 50
        snapshots = [p for p in sorted(args.out.glob(f"{painting}.iter*.png"))
                     if not (result.exists() and p.name == f"{painting}.iter{record.get('iterations', -1):04d}.png")]
        images = snapshots + ([result] if result.exists() else [])
        if not images:
            continue
        scores = judge(painting, images + [SHARED / "anchor" / anchor])
        published = scores.pop()
        for image, score in zip(images, scores):
            match = re.search(r"\.iter(\d+)\.png$", image.name)
            iterations = int(match.group(1)) if match else record.get("iterations")
            rows.append({"painting": painting, "iterations": iterations, "content": score["content"],
                         "style": score["style"], "published": [published["content"], published["style"]],
                         "seconds": record.get("seconds") if not match else None})
    print("| painting | iterations | content | style | published content / style | Δ content | Δ style |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        pc, ps = r["published"]
        print(f"| {r['painting']} | {r['iterations']} | {r['content']:.3f} | {r['style']:.3f} | "
              f"{pc:.3f} / {ps:.3f} | {r['content'] - pc:+.3f} | {r['style'] - ps:+.3f} |")
    stamp = time.strftime("%Y%m%d-%H%M")
    (ROOT / "bench" / "results" / f"anchors-{args.recipe}-{stamp}.json").write_text(json.dumps(
        {"recipe": args.recipe, "iterations": args.iterations, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
