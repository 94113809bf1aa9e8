"""Stop signals: SIGINT (Ctrl-C) and SIGTERM (kill, schedulers, containers) end a run cleanly.

While `stop_after_step()` is active (around the command line's long-running commands), the
first SIGINT or SIGTERM only records itself: the optimization loop (engine/optimize.py) finishes its
current step, writes a checkpoint when one is configured, and returns the best image so far,
which the command saves before exiting with 128 + the signal's number. A second signal raises
`Stopped`, a KeyboardInterrupt, at once.

The handlers replace whatever disposition the process inherited: a shell starts background
jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt. Only the main thread
can install handlers; in any other thread `stop_after_step()` does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # the first signal, while stop_after_step() is active


class Stopped(KeyboardInterrupt):
    """A second stop signal: stop now."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def received() -> int | None:
    """The stop signal received inside `stop_after_step()`, if one was."""
    return _received[0] if _received else None


def _handle(signum: int, frame: object) -> None:
    if _received:
        raise Stopped(signum)
    _received.append(signum)
    # os.write, not print: a handler may run while the main thread is inside sys.stderr.write.
    os.write(2, f"\nstylesynth: {signal.Signals(signum).name}: stopping after the current step "
                "(send it again to stop now)\n".encode())


@contextmanager
def stop_after_step() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as above inside the block; restore the previous handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {signum: signal.signal(signum, _handle) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()
