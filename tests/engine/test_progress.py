"""The progress report (run.py Reporter/Progress): a bar on a terminal that ends exactly at 100 %
without a warning, and, without a terminal, lines while the run goes and a closing summary."""

from __future__ import annotations

import io
import os
import re
import select
import struct
import subprocess
import sys
import time
import warnings

import pytest

from stylesynth.engine import run as run_module
from stylesynth.engine.optimize import Step
from stylesynth.options import RunOptions
from stylesynth.pyramid import scale_plan

from conftest import CONTENT, STYLE, run_cli

NEGATIVE_TIME = re.compile(r"<-\d|-\d+:\d\d")  # tqdm's "<-00:00", or a negative clock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run_plan(plan, options: RunOptions) -> run_module.Progress:
    progress = run_module.Progress("transfer", plan, options)
    for index, (_, iterations) in enumerate(plan):
        on_step = progress.at_scale(index)
        for i in range(iterations):
            on_step(Step(iteration=i + 1, iterations=iterations, loss=0.5, parts={"style": 0.25}, image=None))
    return progress


@pytest.mark.parametrize("side", [128, 256, 384, 512, 700, 1024, 2048])
def test_the_default_schedule_ends_exactly_at_its_total_without_a_warning(side, monkeypatch):
    """44 + 13 (and every other size) summed as floats came to 100.00000000000001 %: tqdm warned
    'clamping frac' and showed a negative time left."""
    monkeypatch.setattr(sys, "stderr", Terminal())
    steps = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        progress = _run_plan(scale_plan((side, side * 3 // 4), 16), RunOptions(on_step=steps.append))
        assert progress.bar.n == progress.bar.total and progress.done == progress.total
        progress.close()
    assert not caught, [str(w.message) for w in caught]
    assert steps[-1].fraction == 1.0 and steps[-1].iteration == steps[-1].iterations
    err = sys.stderr.getvalue()
    assert "100%" in err and not NEGATIVE_TIME.search(err), err


def test_a_position_past_the_total_is_kept_at_the_total(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    reporter = run_module.Reporter("video", 3, counter="{n:.1f}/{total} frames")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reporter.update_to(0.1 + 0.2 + 2.7 + 1e-9)
        reporter.close()
    assert not caught and reporter.done == 3
    assert "3.0/3 frames" in sys.stderr.getvalue()


def test_without_a_terminal_a_line_every_interval_and_a_summary(monkeypatch, capsys):
    clock = [1000.0]
    monkeypatch.setattr(run_module.time, "monotonic", lambda: clock[0])
    plan = [((64, 48), 10), ((128, 96), 5)]
    progress = run_module.Progress("texture", plan, RunOptions())
    for index, (_, iterations) in enumerate(plan):
        on_step = progress.at_scale(index)
        for i in range(iterations):
            clock[0] += 3.0  # 3 s an iteration: a line every fourth
            on_step(Step(iteration=i + 1, iterations=iterations, loss=0.125, parts={"style": 0.125}, image=None))
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 + 1, lines  # at 12, 24 and 36 s (iterations 4, 8, 12), then the summary
    # work, not iterations: 4 of 10 iterations at 64x48 px are 13 % of 10 x 64x48 + 5 x 128x96
    assert lines[0] == "stylesynth: texture: 13%, 12 s elapsed, about 1:18 left (scale=1/2, loss=0.125, style=0.125)"
    assert lines[2].startswith("stylesynth: texture: 60%, 36 s elapsed, about 24 s left (scale=2/2")
    assert lines[-1] == ("stylesynth: texture: done in 45 s: 15 of 15 iterations over 2 scales, "
                         "loss 0.125, style 0.125")


def test_quiet_says_nothing(monkeypatch, capsys):
    progress = _run_plan([((64, 48), 3)], RunOptions(progress=False))
    progress.close()
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("vgg16_weights")
def test_cli_in_a_log_ends_with_a_summary_and_json_is_unchanged(tmp_path, capsys):
    out = tmp_path / "out.png"
    args = ["transfer", CONTENT, STYLE, "-o", out, "--size", "128", "--iterations", "3,2", "--seed", "1"]
    assert run_cli(args) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    *lines, summary = captured.err.splitlines()
    assert re.fullmatch(r"stylesynth: transfer: done in \d+ s: 5 of 5 iterations over 2 scales, loss \S+, "
                        r"content \S+, style \S+", summary), captured.err
    # a busy machine may take LINE_EVERY seconds for an iteration: then a progress line comes first
    assert all(re.match(r"stylesynth: transfer: \d+%, \d+ s elapsed", line) for line in lines), lines
    assert run_cli([*args, "--json"]) == 0
    assert set(__import__("json").loads(capsys.readouterr().out)) == {
        "output", "seconds", "iterations", "evaluations", "losses", "seed", "interrupted"}
    assert run_cli([*args, "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.usefixtures("vgg16_weights")
def test_a_default_run_in_a_terminal_shows_no_warning_nor_negative_time(tmp_path, spawn):
    """The CLI as a person runs it: stderr is a pseudo-terminal, the default schedule (44 + 13)."""
    pty = pytest.importorskip("pty")
    fcntl, termios = pytest.importorskip("fcntl"), pytest.importorskip("termios")
    master, terminal = pty.openpty()
    # a terminal's size: tqdm draws nothing on one 0 columns wide (a bare pty's)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = spawn([sys.executable, "-m", "stylesynth.cli", "transfer", CONTENT, STYLE,
                         "-o", tmp_path / "out.png", "--size", "128", "--seed", "0"],
                        stdin=terminal, stdout=subprocess.PIPE, stderr=terminal)
        os.close(terminal)
        err = b""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the process closed its terminal
                    break
                if not chunk:
                    break
                err += chunk
        assert process.wait(timeout=60) == 0, err.decode(errors="replace")
    finally:
        os.close(master)
    text = err.decode(errors="replace")
    assert "transfer" in text and "100%" in text  # the bar was drawn, to its end
    assert "Warning" not in text and "Traceback" not in text, text
    assert not NEGATIVE_TIME.search(text), text


def test_a_failing_run_has_no_summary(capsys):
    """Its one error line says what happened (the command line's errors are one line)."""
    progress = run_module.Progress("reconstruct", [((64, 48), 3)], RunOptions())
    with pytest.raises(RuntimeError):
        try:
            raise RuntimeError("the loss is not finite")
        finally:
            progress.close()
    progress = run_module.Progress("reconstruct", [((64, 48), 3)], RunOptions())
    progress.close()
    assert capsys.readouterr().err == "stylesynth: reconstruct: stopped in 0 s: 0 of 3 iterations over 1 scale\n"
