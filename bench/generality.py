"""Generality: the transfer on photos, paintings and sizes it was not tuned on (issue 32).

    python bench/generality.py run --config default          # the engine as it is
    python bench/generality.py run --config paint512         # smaller results painted larger
    python bench/generality.py compare RESULT.json REFERENCE.json
    python bench/generality.py sheet --out docs/figures/portraits-on-photos.jpg

The pairs: every photo with two paintings (the photo's index and that plus two, mod 5), the
three anchor pairs left out: 17 pairs. Photos: scikit-image's samples (a face, a monochrome
photo, a cat, an indoor cup, a motorcycle, a rocket under a sky; taken from its wheel on the
package index, never installed), ../shared/bench (a portrait, a night sky) and tubingen.
Paintings: the brushy (starry_night, shipwreck), the flat and graphic (the_scream, Matisse's
woman with a hat) and a portrait in flat planes (Picasso).

The split is fixed once, by a rule that knows nothing of the results: the CRC-32 of
"photo x painting" even -> the tuning half, odd -> the held-out half. Constants are chosen on
the tuning half; the held-out half is reported and never tuned on.

Sizes 256, 384 and 512 px, seed 0, both judge numbers (`stylesynth.evaluate`). A run writes
bench/results/generality-CONFIG-*.json; `compare` prints, per half and size, where the first
beats the second on both numbers. `default` paints every size at its own size; `paint512`
paints smaller results larger (transfer's paint_size=512, off by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SKIMAGE = {"astronaut": "astronaut.png", "camera": "camera.png", "chelsea": "chelsea.png",
           "coffee": "coffee.png", "motorcycle_left": "motorcycle_left.png", "rocket": "rocket.jpg"}
PHOTOS = [*SKIMAGE, "brad_pitt", "hoovertowernight", "tubingen"]
PAINTINGS = ["starry_night", "the_scream", "shipwreck", "woman-with-hat-matisse", "picasso_selfport1907"]
ANCHOR_PAIRS = {("tubingen", "starry_night"), ("tubingen", "the_scream"), ("tubingen", "shipwreck")}
PORTRAITS = ["woman-with-hat-matisse", "picasso_selfport1907"]
NO_PEOPLE = ["chelsea", "coffee", "motorcycle_left", "rocket", "hoovertowernight", "tubingen"]
SIZES = (256, 384, 512)
CONFIGS = {"default": {}, "paint512": {"paint_size": 512}}


def pairs() -> list[tuple[str, str]]:
    chosen = [(photo, PAINTINGS[(i + k) % len(PAINTINGS)]) for k in (0, 2) for i, photo in enumerate(PHOTOS)]
    return [pair for pair in chosen if pair not in ANCHOR_PAIRS]


def half(photo: str, painting: str) -> str:
    return "tuning" if zlib.crc32(f"{photo} x {painting}".encode()) % 2 == 0 else "held-out"


def image_paths() -> dict[str, Path]:
    """Every photo and painting by name; scikit-image's extracted once from its wheel."""
    cache = Path(os.environ.get("STYLESYNTH_CACHE", Path.home() / ".cache" / "stylesynth"))
    folder = cache / "generality-photos"
    if not all((folder / name).exists() for name in SKIMAGE.values()):
        folder.mkdir(parents=True, exist_ok=True)
        wheels = cache / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "-d", str(wheels), "scikit-image"], check=True)
        with zipfile.ZipFile(next(wheels.glob("scikit_image-*.whl"))) as wheel:
            for name in SKIMAGE.values():
                (folder / name).write_bytes(wheel.read(f"skimage/data/{name}"))
    paths = {key: folder / name for key, name in SKIMAGE.items()}
    for folder in (SHARED / "images", SHARED / "bench"):
        paths.update({p.stem: p for p in folder.glob("*.jpg")})
    return paths


def run(config: str, sizes: tuple[int, ...], keep: Path | None, only: str | None) -> None:
    import stylesynth
    from stylesynth.evaluate import score

    paths = image_paths()
    options = CONFIGS[config]
    rows = []
    for photo, painting in pairs():
        if only and only not in (half(photo, painting), f"{photo}:{painting}"):
            continue
        results, seconds = {}, {}
        for size in sizes:
            start = time.perf_counter()
            results[size] = stylesynth.transfer(paths[photo], paths[painting], size=size, seed=0,
                                                progress=False, **options)
            seconds[size] = time.perf_counter() - start
        for size in sizes:
            s = score(paths[photo], paths[painting], results[size])
            if keep:
                keep.mkdir(parents=True, exist_ok=True)
                results[size].save(keep / f"{photo}__{painting}__{size}.{config}.png")
            rows.append({"photo": photo, "painting": painting, "half": half(photo, painting), "size": size,
                         "content": s.content, "style": s.style, "seconds": round(seconds[size], 1)})
            print(f"{half(photo, painting):8s} {photo:16s} {painting:22s} {size:4d}  "
                  f"{s.content:.3f} / {s.style:.3f}  {seconds[size]:.0f} s", flush=True)
    import torch

    out = ROOT / "bench" / "results" / f"generality-{config}-{time.strftime('%Y%m%d-%H%M')}.json"
    out.write_text(json.dumps({"config": config, "options": options, "torch": torch.__version__,
                               "threads": torch.get_num_threads(), "rows": rows}, indent=1))
    print(f"written {out}")


def compare(result: Path, reference: Path) -> None:
    ours, theirs = (json.loads(p.read_text())["rows"] for p in (result, reference))
    index = {(r["photo"], r["painting"], r["size"]): r for r in theirs}
    print(f"| half | size | pairs | {result.stem} beats {reference.stem} on both | beaten on both "
          "| mean content (ours / ref) | mean style (ours / ref) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for which in ("tuning", "held-out"):
        for size in sorted({r["size"] for r in ours}):
            both = [(a, index[a["photo"], a["painting"], size]) for a in ours
                    if a["half"] == which and a["size"] == size and (a["photo"], a["painting"], size) in index]
            if not both:
                continue
            wins = sum(a["content"] < b["content"] and a["style"] < b["style"] for a, b in both)
            losses = sum(a["content"] > b["content"] and a["style"] > b["style"] for a, b in both)
            mean = lambda key, k: sum(pair[k][key] for pair in both) / len(both)  # noqa: E731
            print(f"| {which} | {size} | {len(both)} | {wins} | {losses} | {mean('content', 0):.3f} / "
                  f"{mean('content', 1):.3f} | {mean('style', 0):.3f} / {mean('style', 1):.3f} |")


def sheet(out: Path, sizes: tuple[int, ...], keep: Path | None) -> None:
    """Every portrait painting on every photo without people, at each size: a contact sheet
    (rows: photo; columns: painting x size) to check by eye that no face or figure is copied."""
    import stylesynth

    paths = image_paths()
    cell = 200
    width = (1 + len(PORTRAITS) * len(sizes)) * cell
    canvas = Image.new("RGB", (width, len(NO_PEOPLE) * cell), "white")
    for row, photo in enumerate(NO_PEOPLE):
        canvas.paste(_fit(Image.open(paths[photo]).convert("RGB"), cell), (0, row * cell))
        for j, painting in enumerate(PORTRAITS):
            for k, size in enumerate(sizes):
                result = stylesynth.transfer(paths[photo], paths[painting], size=size, seed=0, progress=False)
                if keep:
                    keep.mkdir(parents=True, exist_ok=True)
                    result.save(keep / f"{photo}__{painting}__{size}.sheet.png")
                canvas.paste(_fit(result, cell), ((1 + j * len(sizes) + k) * cell, row * cell))
                print(photo, painting, size, flush=True)
    canvas.save(out, quality=85)
    print(f"written {out}")


def _fit(image: Image.Image, side: int) -> Image.Image:
    image = image.copy()
    image.thumbnail((side - 4, side - 4), Image.LANCZOS)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run")
    one.add_argument("--config", choices=CONFIGS, default="default")
    one.add_argument("--sizes", default=",".join(map(str, SIZES)))
    one.add_argument("--only", default=None, help="tuning, held-out, or PHOTO:PAINTING")
    one.add_argument("--keep", type=Path, default=None, help="keep every result in this folder")
    two = commands.add_parser("compare")
    two.add_argument("result", type=Path)
    two.add_argument("reference", type=Path)
    three = commands.add_parser("sheet")
    three.add_argument("--out", type=Path, required=True)
    three.add_argument("--sizes", default="256,512")
    three.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "run":
        run(args.config, tuple(int(s) for s in args.sizes.split(",")), args.keep, args.only)
    elif args.command == "compare":
        compare(args.result, args.reference)
    else:
        sheet(args.out, tuple(int(s) for s in args.sizes.split(",")), args.keep)


if __name__ == "__main__":
    main()
