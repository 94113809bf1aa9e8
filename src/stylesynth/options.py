"""`RunOptions`: the settings every mode shares, and the one catalogue of them.

Each field carries its help text, choices and bounds (`dataclasses.field(metadata=...)`): the
command line's options, the Python API's checks and the web studio's form are all read from
here, so that none of them can drift from the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import classic
from .errors import InputError
from .names import DEVICES, NETWORKS, OPTIMIZERS, POOLINGS, PRECISIONS
from .pyramid import PRESETS, preset_help

if TYPE_CHECKING:  # torch is loaded by the runs, not by the command line's help
    import torch

    from .optimize import Step

MAX_SIZE = 8192


def option(default: Any = None, help: str = "", *, kind: type | None = None, choices: tuple = (),
           low: float | None = None, high: float | None = None, strict: bool = False,
           label: str | None = None, flag: str | None = None, metavar: str | None = None,
           command_line: bool = True) -> Any:
    """A RunOptions field and what is known about it: `kind` (int, float, str, bool; Path: a
    file), `choices`, bounds `low`..`high` (`strict`: above `low`), the `label` errors name it
    by, the command line's `flag` (default --field-name) and `metavar`; `command_line=False`:
    the API's alone."""
    return field(default=default, metadata={
        "help": help, "kind": kind, "choices": choices, "low": low, "high": high, "strict": strict,
        "label": label, "flag": flag, "metavar": metavar, "command_line": command_line})


@dataclass
class RunOptions:
    """Settings every mode shares (the modes' own are in their signatures)."""

    size: int = option(512, "Long side of the output in pixels ('original': the input image's own).",
                       kind=int, low=1, high=MAX_SIZE)
    model: str = option("vgg16", "The network.", kind=str, choices=NETWORKS, label="network")
    # Average pooling, Gatys et al.'s choice for synthesis: gradients reach every pixel of a
    # window, and the judge's style number drops by about 0.06 at the same content (measured,
    # docs/normalization.md). Max pooling is what the network was trained with.
    pooling: str = option("avg", "avg: Gatys et al.'s smoother choice.", kind=str, choices=POOLINGS)
    device: str = option("auto", "Where the network runs (auto: CUDA, then MPS, then the CPU).",
                         kind=str, choices=DEVICES)
    threads: int | None = option(None, "CPU threads (default: all cores).", kind=int, high=1024)
    weights_file: str | None = option(None, "Network weights file (torchvision .pth) [default: the "
                                      "resolver's order, see `stylesynth weights list`].", kind=Path,
                                      flag="--weights")
    optimizer: str = option("lbfgs", "L-BFGS, Adam, or plain gradient descent.", kind=str,
                            choices=OPTIMIZERS)
    precision: str = option("auto", "The network's arithmetic: auto is bfloat16 where the hardware has "
                            "it (about twice as fast), else float32.", kind=str, choices=PRECISIONS)
    preset: str = option("fast", preset_help(), kind=str, choices=tuple(PRESETS))
    scales: int | None = option(None, "Number of coarse-to-fine scales (1: single scale) "
                                "[default: the preset's].", kind=int, high=16)
    iterations: int | str | list[int] | None = option(
        None, "Iterations at each scale, or per scale coarse to fine [default: the preset's].",
        kind=str, metavar="N|N1,N2,..")
    # Above 1e6 no optimizer takes a useful step, and L-BFGS overflows float32 (a traceback).
    lr: float | None = option(None, "Step size (default per optimizer).", kind=float, low=0, high=1e6,
                              strict=True, label="learning rate")
    seed: int | None = option(None, "Random seed (default: random, recorded).", kind=int,
                              low=-2**63, high=2**64 - 1)
    tv_weight: float = option(0.0, "Total-variation smoothness weight.", kind=float, low=0,
                              label="tv weight")
    progress: bool = option(True, "Draw a progress bar on stderr (the command line's --quiet).",
                            kind=bool, command_line=False)
    on_step: Callable[[Step], None] | None = option(None, "Called after every iteration.",
                                                    command_line=False)
    cache_targets: bool = option(True, "Keep style targets on disk: restyling skips that work.",
                                 kind=bool, flag="--cache-targets/--no-cache-targets")
    memory_limit_mb: int | None = option(
        None, "Memory budget; larger runs recompute early layers or are refused "
        "[default: min(8 GiB, 80% of RAM)].", kind=int, low=0, strict=True, label="memory limit (MB)",
        flag="--memory-limit", metavar="MB")
    tile: int | None = option(
        None, "Evaluate each iteration tile by tile, PX-pixel tiles: the same gradient in bounded memory "
        "(VGG only) [default: only where the memory plan needs it].", kind=int, low=16, high=MAX_SIZE,
        metavar="PX")
    checkpoint_path: str | None = option(None, "Where to keep the run's state (the command line: "
                                         "OUT.ckpt).", kind=Path, command_line=False)
    checkpoint_every: int = option(0, "Save the run's state to OUT.ckpt every N iterations.", kind=int,
                                   low=0, label="--checkpoint-every", metavar="N")
    resume: bool = option(False, "Continue the run saved in OUT.ckpt, if any.", kind=bool)
    # A further term of the objective (GatysObjective's `extra`): image -> (loss, parts); it may
    # be called at every scale's size (video's temporal loss, modes/video.py)
    extra_loss: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]] | None = option(
        None, "A further term of the objective: image -> (loss, parts).", command_line=False)

    def check(self) -> None:
        """Refuse, before any work, values that would fail late, overflow in C (a traceback),
        start a million threads, never finish (2**scales) or make the loss NaN."""
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise InputError(f"size must be a positive number of pixels, got {self.size}")
        if self.size > MAX_SIZE:
            raise InputError(f"size {self.size} is too large: at most {MAX_SIZE} px")
        for f in fields(self):
            if f.name != "size":
                check_value(f, getattr(self, f.name))


def check_value(f, value: Any) -> None:
    """Check one field's value against its catalogue entry (None is always allowed)."""
    meta = f.metadata
    label = meta["label"] or f.name
    if value is None:
        return
    if meta["choices"] and value not in meta["choices"]:
        raise InputError(f"unknown {label} '{value}': choose one of {', '.join(meta['choices'])}")
    low, high, strict = meta["low"], meta["high"], meta["strict"]
    if meta["kind"] is int and not strict and isinstance(value, int) and not isinstance(value, bool):
        if (high is not None and value > high) or (low is not None and value < low):
            span = f"from {low} to {high}" if low is not None and high is not None else (
                f"at most {high}" if high is not None else f">= {low}")
            raise InputError(f"{label} must be a whole number {span}, got {value}")
    elif meta["kind"] is float or strict:
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and (low is None or (value > low if strict else value >= low))):
            raise InputError(f"{label} must be a finite number {'>' if strict else '>='} {low:g}, got {value}")
        if meta["kind"] is float and high is not None and value > high:
            raise InputError(f"{label} must be at most {high:g}, got {value:g}")


def catalogue() -> dict[str, dict[str, Any]]:
    """Every RunOptions field: its default and what its metadata says (JSON-ready)."""
    return {f.name: {"default": f.default, "help": f.metadata["help"],
                     "choices": list(f.metadata["choices"]), "low": f.metadata["low"],
                     "high": f.metadata["high"]}
            for f in fields(RunOptions)}


def renamed(options: dict) -> dict:
    """`options` with `weights` (load_network's, evaluate's and batch's name) as `weights_file`."""
    options = dict(options)
    if "weights" in options and "weights_file" not in options:
        options["weights_file"] = options.pop("weights")
    return options


def from_keywords(options: dict) -> RunOptions:
    """Keyword options to checked RunOptions, refusing unknown names with the list of known ones.
    The classic preset's network, pooling, precision, TV weight and size (classic.py) replace
    options left at their defaults."""
    options = renamed(options)
    if options.get("preset") == classic.PRESET:
        options = classic.fill(options, classic.OPTIONS,
                               {name: f.default for name, f in RunOptions.__dataclass_fields__.items()})
    known = RunOptions.__dataclass_fields__
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)}: known are {', '.join(known)}")
    opts = RunOptions(**options)
    opts.check()  # before the modes resize anything to opts.size
    return opts
