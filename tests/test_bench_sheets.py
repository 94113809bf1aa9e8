"""bench/generality.py's contact sheets never show a benchmark-only picture (../shared/bench)."""

import importlib.util
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _generality():
    spec = importlib.util.spec_from_file_location("generality", ROOT / "bench" / "generality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_only_inputs_are_grey_boxes_and_others_are_shown(tmp_path):
    generality = _generality()
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (255, 0, 0)).save(photo)
    # The bench picture need not exist: the sheet must not even open it.
    paths = {"photo": photo, "brad_pitt": generality.SHARED / "bench" / "no-such-file.jpg"}

    shown = generality.thumbnail("photo", paths)
    assert shown.size == (40, 30) and shown.getpixel((5, 5)) == (255, 0, 0)

    hidden = generality.thumbnail("brad_pitt", paths)
    assert hidden.size == (300, 300)
    assert hidden.getpixel((5, 5)) == (225, 225, 225)  # the grey box, with its name written in it
    assert hidden.getextrema() != ((225, 225), (225, 225), (225, 225))
