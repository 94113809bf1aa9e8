"""Quality benchmark: the transfer presets judged by `stylesynth evaluate` beside the anchors.

    python bench/quality.py [--presets draft,fast,quality] [--sheet docs/quality.jpg]

For every painting in ../shared/images (the anchors' three and the others) it runs
`stylesynth transfer` on the bundled photo at 512 px with each preset (seed 0, one process each,
so the seconds include start-up), scores the result, and prints one table row per pair and
preset: content and style (lower is better), the anchor's numbers where there is one, whether
the result beats it on both, the wall seconds, and - for the anchor pairs - the fewest seconds
at which the run first beats the anchor on both numbers (every iteration's image is written as a
snapshot and the finest scale's are judged afterwards; the snapshots' writing is in the seconds,
so they err on the slow side; `--no-beat` leaves it out). It writes the rows as JSON into bench/results/ and a
contact sheet (photo | painting | anchor | each preset) for the README.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PHOTO = "tubingen.jpg"
ANCHORS = {"starry_night.jpg": "tubingen_starry.png", "the_scream.jpg": "tubingen_scream.png",
           "shipwreck.jpg": "tubingen_shipwreck.png"}


def run(photo: Path, painting: Path, preset: str, out: Path, snapshots: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stylesynth.cli", "transfer", str(photo), str(painting),
                    "-o", str(out), "--preset", preset, "--seed", "0", "--quiet"]
                   + (["--snapshot-every", "1"] if snapshots else []), check=True)
    return time.perf_counter() - start


def first_beat(photo: Path, painting: Path, out: Path, anchor, launched: float) -> float | None:
    """Seconds from the run's launch (wall clock) to its first snapshot that beats `anchor` on both numbers."""
    from stylesynth.evaluate import score

    final = Image.open(out).size
    for snap in sorted(out.parent.glob(f"{out.stem}.iter*.png")):
        # Only the finest scale's snapshots are judged: a coarser scale's image, upsampled, was
        # never inside an anchor's box (every iteration judged, docs/normalization.md), and
        # judging them all took longer than the runs.
        if Image.open(snap).size != final:
            continue
        if score(photo, painting, snap).beats(anchor):
            return snap.stat().st_mtime - launched
    return None


def panel(image: Image.Image, caption: str, height: int = 192) -> Image.Image:
    image = image.convert("RGB")
    image = image.resize((max(1, round(image.width * height / image.height)), height), Image.LANCZOS)
    cell = Image.new("RGB", (image.width, height + 18), "white")
    cell.paste(image, (0, 0))
    ImageDraw.Draw(cell).text((4, height + 3), caption, fill="black")
    return cell


def stack(rows: list[list[Image.Image]]) -> Image.Image:
    """Rows of panels, each row left to right, into one sheet."""
    sheet = Image.new("RGB", (max(sum(c.width for c in r) for r in rows), sum(r[0].height for r in rows)), "white")
    y = 0
    for cells in rows:
        x = 0
        for cell in cells:
            sheet.paste(cell, (x, y))
            x += cell.width
        y += cells[0].height
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="draft,fast,quality")
    parser.add_argument("--paintings", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--sheet", default=str(ROOT / "docs" / "quality.jpg"))
    parser.add_argument("--no-beat", action="store_true", help="no snapshots: no seconds-to-beat column")
    args = parser.parse_args()
    from stylesynth.evaluate import Score, score

    images = SHARED / "images"
    photo = images / PHOTO
    paintings = ([images / p for p in args.paintings.split(",")] if args.paintings else
                 sorted(p for p in images.glob("*.jpg") if p.name != PHOTO))
    presets = args.presets.split(",")
    rows, sheet_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for painting in paintings:
            anchor_file = SHARED / "anchor" / ANCHORS[painting.name] if painting.name in ANCHORS else None
            anchor = score(photo, painting, anchor_file) if anchor_file else None
            cells = [panel(Image.open(photo), "photo"), panel(Image.open(painting), painting.stem)]
            if anchor_file:
                cells.append(panel(Image.open(anchor_file), f"anchor {anchor.content:.3f}/{anchor.style:.3f}"))
            for preset in presets:
                out = Path(tmp) / f"{painting.stem}-{preset}.png"
                beat = anchor is not None and not args.no_beat
                launched = time.time()
                seconds = run(photo, painting, preset, out, snapshots=beat)
                judged: Score = score(photo, painting, out)
                wins = anchor is not None and judged.beats(anchor)
                row = {"painting": painting.stem, "preset": preset, "content": round(judged.content, 3),
                       "style": round(judged.style, 3), "seconds": round(seconds, 1),
                       "anchor": [round(anchor.content, 3), round(anchor.style, 3)] if anchor else None,
                       "beats_anchor": wins,
                       "seconds_to_beat": first_beat(photo, painting, out, anchor, launched) if beat else None}
                if row["seconds_to_beat"] is not None:
                    row["seconds_to_beat"] = round(row["seconds_to_beat"], 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
                cells.append(panel(Image.open(out), f"{preset} {judged.content:.3f}/{judged.style:.3f}"
                                   f"{' wins' if wins else ''}"))
            sheet_rows.append(cells)
    stack(sheet_rows).save(args.sheet, quality=88)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / time.strftime("quality-%Y%m%d-%H%M.json")).write_text(json.dumps(rows, indent=1))
    print("\n| painting | preset | content | style | anchor | beats anchor | seconds | first beats at (s) |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        a = f"{r['anchor'][0]:.3f} / {r['anchor'][1]:.3f}" if r["anchor"] else "—"
        print(f"| {r['painting']} | {r['preset']} | {r['content']:.3f} | {r['style']:.3f} | {a} | "
              f"{'yes' if r['beats_anchor'] else 'no'} | {r['seconds']} | "
              f"{'—' if r['seconds_to_beat'] is None else r['seconds_to_beat']} |")


if __name__ == "__main__":
    main()
