"""Stop signals and stray processes (issue 19).

Every long-running command, started with SIGINT *ignored* (as a shell starts background jobs),
answers SIGINT and SIGTERM by finishing its step, saving the best result with its record (and
the checkpoint when one is configured), and exiting 128 + the signal. And a test that fails
leaves no process of its own running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import stylesynth

from conftest import CONTENT, STYLE

pytestmark = [pytest.mark.usefixtures("vgg16_weights"),
              pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")]
LONG = 100_000  # iterations: every run here ends by a signal, or the test fails
# Each command at 64 px, snapshots every iteration (figure has none: it is stopped as soon as
# its handlers are in place, which ends its first panel after one step).
COMMANDS = {
    "transfer": ["transfer", CONTENT, STYLE, "--scales", "1", "--iterations", LONG, "--checkpoint-every", LONG],
    "texture": ["texture", STYLE, "--scales", "1", "--iterations", LONG],
    "reconstruct": ["reconstruct", CONTENT, "--scales", "1", "--iterations", LONG],
    "dream": ["dream", CONTENT, "--octaves", "1", "--iterations", LONG],
    "figure": ["figure", "seeds", "--content", CONTENT, "--style", STYLE, "--seeds", "1", "--scales", "1",
               "--iterations", LONG],
}


def signal_mask(pid: int, field: str) -> int:
    """SigIgn / SigCgt of a process: bit n-1 set for signal n."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def has(mask: int, signum: int) -> bool:
    return bool(mask >> (signum - 1) & 1)


def wait_until(process: subprocess.Popen, ready, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"exited early with {process.returncode}: {process.stderr.read()}"
        assert time.monotonic() < deadline, "never got ready"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_stop_signal_saves_the_best_result_and_exits_128_plus_signal(command, signum, tmp_path, spawn):
    out = tmp_path / "out.png"
    argv = [*COMMANDS[command], "-o", out, "--size", "64", "--quiet"]
    if command != "figure":
        argv += ["--snapshot-every", "1"]
    process = spawn([sys.executable, "-m", "stylesynth.cli", *argv], stderr=subprocess.PIPE, text=True,
                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert has(signal_mask(process.pid, "SigIgn"), signal.SIGINT)  # inherited: ignored
    # Python catches SIGINT only when it was not ignored, and SIGTERM never: both caught means
    # the command's own handlers are in place.
    wait_until(process, lambda: all(has(signal_mask(process.pid, "SigCgt"), s)
                                    for s in (signal.SIGINT, signal.SIGTERM)))
    if command != "figure":
        wait_until(process, lambda: (tmp_path / "out.iter0002.png").exists())  # in the loop
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)

    assert process.returncode == 128 + signum, err
    assert f"interrupted ({signal.Signals(signum).name}): saved" in err and "Traceback" not in err
    record = stylesynth.read_params(out)
    assert record["interrupted"] is True
    if command == "figure":
        assert Image.open(out).format == "PNG" and out.with_suffix(".json").is_file()
        assert [p["done"] for p in record["panels"] if p["kind"] == "result"] == [False, False]
        return
    assert 2 <= record["iterations_done"] < LONG
    size = Image.open(out).size
    assert max(size) == 64 if command == "texture" else size == (64, 48)
    if command == "transfer":  # the checkpoint holds the step the run stopped after
        loop = torch.load(f"{out}.ckpt", weights_only=True)["loop"]
        assert loop["iteration"] == record["iterations_done"]
    else:
        assert not Path(f"{out}.ckpt").exists()


def test_a_second_signal_stops_at_once_and_handlers_are_restored():
    from stylesynth import signals

    before = signal.getsignal(signal.SIGTERM)
    with signals.stop_after_step():
        signal.raise_signal(signal.SIGTERM)  # the first: recorded, nothing raised
        assert signals.received() == signal.SIGTERM
        with pytest.raises(signals.Stopped) as stopped:
            signal.raise_signal(signal.SIGINT)
        assert stopped.value.signum == signal.SIGINT
    assert signals.received() is None and signal.getsignal(signal.SIGTERM) is before


def test_a_failing_test_leaves_no_process_running(tmp_path):
    """A test that starts a process through `spawn` and then fails: the process is gone after."""
    pid_file = tmp_path / "child.pid"
    (tmp_path / "test_fails.py").write_text(textwrap.dedent(f"""
        import sys

        def test_fails_on_purpose(spawn):
            child = spawn([sys.executable, "-c", "import time; time.sleep(600)"])
            open({str(pid_file)!r}, "w").write(str(child.pid))
            assert False, "on purpose"
        """))
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tests), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                           "--rootdir", tmp_path, "test_fails.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "1 failed" in done.stdout, done.stdout + done.stderr
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_while_the_command_line_is_still_loading_is_one_line(tmp_path, spawn, signum):
    """Issue 33: Ctrl-C in the first seconds (while torch is imported) printed a traceback;
    SIGTERM killed the process without a word (status -15)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = tmp_path / "out.png"
    process = spawn([sys.executable, "-X", "importtime", "-m", "stylesynth.cli", "transfer", CONTENT, STYLE,
                     "-o", out, "--size", "64"], stderr=subprocess.PIPE, text=True,
                    env={**os.environ, "PYTHONPATH": src})
    # -X importtime writes a line per module imported: send the signal once torch is being loaded.
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "| torch" in line or "torch." in line:
            break
    process.send_signal(signum)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 128 + signum
    ours = [line for line in rest.splitlines() if not line.startswith("import time:")]
    assert ours == ["stylesynth: interrupted"], rest[-2000:]
    assert "Traceback" not in rest and not out.exists() and list(tmp_path.iterdir()) == []
