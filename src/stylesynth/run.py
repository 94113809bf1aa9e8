"""What every optimizing run shares, whatever its mode: the setup (the network, its device and
precision, the seed, the memory plan), one progress bar with the `Step` every iteration reports,
and the record stored with the result."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from .memory import MemoryPlan, estimate_memory, plan_memory
from .nets import FeatureExtractor, min_side, pick_dtype, set_threads
from .optimize import Step
from .options import RunOptions
from .pretrained import shared_network
from .version import __version__


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
            plan = plan_memory(size, self.layers, self.options.model, self.options.pooling,
                               self.options.memory_limit_mb, tile, iterations)
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
                self.out_size, self.layers, options.model, options.pooling, self.checkpoint_until)) / 2**20),
            **specific,
        }


def start_run(mode: str, options: RunOptions, layers: list[str], out_size: tuple[int, int],
              seed: int | None = None) -> Run:
    """Check the options, load the network, check the layers, pick the seed (`seed`: a resumed
    run's), the precision and the memory plan."""
    options.check()
    set_threads(options.threads)
    net = shared_network(options.model, options.pooling, options.device, options.weights_file)
    device = next(net.buffers()).device
    seed = options.seed if options.seed is not None else (
        seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item()))
    net.check_layers(layers)
    deepest = max(net.layer_names.index(name) for name in layers)
    minimum = min_side(options.model, options.pooling, deepest)
    # An output too small for its layers is refused by its mode, in the mode's words.
    memory = (plan_memory(out_size, layers, options.model, options.pooling, options.memory_limit_mb, options.tile)
              if device.type == "cpu" and min(out_size) >= minimum else
              MemoryPlan(tile=options.tile))
    return Run(mode=mode, options=options, net=net, layers=list(layers), minimum=minimum, seed=seed,
               generator=torch.Generator().manual_seed(seed), dtype=pick_dtype(options.precision, device),
               memory=memory, out_size=out_size)


class Progress:
    """One progress bar over a run's scales, and the `Step` that `options.on_step` receives.

    Progress counts work, not iterations: an iteration costs in proportion to its pixels. The
    Step's iteration and iterations count over all scales; `scale`/`scales` say where the run
    is, `fraction` how much of its work is done."""

    def __init__(self, mode: str, plan: list[tuple[tuple[int, int], int]], options: RunOptions):
        self.plan, self.on_step = plan, options.on_step
        self.cost = [width * height for (width, height), _ in plan]  # of one iteration
        self.total_cost = sum(c * n for c, (_, n) in zip(self.cost, plan))
        self.iterations = sum(n for _, n in plan)
        self.iterations_done, self.work_done, self.evaluations = 0, 0, 0
        self.bar = tqdm(total=100.0, desc=mode, disable=not options.progress or None, file=sys.stderr,
                        dynamic_ncols=True, leave=True,
                        bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}{postfix}]")

    def advance(self, index: int, iterations: int) -> None:
        """Count `iterations` of scale `index` as done (also those a resumed run skips)."""
        self.iterations_done += iterations
        self.work_done += self.cost[index] * iterations
        self.bar.update(self.cost[index] * iterations / self.total_cost * 100)

    def at_scale(self, index: int) -> Callable[[Step], None]:
        """The optimization loop's on_step for scale `index` (0: the coarsest)."""
        def on_step(step: Step) -> None:
            self.advance(index, 1)
            shown = {"scale": f"{index + 1}/{len(self.plan)}", "loss": f"{step.loss:.4g}"}
            shown.update({k: f"{v:.4g}" for k, v in step.parts.items() if "/" not in k})
            self.bar.set_postfix(shown, refresh=False)
            if self.on_step is not None:
                self.on_step(dataclasses.replace(
                    step, iteration=self.iterations_done, iterations=self.iterations, scale=index + 1,
                    scales=len(self.plan), fraction=self.work_done / self.total_cost))
        return on_step

    def on_tile(self, done: int, total: int) -> None:
        """Within an iteration evaluated tile by tile (localized.py): which tile, on the bar."""
        self.bar.set_postfix_str(f"tile {done}/{total}", refresh=True)

    def close(self) -> None:
        self.bar.close()
