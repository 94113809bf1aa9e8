"""Generality: the transfer on photos, paintings and sizes it was not tuned on (issue 32).

    python bench/generality.py run --config default          # the engine as it is
    python bench/generality.py run --config paint512         # smaller results painted larger
    python bench/generality.py compare RESULT.json REFERENCE.json
    python bench/generality.py sheet --out docs/figures/portraits-on-photos.jpg
    python bench/generality.py curve --out docs/figures/portrait-curve.png   # brad_pitt x picasso
    python bench/generality.py anchors       # the three anchor pairs at 256, 384, 512 and 1024 px
    python bench/generality.py reference     # the classic preset on every pair (about 20 min each)
    python bench/generality.py held-out --out docs/figures/held-out.jpg   # the README's second sheet

The pairs: every photo with two paintings (the photo's index and that plus two, mod 5), the
three anchor pairs left out: 17 pairs. Photos: scikit-image's samples (a face, a monochrome
photo, a cat, an indoor cup, a motorcycle, a rocket under a sky; taken from its wheel on the
package index, never installed), ../shared/bench (a portrait, a night sky) and tubingen.
Paintings: the brushy (starry_night, shipwreck), the flat and graphic (the_scream, Matisse's
woman with a hat) and a portrait in flat planes (Picasso).

The split is fixed once, by a rule that knows nothing of the results: the CRC-32 of
"photo x painting" even -> the tuning half, odd -> the held-out half. Constants are chosen on
the tuning half; the held-out half is reported and never tuned on.

The reference for pairs without a published result (item 1) is the faithful `classic` preset
(jcjohnson/neural-style's recipe on VGG19, 1000 iterations at 512 px), scored like the anchors:
at 512 px and downscaled with Lanczos to 256 and 384. `reference` computes it once, pair by pair,
into bench/results/generality-classic-reference.json (rerun: it goes on where it stopped).

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

from PIL import Image, ImageDraw

from stylesynth.names import SMALL_PAINTING_STYLE_LAYERS

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


def _default_layers_but(block4: float | None) -> str:
    """The default style layers without relu5_1, block 4's layers at weight `block4` (None: left out)."""
    from stylesynth.names import DEFAULT_STYLE_LAYERS

    layers = [item.split(":") for item in DEFAULT_STYLE_LAYERS.split(",") if not item.startswith("relu5")]
    return ",".join(f"{name}:{block4 if name.startswith('relu4') else weight}" for name, weight in layers
                    if block4 is not None or not name.startswith("relu4"))


CONFIGS = {"default": {}, "paint512": {"paint_size": 512}, "vgg19": {"model": "vgg19"},
           # jcjohnson/neural-style's five style layers, equal weights, on the default network
           "five_layers": {"style_layers": "relu1_1:1,relu2_1:1,relu3_1:1,relu4_1:1,relu5_1:1"},
           # the default's layers of blocks 1-3 only (relu4_* and relu5_1 left out)
           "blocks1to3": {"style_layers": _default_layers_but(block4=None)},
           # block 4 at a third of its weight, relu5_1 left out, at every size (the default
           # paints with these layers only below names.DEEP_LAYERS_SIDE)
           "block4_third": {"style_layers": SMALL_PAINTING_STYLE_LAYERS}}
# The classic recipe's trade-off curve on brad_pitt x picasso (../shared/anchor/README.md):
# content weight -> the judge's (content, style) of its published result.
PORTRAIT_ANCHORS = {"content_5": (0.350, 0.509), "content_1": (0.434, 0.472),
                    "content_01": (0.631, 0.493), "content_0025": (0.659, 0.498)}
CURVE_RATIOS = (1e-4, 2e-4, 3e-4, 6e-4, 1e-3, 3e-3)


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


def run(config: str, sizes: tuple[int, ...], keep: Path | None, only: str | None,
        ratio: float | None = None) -> None:
    import stylesynth
    from stylesynth.evaluate import score

    paths = image_paths()
    options = CONFIGS[config] | ({"ratio": ratio} if ratio else {})
    config = f"{config}-{ratio:g}" if ratio else config
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


def thumbnail(name: str, paths: dict[str, Path]) -> Image.Image:
    """An input as a sheet shows it: ../shared/bench's pictures are benchmark-only (never copied into
    the repository or its docs, ../shared/bench/README.md), so they are a grey box with their name;
    results made from them are the engine's own output and are shown."""
    if paths[name].parent == SHARED / "bench":
        box = Image.new("RGB", (300, 300), (225, 225, 225))
        ImageDraw.Draw(box).text((10, 140), f"{name}: bench-only, not shown", fill="black")
        return box
    return Image.open(paths[name]).convert("RGB")


def sheet(out: Path, sizes: tuple[int, ...], keep: Path | None) -> None:
    """Every portrait painting on every photo without people, at each size: a contact sheet
    (rows: photo; columns: painting x size) to check by eye that no face or figure is copied."""
    import stylesynth

    paths = image_paths()
    cell = 200
    width = (1 + len(PORTRAITS) * len(sizes)) * cell
    canvas = Image.new("RGB", (width, len(NO_PEOPLE) * cell), "white")
    for row, photo in enumerate(NO_PEOPLE):
        canvas.paste(_fit(thumbnail(photo, paths), cell), (0, row * cell))
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


def anchors(config: str, sizes: tuple[int, ...]) -> None:
    """Issue 32, item 2: the three anchor pairs at every size beside the published result
    (downscaled with Lanczos below 512 px; none above), and larger sizes beside the engine's own 512."""
    import stylesynth
    from stylesynth.evaluate import score

    paths = image_paths()
    published = {"starry_night": "tubingen_starry.png", "the_scream": "tubingen_scream.png",
                 "shipwreck": "tubingen_shipwreck.png"}
    rows = []
    print("| painting | size | ours | published | beats on both | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for painting, name in published.items():
        anchor = Image.open(SHARED / "anchor" / name).convert("RGB")
        for size in sizes:
            start = time.perf_counter()
            result = stylesynth.transfer(paths["tubingen"], paths[painting], size=size, seed=0,
                                         progress=False, **CONFIGS[config])
            seconds = time.perf_counter() - start
            ours = score(paths["tubingen"], paths[painting], result)
            row = {"painting": painting, "size": size, "content": ours.content, "style": ours.style,
                   "seconds": round(seconds, 1)}
            if size <= max(anchor.size):
                theirs = score(paths["tubingen"], paths[painting], _fit(anchor, size + 4))
                row.update(anchor_content=theirs.content, anchor_style=theirs.style,
                           wins=ours.content < theirs.content and ours.style < theirs.style)
            rows.append(row)
            them = f"{row['anchor_content']:.3f} / {row['anchor_style']:.3f}" if "wins" in row else "-"
            print(f"| {painting} | {size} | {ours.content:.3f} / {ours.style:.3f} | {them} | "
                  f"{row.get('wins', '-')} | {seconds:.0f} |", flush=True)
    by = {(r["painting"], r["size"]): r for r in rows}
    for painting, size in sorted(key for key in by if key[1] > 512):
        if (painting, 512) in by:
            big, base = by[painting, size], by[painting, 512]
            print(f"{painting}: {size} - 512 px: content {big['content'] - base['content']:+.3f} (within 0.03 asked), "
                  f"style {big['style'] - base['style']:+.3f} (within 0.05 asked)")
    out = ROOT / "bench" / "results" / f"anchor-sizes-{config}-{time.strftime('%Y%m%d-%H%M')}.json"
    out.write_text(json.dumps({"config": config, "rows": rows}, indent=1))
    print(f"written {out}")


REFERENCE = ROOT / "bench" / "results" / "generality-classic-reference.json"


def reference(which: str | None) -> None:
    """The classic preset's result on each pair (the held-out half first), scored at 512 px and
    downscaled to 256 and 384 px as the anchors are. Each finished pair is written at once; the
    images are kept outside git in the cache (reference/), for contact sheets."""
    import torch

    import stylesynth
    from stylesynth.evaluate import score

    paths = image_paths()
    done = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {"preset": "classic", "rows": []}
    finished = {(r["photo"], r["painting"]) for r in done["rows"]}
    folder = Path(os.environ.get("STYLESYNTH_CACHE", Path.home() / ".cache" / "stylesynth")) / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    order = sorted(pairs(), key=lambda pair: half(*pair) != "held-out")
    for photo, painting in order:
        if (photo, painting) in finished or (which and which != half(photo, painting)):
            continue
        start = time.perf_counter()
        result = stylesynth.transfer(paths[photo], paths[painting], size=512, seed=0, preset="classic",
                                     progress=False)
        seconds = time.perf_counter() - start
        result.save(folder / f"{photo}__{painting}__512.classic.png")
        for size in SIZES:
            s = score(paths[photo], paths[painting], result if size >= max(result.size) else _fit(result, size + 4))
            done["rows"].append({"photo": photo, "painting": painting, "half": half(photo, painting), "size": size,
                                 "content": s.content, "style": s.style, "seconds": round(seconds, 1)})
            print(f"{half(photo, painting):8s} {photo:16s} {painting:22s} {size:4d}  "
                  f"{s.content:.3f} / {s.style:.3f}  {seconds:.0f} s", flush=True)
        done.update(torch=torch.__version__, threads=torch.get_num_threads())
        REFERENCE.write_text(json.dumps(done, indent=1))


def held_out_sheet(out: Path, size: int) -> None:
    """The held-out half at `size`: photo, painting, the classic reference (where `reference` has
    made it) and the default, each captioned with the judge's content / style; "wins" marks a
    default that beats the reference on both numbers."""
    import stylesynth
    from quality import panel, stack  # bench/quality.py, beside this file
    from stylesynth.evaluate import score

    paths = image_paths()
    folder = Path(os.environ.get("STYLESYNTH_CACHE", Path.home() / ".cache" / "stylesynth")) / "reference"
    rows = []
    for photo, painting in pairs():
        if half(photo, painting) != "held-out":
            continue
        cells = [panel(thumbnail(photo, paths), photo), panel(thumbnail(painting, paths), painting[:24])]
        result = stylesynth.transfer(paths[photo], paths[painting], size=size, seed=0, progress=False)
        ours = score(paths[photo], paths[painting], result)
        classic = folder / f"{photo}__{painting}__512.classic.png"
        theirs, wins = None, ""
        if classic.exists():
            reference_image = Image.open(classic).convert("RGB")
            if size < max(reference_image.size):
                reference_image = _fit(reference_image, size + 4)
            theirs = score(paths[photo], paths[painting], reference_image)
            wins = " wins" if ours.content < theirs.content and ours.style < theirs.style else ""
            cells.append(panel(reference_image, f"classic {theirs.content:.3f}/{theirs.style:.3f}"))
        else:
            cells.append(panel(Image.new("RGB", result.size, "white"), "classic: not computed"))
        cells.append(panel(result, f"default {ours.content:.3f}/{ours.style:.3f}{wins}"))
        rows.append(cells)
        print(f"| {photo} | {painting} | {theirs.content:.3f} / {theirs.style:.3f} | " if theirs else
              f"| {photo} | {painting} | – | ", f"{ours.content:.3f} / {ours.style:.3f} | {'yes' if wins else 'no'} |",
              flush=True)
    stack(rows).save(out, quality=85)
    print(f"written {out}")


def curve(out: Path, ratios: tuple[float, ...], size: int, config: str) -> None:
    """The ratio swept on brad_pitt x picasso beside the classic recipe's four published points
    (issue 32, item 3): a JSON of the numbers and a plot (x: content, y: style; lower-left is better)."""
    import stylesynth
    from stylesynth.evaluate import score

    paths = image_paths()
    photo, painting = paths["brad_pitt"], paths["picasso_selfport1907"]
    rows = []
    for ratio in ratios:
        start = time.perf_counter()
        result = stylesynth.transfer(photo, painting, size=size, seed=0, ratio=ratio, progress=False,
                                     **CONFIGS[config])
        s = score(photo, painting, result)
        rows.append({"ratio": ratio, "content": s.content, "style": s.style,
                     "seconds": round(time.perf_counter() - start, 1)})
        print(f"ratio {ratio:g}: {s.content:.3f} / {s.style:.3f}", flush=True)
    beats = {name: [r["ratio"] for r in rows if r["content"] < c and r["style"] < st]
             for name, (c, st) in PORTRAIT_ANCHORS.items()}
    print("ratios beating each published point on both numbers:", beats)
    result_file = ROOT / "bench" / "results" / f"curve-{config}-{size}-{time.strftime('%Y%m%d-%H%M')}.json"
    result_file.write_text(json.dumps({"config": config, "size": size, "rows": rows, "beats": beats}, indent=1))
    _plot_curve(rows, out)
    print(f"written {result_file} and {out}")


def _plot_curve(rows: list[dict], out: Path, width: int = 560, height: int = 400) -> None:
    from PIL import ImageDraw

    points = [(r["content"], r["style"]) for r in rows] + list(PORTRAIT_ANCHORS.values())
    lo_x, hi_x = min(p[0] for p in points) - 0.02, max(p[0] for p in points) + 0.02
    lo_y, hi_y = min(p[1] for p in points) - 0.02, max(p[1] for p in points) + 0.02
    left, right, top, bottom = 60, width - 90, 20, height - 45
    at = lambda c, s: (left + (c - lo_x) / (hi_x - lo_x) * (right - left),  # noqa: E731
                       bottom - (s - lo_y) / (hi_y - lo_y) * (bottom - top))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([left, top, right, bottom], outline=(120, 120, 120))
    draw.text((left, height - 20), "judge content (LPIPS to the photo, lower keeps more)", fill="black")
    draw.text((4, top), "style", fill="black")
    for value in (lo_x, hi_x):
        draw.text((at(value, lo_y)[0] - 12, bottom + 4), f"{value:.2f}", fill="black")
    for value in (lo_y, hi_y):
        draw.text((20, at(lo_x, value)[1] - 6), f"{value:.2f}", fill="black")
    ours = [at(r["content"], r["style"]) for r in sorted(rows, key=lambda r: r["content"])]
    draw.line(ours, fill=(31, 119, 180), width=2)
    for r, (x, y) in zip(sorted(rows, key=lambda r: r["content"]), ours):
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(31, 119, 180))
        draw.text((x + 5, y - 12), f"{r['ratio']:g}", fill=(31, 119, 180))
    for name, (c, s) in PORTRAIT_ANCHORS.items():
        x, y = at(c, s)
        draw.rectangle([x - 4, y - 4, x + 4, y + 4], outline=(214, 39, 40), width=2)
        draw.text((x + 6, y + 2), name, fill=(214, 39, 40))
    draw.text((right - 250, top + 4), "blue: stylesynth, ratio swept", fill=(31, 119, 180))
    draw.text((right - 250, top + 18), "red: classic recipe, published", fill=(214, 39, 40))
    image.save(out)


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
    one.add_argument("--ratio", type=float, default=None, help="alpha/beta instead of the config's")
    two = commands.add_parser("compare")
    two.add_argument("result", type=Path)
    two.add_argument("reference", type=Path)
    three = commands.add_parser("sheet")
    three.add_argument("--out", type=Path, required=True)
    three.add_argument("--sizes", default="256,512")
    three.add_argument("--keep", type=Path, default=None)
    four = commands.add_parser("curve")
    four.add_argument("--out", type=Path, required=True)
    four.add_argument("--ratios", default=",".join(map(str, CURVE_RATIOS)))
    four.add_argument("--size", type=int, default=512)
    four.add_argument("--config", choices=CONFIGS, default="default")
    five = commands.add_parser("anchors")
    five.add_argument("--config", choices=CONFIGS, default="default")
    five.add_argument("--sizes", default="256,384,512,1024")
    six = commands.add_parser("reference")
    six.add_argument("--only", choices=("tuning", "held-out"), default=None)
    seven = commands.add_parser("held-out")
    seven.add_argument("--out", type=Path, required=True)
    seven.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    if args.command == "held-out":
        held_out_sheet(args.out, args.size)
    elif args.command == "reference":
        reference(args.only)
    elif args.command == "anchors":
        anchors(args.config, tuple(int(s) for s in args.sizes.split(",")))
    elif args.command == "curve":
        curve(args.out, tuple(float(r) for r in args.ratios.split(",")), args.size, args.config)
    elif args.command == "run":
        run(args.config, tuple(int(s) for s in args.sizes.split(",")), args.keep, args.only, args.ratio)
    elif args.command == "compare":
        compare(args.result, args.reference)
    else:
        sheet(args.out, tuple(int(s) for s in args.sizes.split(",")), args.keep)


if __name__ == "__main__":
    main()
