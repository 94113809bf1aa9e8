"""What every optimizing run shares, whatever its mode: the setup (the network, its device and
precision, the seed, the memory plan), the progress report (a bar on a terminal, lines in a log)
with the `Step` every iteration reports, and the record stored with the result."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ..nets.networks import FeatureExtractor, min_side, pick_dtype, set_threads
from ..nets.pretrained import shared_network
from ..options import RunOptions
from ..version import __version__
from .memory import MemoryPlan, estimate_memory, plan_memory
from .optimize import Step


@dataclass
class Run:
    """One run's setup; `start_run` makes it."""

    mode: str
    options: RunOptions
    net: FeatureExtractor
    layers: list[str]  # every layer the objective reads
    minimum: int  # the smallest side the deepest of them accepts, px
    seed: int
    generator: torch.Generator
    dtype: torch.dtype | None  # the convolutions' (None: float32)
    memory: MemoryPlan  # checkpointing, tiles and the L-BFGS history that fit the budget
    out_size: tuple[int, int]
    started: float = field(default_factory=time.perf_counter)

    @property
    def checkpoint_until(self) -> str | None:
        return self.memory.checkpoint_until

    def memory_at(self, size: tuple[int, int], iterations: int) -> MemoryPlan:
        """The memory plan of one scale and its iterations: a coarse scale may fit whole where the
        finest needs tiles (a forced --tile applies where the image is larger than a tile). The
        finest scale's plan becomes the run's (`memory`, in the record)."""
        tile = self.options.tile if self.options.tile and max(size) > self.options.tile else None
        if self.device.type != "cpu":
            plan = MemoryPlan(tile=tile)
        elif size == self.out_size and self.memory.tile is None and not tile:
            plan = self.memory  # the whole image fits: nothing to shorten
        else:
            plan = plan_memory(size, self.layers, self.net, limit_mb=self.options.memory_limit_mb, tile=tile,
                               iterations=iterations)
        if size == self.out_size:
            self.memory = plan
        return plan

    @property
    def device(self) -> torch.device:
        return next(self.net.buffers()).device

    @property
    def deepest(self) -> str:
        return max(self.layers, key=self.net.layer_names.index)

    def record(self, specific: dict, progress: "Progress", *, losses: dict[str, float],
               interrupted: bool, warning: str | None) -> dict:
        """The record stored with the result: what every run has, then the mode's own entries
        (where one names a common entry, as dream's `losses` do, the mode's wins)."""
        options = self.options
        return {
            "mode": self.mode,
            "version": __version__,
            "size": list(self.out_size),
            "model": options.model, "pooling": options.pooling,
            "precision": str(self.dtype or torch.float32).removeprefix("torch."),
            "seed": self.seed,
            "losses": losses,
            "seconds": round(time.perf_counter() - self.started, 3),
            "iterations_done": progress.iterations_done, "evaluations": progress.evaluations,
            "interrupted": interrupted,
            "warning": warning,
            "device": str(self.device),
            "checkpoint_until": self.checkpoint_until,
            "tile": self.memory.tile, "lbfgs_history": self.memory.history,
            "memory_estimate_mb": round((self.memory.estimate if self.memory.tile else estimate_memory(
                self.out_size, self.layers, self.net, checkpoint_until=self.checkpoint_until)) / 2**20),
            **specific,
        }


def start_run(mode: str, options: RunOptions, layers: list[str], out_size: tuple[int, int],
              seed: int | None = None) -> Run:
    """Load the network, check the layers, pick the seed (`seed`: a resumed run's), the
    precision and the memory plan. `options` were checked where they entered the API
    (options.from_keywords)."""
    set_threads(options.threads)
    net = shared_network(options.model, options.pooling, options.device, options.weights_file)
    device = next(net.buffers()).device
    seed = options.seed if options.seed is not None else (
        seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
    net.check_layers(layers)
    deepest = max(net.layer_names.index(name) for name in layers)
    minimum = min_side(options.model, options.pooling, deepest)
    # An output too small for its layers is refused by its mode, in the mode's words.
    memory = (plan_memory(out_size, layers, net, limit_mb=options.memory_limit_mb, tile=options.tile)
              if device.type == "cpu" and min(out_size) >= minimum else
              MemoryPlan(tile=options.tile))
    return Run(mode=mode, options=options, net=net, layers=list(layers), minimum=minimum, seed=seed,
               generator=torch.Generator().manual_seed(seed), dtype=pick_dtype(options.precision, device),
               memory=memory, out_size=out_size)


LINE_EVERY = 10.0  # seconds between two progress lines where no bar can be drawn


def clock(seconds: float) -> str:
    """12 s, 3:07, 1:02:03."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}:{seconds:02d}" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class Reporter:
    """How every long command shows its progress on stderr. On a terminal: a bar with the time
    left. Elsewhere (a log, CI, nohup, a pipe), where a bar is lost or garbled: a line every
    LINE_EVERY seconds and a closing summary, so that a long run never looks hung. Disabled
    (`progress=False`, the command line's --quiet): nothing.

    The position is set, never summed, and kept within [0, total]: float steps that add up to
    a hair over the total made tqdm warn and show a negative time left."""

    def __init__(self, desc: str, total: float, *, enabled: bool = True, done: float = 0,
                 counter: str = ""):
        self.desc, self.total, self.counter, self.enabled = desc, total, counter, enabled
        self.done = self.first = min(max(done, 0), total)
        self.postfix = ""
        self.terminal = enabled and sys.stderr.isatty()
        self.started = self.last_line = time.monotonic()
        self.bar = tqdm(total=total, initial=self.done, desc=desc, disable=not self.terminal, file=sys.stderr,
                        dynamic_ncols=True, leave=True,
                        bar_format="{l_bar}{bar}|" + (f" {counter}" if counter else "")
                        + " [{elapsed}<{remaining}{postfix}]")

    def update_to(self, done: float, postfix: dict[str, str] | str | None = None) -> None:
        """Move to `done` (of `total`); `postfix`: what the run is at (a dict shows as k=v, ...)."""
        self.done = min(max(done, 0), self.total)
        if postfix is not None:
            self.postfix = postfix if isinstance(postfix, str) else ", ".join(f"{k}={v}" for k, v in postfix.items())
        if self.terminal:
            self.bar.n = self.done
            self.bar.set_postfix_str(self.postfix, refresh=False)
            self.bar.update(0)  # redraws when tqdm's own interval has passed
        elif self.enabled and time.monotonic() - self.last_line >= LINE_EVERY:
            self.line()

    def note(self, text: str) -> None:
        """Show `text` now in place of the postfix (e.g. the tile within a long iteration)."""
        self.postfix = text
        if self.terminal:
            self.bar.set_postfix_str(text, refresh=True)
        elif self.enabled and time.monotonic() - self.last_line >= LINE_EVERY:
            self.line()

    def write(self, text: str) -> None:
        """A message on stderr that leaves the bar whole."""
        if self.terminal:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def line(self) -> None:
        """One progress line: how far, how long so far, how long still, what the run is at."""
        self.last_line = now = time.monotonic()
        elapsed = now - self.started
        rate = (self.done - self.first) / elapsed if elapsed > 0 else 0
        left = f"about {clock((self.total - self.done) / rate)} left" if rate > 0 else "time left unknown"
        counter = f" {self.counter.format(n=self.done, total=self.total)}" if self.counter else ""
        percent = 100 * self.done / self.total if self.total else 100
        print(f"stylesynth: {self.desc}: {percent:.0f}%{counter}, {clock(elapsed)} elapsed, {left}"
              + (f" ({self.postfix})" if self.postfix else ""), file=sys.stderr, flush=True)

    def close(self, summary: str | None = None) -> None:
        """End the bar; without a terminal, say `summary` (what was done, in how long). Not
        while an exception goes through (a `finally`): a failed run has its one error line."""
        self.bar.close()
        if self.enabled and not self.terminal and summary and sys.exc_info()[0] is None:
            print(f"stylesynth: {self.desc}: {summary}", file=sys.stderr, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Progress(Reporter):
    """The progress of a run over its scales (a Reporter), and the `Step` that `options.on_step`
    receives.

    Progress counts work, not iterations: an iteration costs in proportion to its pixels, and
    the bar counts pixels x iterations (whole numbers: the last iteration ends it exactly). The
    Step's iteration and iterations count over all scales; `scale`/`scales` say where the run
    is, `fraction` how much of its work is done."""

    def __init__(self, mode: str, plan: list[tuple[tuple[int, int], int]], options: RunOptions):
        self.plan, self.on_step = plan, options.on_step
        self.cost = [width * height for (width, height), _ in plan]  # of one iteration
        self.total_cost = sum(c * n for c, (_, n) in zip(self.cost, plan))
        self.iterations = sum(n for _, n in plan)
        self.iterations_done, self.work_done, self.evaluations = 0, 0, 0
        self.last: Step | None = None
        super().__init__(mode, self.total_cost, enabled=options.progress)

    def advance(self, index: int, iterations: int) -> None:
        """Count `iterations` of scale `index` as done (also those a resumed run skips)."""
        self.iterations_done += iterations
        self.work_done += self.cost[index] * iterations
        self.update_to(self.work_done)

    def at_scale(self, index: int) -> Callable[[Step], None]:
        """The optimization loop's on_step for scale `index` (0: the coarsest)."""
        def on_step(step: Step) -> None:
            self.iterations_done += 1
            self.work_done += self.cost[index]
            self.last = step
            self.update_to(self.work_done, {"scale": f"{index + 1}/{len(self.plan)}", **self._losses(step)})
            if self.on_step is not None:
                self.on_step(dataclasses.replace(
                    step, iteration=self.iterations_done, iterations=self.iterations, scale=index + 1,
                    scales=len(self.plan), fraction=self.work_done / self.total_cost))
        return on_step

    @staticmethod
    def _losses(step: Step) -> dict[str, str]:
        return {"loss": f"{step.loss:.4g}",
                **{k: f"{v:.4g}" for k, v in step.parts.items() if "/" not in k}}

    def on_tile(self, done: int, total: int) -> None:
        """Within an iteration evaluated tile by tile (localized.py): which tile."""
        self.note(f"tile {done}/{total}")

    def close(self) -> None:
        """End the bar; without a terminal, sum the run up: time, iterations, the last losses."""
        how = "done" if self.iterations_done >= self.iterations else "stopped"
        summary = (f"{how} in {clock(self.elapsed)}: {self.iterations_done} of {self.iterations} iterations"
                   f" over {len(self.plan)} scale{'s' if len(self.plan) > 1 else ''}")
        if self.last is not None:
            summary += ", " + ", ".join(f"{k} {v}" for k, v in self._losses(self.last).items())
        super().close(summary)
