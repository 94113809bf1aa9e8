"""A loss-curve plot drawn with Pillow (log scale), so no plotting library is needed."""

from __future__ import annotations

import math
import os

from PIL import Image, ImageDraw

from .images import save_image

COLOURS = {"loss": (20, 20, 20), "content": (31, 119, 180), "style": (214, 39, 40), "tv": (44, 160, 44)}


def loss_plot(history: list[dict[str, float]], path: str | os.PathLike, width: int = 640,
              height: int = 400) -> None:
    """Plot total, content, style (and TV) loss against iteration on a log10 axis."""
    series = {k: [(h["iteration"], h[k]) for h in history if h.get(k, 0) > 0]
              for k in COLOURS if any(h.get(k, 0) > 0 for h in history)}
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 60, width - 20, 20, height - 40
    draw.rectangle([left, top, right, bottom], outline=(120, 120, 120))
    points = [p for s in series.values() for p in s]
    if points:
        last = max(i for i, _ in points)
        lo = math.floor(math.log10(min(v for _, v in points)))
        hi = math.ceil(math.log10(max(v for _, v in points)))
        hi = hi if hi > lo else lo + 1

        def xy(i: float, v: float) -> tuple[float, float]:
            x = left + (right - left) * (i - 1) / max(1, last - 1)
            y = bottom - (bottom - top) * (math.log10(v) - lo) / (hi - lo)
            return x, y

        for decade in range(lo, hi + 1):
            y = xy(1, 10.0**decade)[1]
            draw.line([left, y, right, y], fill=(230, 230, 230))
            draw.text((5, y - 6), f"1e{decade}", fill=(80, 80, 80))
        draw.text((left, bottom + 8), "1", fill=(80, 80, 80))
        draw.text((right - 30, bottom + 8), str(last), fill=(80, 80, 80))
        draw.text(((left + right) // 2 - 25, bottom + 20), "iteration", fill=(80, 80, 80))
        for n, (name, values) in enumerate(series.items()):
            draw.line([xy(i, v) for i, v in values] if len(values) > 1 else [xy(*values[0])] * 2,
                      fill=COLOURS[name], width=2)
            draw.text((right - 80, top + 8 + 14 * n), name, fill=COLOURS[name])
    save_image(image, path, {"plot": "losses", "iterations": len(history)})
