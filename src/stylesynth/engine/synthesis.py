"""`synthesize`: images in, image out. Every Gatys mode is a configuration of it: reconstruct =
content terms only, texture = style terms only, transfer = both (objective.py).

The run goes coarse to fine (pyramid.py): at each scale the targets are computed from the inputs
resized to that scale, and the previous scale's result, upsampled, is the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..classic import PRESET as CLASSIC
from ..errors import InputError
from ..io.images import to_pil
from ..options import RunOptions
from ..pyramid import scale_plan
from .checkpoint import fingerprint, load_checkpoint, save_checkpoint
from .localized import LocalizedObjective
from .memory import MemoryPlan
from .objective import (RELATIVE, SQUARED, GatysObjective, LossForm, LossWeights, Region, content_targets,
                        style_layers_for)
from .optimize import Result, optimize
from .run import Progress, Run, start_run
from .start import PICTURELESS, next_scale_start, output_size, resize, start_image
from .target_cache import cached_style_targets


def synthesize(*, mode: str, out_size: tuple[int, int], options: RunOptions, loss_weights: LossWeights,
               content: list[tuple[Image.Image, float]] | None = None,
               style: list[tuple[Image.Image, float]] | None = None,
               content_layers: dict[str, float] | None = None,
               style_layers: dict[str, float] | None = None,
               init: str | Image.Image = "noise", record: dict | None = None,
               style_scale: float = 1.0, style_side: int | None = None,
               style_masks: list[torch.Tensor] | None = None) -> Image.Image:
    """Optimize an image of `out_size` against content and/or style targets; return it as PIL.

    `options` were checked where they entered the API (options.from_keywords), and
    `loss_weights` are the preset's (LossWeights.for_preset). The style images are seen with a
    long side of `style_side` px at the output's size (default: the output's long side times
    `style_scale`; larger: bigger brush strokes), and shrunk with the output at each coarser
    scale. With `style_masks` (one soft 1x1xHxW mask per style, at any resolution), style i is
    matched only where its mask is (guided Gram matrices).

    The returned image's `info["stylesynth"]` holds the record: every parameter, the seed,
    final losses (total, per term, per layer), seconds, iterations, and `interrupted`.
    """
    # 1. Set up: a stopped run's checkpoint, the network and seed, the loss form, the scales.
    resume = Resume(options, fingerprint(mode, out_size, options, (loss_weights, content_layers, style_layers),
                                         content, style, init))
    run = start_run(mode, options, [*(content_layers or {}), *(style_layers or {})], out_size, seed=resume.seed)
    if min(out_size) < run.minimum:
        raise InputError(f"the output would be {out_size[0]}x{out_size[1]} px, too small for layer "
                         f"{run.deepest} (it needs {run.minimum} px a side): use a larger --size")
    form = SQUARED if options.preset == CLASSIC else RELATIVE  # neural-style's terms, or ours
    periodic = mode == "texture" and form is RELATIVE  # a texture tiles (not the classic recipe's)
    plan = scale_plan(out_size, run.minimum, preset=options.preset, scales=options.scales,
                      iterations=options.iterations, from_noise=isinstance(init, str) and init in PICTURELESS)

    # 2. Targets: what the objective matches, taken from the inputs at each scale's size.
    targets = Targets(run, loss_weights, form, periodic, out_size, content, content_layers, style,
                      style_layers, style_masks, style_side or max(1, round(max(out_size) * style_scale)))

    progress = Progress(mode, plan, options)
    image, previous, result = None, None, None
    try:
        for index, (size, iterations) in enumerate(plan):  # coarse to fine
            if resume.done(index):
                progress.advance(index, iterations)  # done before the run was stopped
                continue
            # 3. Objective: this scale's targets, tile by tile where the memory plan says so.
            memory = run.memory_at(size, iterations)
            objective = targets.objective_at(size, memory, on_tile=progress.on_tile)
            # 4. Start: the start image at the coarsest scale, then the previous result upsampled
            # (its own generator per scale: a run resumed at a later scale draws the same noise).
            image = (start_image(init, size, content, style, run.generator) if image is None else
                     next_scale_start(image, size, previous, init, content, style,
                                      torch.Generator().manual_seed(run.seed + index), periodic))
            previous = size
            # 5. Optimize, from where a stopped run was at this scale.
            result = optimize(image.to(run.device), objective, iterations=iterations,
                              optimizer=options.optimizer, lr=options.lr, on_step=progress.at_scale(index),
                              resume=resume.loop_at(index, progress), on_checkpoint=resume.saver(run.seed, index),
                              checkpoint_every=resume.every, lbfgs_history=memory.history)
            image = result.image
            progress.evaluations += result.evaluations
            if result.interrupted or result.warning:
                break
    finally:
        progress.close()
    resume.finish(result)

    # 6. Record: the image at the size asked, with every parameter and the final losses.
    return delivered(image, out_size, result, run.record({
        **(record or {}),
        "optimizer": options.optimizer, "preset": options.preset,
        "schedule": [[list(size), n] for size, n in plan], "iterations": progress.iterations,
        "lr": options.lr, "init": init if isinstance(init, str) else "image",
        "content_layers": content_layers, "style_layers": style_layers,
        "content_weight": loss_weights.content, "style_weight": loss_weights.style,
        "tv_weight": loss_weights.tv,
        "content_scale": form.content_scale, "style_scale": style_scale, "style_side": targets.style_side,
        "losses_form": "squared" if form is SQUARED else "relative",
    }, progress, losses={"total": result.loss, **result.parts}, interrupted=result.interrupted,
        warning=result.warning))


@dataclass
class Targets:
    """The inputs the objective matches and how: each scale's objective (`objective_at`) holds
    their targets at that scale's size."""

    run: Run
    loss_weights: LossWeights
    form: LossForm
    periodic: bool  # a texture: seamless, and no frame to copy the painting's layout against
    out_size: tuple[int, int]
    content: list[tuple[Image.Image, float]] | None
    content_layers: dict[str, float] | None
    style: list[tuple[Image.Image, float]] | None
    style_layers: dict[str, float] | None
    style_masks: list[torch.Tensor] | None  # one region per style, each with its own targets
    style_side: int  # the style images' long side at the finest scale

    def objective_at(self, size: tuple[int, int], memory: MemoryPlan,
                     on_tile=None) -> GatysObjective | LocalizedObjective:
        """The objective with its targets from the inputs at this scale (tile by tile where the
        memory plan says so: the same values, bounded memory)."""
        run, options = self.run, self.run.options
        content = [(resize(img, size).to(run.device), w) for img, w in self.content or []]
        # The style image is seen at this scale: shrunk from its finest size as the output is.
        side = max(1, round(self.style_side * max(size) / max(self.out_size)))
        style = [(resize(img, output_size(img, side)).to(run.device), w) for img, w in self.style or []]
        for img, _ in style:
            if min(img.shape[-2:]) < run.minimum:
                raise InputError(f"the style image at this size is {img.shape[-1]}x{img.shape[-2]} "
                                 f"px, too small for layer {run.deepest}: use a larger --size")
        # Only the layers that see the painting in parts at this scale (objective.style_layers_for);
        # the classic recipe keeps its own, as neural-style does.
        layers = (style_layers_for(run.net, self.style_layers, min((img.shape[-2:] for img, _ in style),
                                                                   key=lambda hw: hw[0] * hw[1]),
                                   photo=bool(self.content))
                  if self.style_layers and style and self.form is RELATIVE else self.style_layers)
        regions, global_style = None, None
        if self.style_masks:
            regions = [Region(torch.nn.functional.interpolate(m.to(run.device), size=(size[1], size[0]), mode="area"),
                              cached_style_targets(run.net, [(img, 1.0)], layers, options.cache_targets,
                                                   memory.tile))
                       for m, (img, _) in zip(self.style_masks, style)]
        elif self.style_layers:
            global_style = cached_style_targets(run.net, style, layers, options.cache_targets, memory.tile)
        objective = GatysObjective(run.net, self.loss_weights,
                                   content_targets(run.net, content, self.content_layers, memory.tile)
                                   if self.content_layers else None,
                                   global_style, regions, extra=options.extra_loss,
                                   checkpoint_until=memory.checkpoint_until, dtype=run.dtype, form=self.form,
                                   # Tile by tile a periodic image keeps the zeros.
                                   wrap=self.periodic and not memory.tile)
        return LocalizedObjective(objective, memory.tile, on_tile=on_tile) if memory.tile else objective


class Resume:
    """A run's state on disk (checkpoint.py): where a stopped run goes on (`options.resume`), and
    how the run saves its state (`options.checkpoint_path`, every `options.checkpoint_every`
    iterations)."""

    def __init__(self, options: RunOptions, run_id: str):
        self.path, self.run_id = options.checkpoint_path, run_id
        self.every = options.checkpoint_every if options.checkpoint_path else 0
        self.saved = load_checkpoint(options.checkpoint_path, run_id) if options.resume else None
        self.seed = self.saved["seed"] if self.saved else None  # the stopped run's

    def done(self, index: int) -> bool:
        """Scale `index` was finished before the run was stopped."""
        return self.saved is not None and index < self.saved["scale_index"]

    def loop_at(self, index: int, progress: Progress) -> dict | None:
        """The optimization loop's state where the run was stopped, if at scale `index` (its
        iterations counted as done), else None."""
        if self.saved is None or index != self.saved["scale_index"]:
            return None
        progress.advance(index, self.saved["loop"]["iteration"])
        return self.saved["loop"]

    def saver(self, seed: int, index: int):
        """optimize's on_checkpoint at scale `index`."""
        return lambda loop: save_checkpoint(self.path, {
            "fingerprint": self.run_id, "seed": seed, "scale_index": index, "loop": loop})

    def finish(self, result: Result) -> None:
        """A finished run leaves nothing to resume: its checkpoint is deleted."""
        if self.path and not (result.interrupted or result.warning):
            Path(self.path).unlink(missing_ok=True)


def delivered(image: torch.Tensor, out_size: tuple[int, int], result: Result, record: dict) -> Image.Image:
    """The result as PIL at `out_size` (a run interrupted at a coarse scale is upsampled), with
    its record and loss history in `info`."""
    width, height = out_size
    if image.shape[-2:] != (height, width):
        image = torch.nn.functional.interpolate(image, size=(height, width), mode="bicubic",
                                                align_corners=False).clamp(0, 1)
    output = to_pil(image)
    output.info["stylesynth"] = record
    output.info["stylesynth_history"] = result.history
    return output
