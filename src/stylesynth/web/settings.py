"""What `stylesynth serve` can set, and how the studio sets each of the engine's run options.

Free of Starlette: the command line reads these defaults without importing the web stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..options import MAX_SIZE
from ..pyramid import PRESETS

MIN_SIZE = 64
# The sizes the page offers (within the server's max_size, with its default): a picture at 384 or
# 512 px, a print above. Below 256 px the strokes blur: the page says so (SMALL_SIZE).
COMMON_SIZES = (256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)
SMALL_SIZE = 256
LOOPBACK = ("127.0.0.1", "localhost", "::1")
HOST_PATTERN = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?")
# The engine's presets the page offers, by iterations at the first scale (where most of the
# work is); a server may configure its own counts instead (WebSettings.presets), which then run
# as plain iterations at one scale.
PRESET_ITERATIONS = {name: counts[0] for name, counts in PRESETS.items() if name not in ("single", "classic")}

# How the studio sets each RunOptions field. "form": the page's form sends it (checked with the
# catalogue's choices and bounds, within the server's limits); "server": `stylesynth serve`'s
# options set it for every job; "studio": the studio sets it itself, and why.
RUN_OPTIONS = {
    "size": "form", "preset": "form", "iterations": "form", "seed": "form",
    "device": "server", "threads": "server", "weights_file": "server",
    "model": "studio: the engine's default network",
    "pooling": "studio: the engine's default",
    "optimizer": "studio: the engine's default",
    "precision": "studio: the engine's default (auto)",
    "scales": "studio: the preset's",
    "lr": "studio: the optimizer's default",
    "tv_weight": "studio: the engine's default",
    "progress": "studio: no bar in a server's log",
    "on_step": "studio: records progress and previews, and cancels",
    "cache_targets": "studio: on, as everywhere",
    "memory_limit_mb": "studio: the engine's budget",
    "tile": "studio: the memory plan's (tile by tile only where a size needs it)",
    "checkpoint_path": "studio: a job is short and not resumed",
    "checkpoint_every": "studio: a job is short and not resumed",
    "resume": "studio: a job is short and not resumed",
    "extra_loss": "studio: transfer's objective only",
}
# How the studio sets each TransferOptions field (the same roles).
TRANSFER_OPTIONS = {
    "ratio": "form", "content_layers": "form", "style_layers": "form", "preserve_colors": "form",
    "content_weight": "studio: the page sets the ratio",
    "style_weight": "studio: the page sets the ratio (the form's style_weight is a painting's blend weight)",
    "init": "studio: the engine's default",
    "style_scale": "studio: the engine's default",
    "paint_size": "studio: at the size asked",
    "mask": "studio: no regions",
    "out_size": "studio: the photo's own shape",
    "fit": "studio: the photo's own shape",
}


@dataclass
class WebSettings:
    """Everything `stylesynth serve` can set; the defaults suit one person on a laptop."""

    examples_dir: Path | None = None  # None: examples.default_examples_dir()
    workers: int = 1
    max_queue: int = 8  # jobs waiting (not running); more get 429
    max_upload_bytes: int = 20 * 1024 * 1024  # per request; more get 413
    max_pixels: int = 50_000_000  # per uploaded image (from its header); more get 413
    # Long side of a result, px: a 4096 px print is planned tile by tile within the default 8 GB
    # budget (about 20 min on 2 cores, bench/README.md); up to MAX_SIZE with --max-size.
    max_size: int = 4096
    default_size: int = 384
    max_iterations: int = 1000
    presets: dict[str, int] = field(default_factory=lambda: dict(PRESET_ITERATIONS))
    default_preset: str = "fast"
    result_ttl: float = 3600.0  # seconds a finished job and its result are kept
    results_dir: Path | None = None  # None: a private temporary directory, removed at exit
    device: str = "auto"
    threads: int | None = None
    weights_file: str | None = None
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides its own address (a proxy's)

    def check(self) -> None:
        if self.workers < 1:
            raise InputError("--workers must be at least 1")
        if self.max_queue < 0:
            raise InputError("--max-queue must be >= 0")
        if not MIN_SIZE <= self.max_size <= MAX_SIZE:
            raise InputError(f"--max-size must be between {MIN_SIZE} and {MAX_SIZE}")
        if self.max_upload_bytes < 1 or self.max_pixels < 1:
            raise InputError("upload limits must be positive")
        if not (self.result_ttl > 0):
            raise InputError("--keep must be a positive number of seconds")
        if self.default_preset not in self.presets:
            raise InputError(f"default preset {self.default_preset!r} is not one of the presets")
        for name in self.allowed_hosts:
            match = HOST_PATTERN.fullmatch(name.lower())
            if match is None or match[2] is not None:
                raise InputError(f"--allow-host takes a host name without a port, got {name[:80]!r}")

    def engine_presets(self) -> bool:
        """Whether the presets are the engine's (run as its coarse-to-fine schedules)."""
        return self.presets == PRESET_ITERATIONS
