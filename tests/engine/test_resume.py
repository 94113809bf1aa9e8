"""Long runs never lose work: checkpoints survive SIGKILL, and memory is estimated before a run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from stylesynth.engine.memory import estimate_memory
from stylesynth.engine.objective import parse_layers

from conftest import CONTENT, STYLE

pytestmark = pytest.mark.usefixtures("vgg16_weights")
ARGS = ["--size", "128", "--iterations", "6,40", "--seed", "4", "--quiet"]


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "stylesynth.cli", "transfer", str(CONTENT), str(STYLE), *map(str, args)]


# Also tile by tile, as a print size runs (issue 16): the finer scale in 64 px tiles.
@pytest.mark.parametrize("plan", [[], ["--tile", "64"]], ids=["whole", "tiles"])
def test_resume_after_sigkill_reaches_the_uninterrupted_result(tmp_path, spawn, plan):
    full, resumed = tmp_path / "full.png", tmp_path / "resumed.png"
    subprocess.run(cli("-o", full, *ARGS, *plan), check=True, timeout=300)
    checkpoint = tmp_path / "resumed.png.ckpt"
    process = spawn(cli("-o", resumed, *ARGS, *plan, "--checkpoint-every", "2"))
    deadline = time.time() + 300
    # Wait for a checkpoint in the second (finer) scale, then kill without warning.
    while time.time() < deadline and process.poll() is None:
        if checkpoint.exists():
            import torch

            try:
                if torch.load(checkpoint, weights_only=True)["scale_index"] == 1:
                    break
            except Exception:  # being replaced right now
                pass
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert checkpoint.exists() and not resumed.exists()
    subprocess.run(cli("-o", resumed, *ARGS, *plan, "--checkpoint-every", "2", "--resume"), check=True, timeout=300)
    assert Image.open(resumed).info and json.loads(Image.open(resumed).text["stylesynth"])["tile"] == (64 if plan else None)
    a = np.asarray(Image.open(full), dtype=np.int16)
    b = np.asarray(Image.open(resumed), dtype=np.int16)
    assert np.abs(a - b).max() <= 1
    assert not checkpoint.exists()  # finished: the checkpoint is removed


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path, capsys, spawn):
    from conftest import run_cli

    out = tmp_path / "out.png"
    process = spawn(cli("-o", out, *ARGS, "--checkpoint-every", "1"))
    deadline = time.time() + 300
    while not (tmp_path / "out.png.ckpt").exists() and time.time() < deadline:
        time.sleep(0.1)
    process.kill()
    process.wait()
    code = run_cli(["transfer", CONTENT, STYLE, "-o", out, "--size", "128", "--seed", "5", "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "different run" in err and err.count("\n") == 1


@pytest.mark.parametrize("size, checkpoint", [(256, None), (384, "pool1")])
def test_memory_estimate_is_within_30_percent_of_the_measured_peak(size, checkpoint):
    # Five style layers, one per block: with the default's every ReLU of blocks 1-4 the early
    # maps are requested activations, kept whatever is recomputed, and checkpointing saves nothing.
    layers = "relu1_1:0.2,relu2_1:0.3,relu3_1:0.3,relu4_1:0.1,relu5_1:0.1"
    needed = estimate_memory(_size(size), ["relu4_2", *parse_layers(layers)], pooling="avg",
                             checkpoint_until=checkpoint)
    limit = "" if checkpoint is None else f", memory_limit_mb={round(needed / 2**20) + 1}"
    code = (
        "import json, stylesynth\n"
        f"im = stylesynth.transfer({str(CONTENT)!r}, {str(STYLE)!r}, size={size}, scales=1, iterations=2,"
        f" style_layers={layers!r}, progress=False, device='cpu', cache_targets=False{limit})\n"
        # VmHWM, not getrusage's ru_maxrss: that survives exec and would be pytest's own peak.
        "hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "print(json.dumps([hwm * 1024,"
        " im.info['stylesynth']['memory_estimate_mb'], im.info['stylesynth']['checkpoint_until']]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    peak, estimate_mb, used = json.loads(out.stdout.strip().splitlines()[-1])
    assert used == checkpoint
    assert abs(estimate_mb * 2**20 / peak - 1) < 0.30


def _size(long_side: int) -> tuple[int, int]:
    from stylesynth.engine.start import output_size

    return output_size(Image.open(CONTENT), long_side)


def test_a_run_over_the_memory_budget_is_refused_before_it_starts(tmp_path, capsys):
    from conftest import run_cli

    out = tmp_path / "out.png"
    code = run_cli(["transfer", CONTENT, STYLE, "-o", out, "--size", "4096", "--memory-limit", "500"])
    err = capsys.readouterr().err
    assert code == 2 and "GiB" in err and "--size" in err and not out.exists()
