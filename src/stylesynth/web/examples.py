"""The studio's bundled example images: listed with their titles and credits (from
examples/ATTRIBUTION.md), served as thumbnails, and addressed only by the names listed."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from PIL import Image

from ..io.images import open_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def default_examples_dir() -> Path:
    """The repository's examples/ folder, found from the package's location (src layout)."""
    return Path(__file__).resolve().parents[3] / "examples"


def _titles(folder: Path) -> dict[str, tuple[str, str]]:
    """file -> (work, licence), read from the table in examples/ATTRIBUTION.md when present."""
    titles = {}
    try:
        text = (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    except OSError:
        return titles
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].lower().endswith(IMAGE_SUFFIXES):
            titles[cells[0]] = (cells[1], cells[2])
    return titles


def _short_title(work: str) -> str:
    """"Vincent van Gogh, The Starry Night, 1889" -> "The Starry Night"; else the first phrase."""
    parts = [p.strip() for p in work.split(",")]
    title = parts[1] if len(parts) >= 3 and re.fullmatch(r"\d{4}", parts[-1]) else parts[0]
    return re.sub(r"\s*\(.*?\)\s*", " ", title).strip() or work


class Examples:
    """The bundled images, addressed only by the names listed (never a client's path)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, Path] = {}
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    self.files[path.name] = path
        self.titles = _titles(folder)
        self._thumbs: dict[str, bytes] = {}

    def listing(self) -> list[dict[str, Any]]:
        items = []
        for name in self.files:
            work, licence = self.titles.get(name, (Path(name).stem.replace("-", " ").replace("_", " "), ""))
            short = _short_title(work)
            items.append({"name": name, "title": short, "credit": work, "licence": licence,
                          "thumbnail": f"/api/examples/{name}"})
        return items

    def path(self, name: str) -> Path | None:
        return self.files.get(name)

    def thumbnail(self, name: str) -> bytes | None:
        if name not in self.files:
            return None
        if name not in self._thumbs:
            img = open_image(self.files[name])
            img.thumbnail((320, 320), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            img.save(buffer, format="JPEG", quality=85)
            self._thumbs[name] = buffer.getvalue()
        return self._thumbs[name]
