"""`synthesize`: images in, image out. Every Gatys mode is a configuration of it: reconstruct =
content terms only, texture = style terms only, transfer = both (objective.py).

The run goes coarse to fine (pyramid.py): at each scale the targets are computed from the inputs
resized to that scale, and the previous scale's result, upsampled, is the start.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from PIL import Image

from .checkpoint import fingerprint, load_checkpoint, save_checkpoint
from .errors import InputError
from .imageio import to_pil
from .localized import LocalizedObjective
from .memory import MemoryPlan
from .classic import PRESET as CLASSIC
from .objective import RELATIVE, SQUARED, GatysObjective, LossWeights, Region, content_targets, style_layers_for
from .optimize import optimize
from .options import RunOptions
from .pyramid import content_factor, scale_plan
from .run import Progress, start_run
from .start import next_scale_start, output_size, resize, start_image
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

    The style images are seen with a long side of `style_side` px at the output's size (default:
    the output's long side times `style_scale`; larger: bigger brush strokes), and shrunk with
    the output at each coarser scale. With `style_masks` (one soft 1x1xHxW mask per style, at any resolution), style i
    is matched only where its mask is (guided Gram matrices).

    The returned image's `info["stylesynth"]` holds the record: every parameter, the seed,
    final losses (total, per term, per layer), seconds, iterations, and `interrupted`.
    """
    options.check()
    loss_weights = dataclasses.replace(
        loss_weights, content=loss_weights.content * content_factor(options.preset, options.iterations))
    run_id = fingerprint(mode, out_size, options, (loss_weights, content_layers, style_layers), content, style, init)
    resume = load_checkpoint(options.checkpoint_path, run_id) if options.resume else None
    run = start_run(mode, options, [*(content_layers or {}), *(style_layers or {})], out_size,
                    seed=resume["seed"] if resume else None)
    if min(out_size) < run.minimum:
        raise InputError(f"the output would be {out_size[0]}x{out_size[1]} px, too small for layer "
                         f"{run.deepest} (it needs {run.minimum} px a side): use a larger --size")
    form = SQUARED if options.preset == CLASSIC else RELATIVE  # neural-style's terms, or ours
    plan = scale_plan(out_size, run.minimum, preset=options.preset, scales=options.scales,
                      iterations=options.iterations, from_noise=isinstance(init, str) and init == "noise")

    # A texture tiles: every part of the run treats it as periodic (not the classic recipe's).
    periodic = mode == "texture" and form is RELATIVE
    finest_style_side = style_side or max(1, round(max(out_size) * style_scale))

    def objective_at(size: tuple[int, int], memory: MemoryPlan) -> GatysObjective | LocalizedObjective:
        """The objective with its targets from the inputs at this scale (tile by tile where the
        memory plan says so: the same values, bounded memory)."""
        content_t = [(resize(img, size).to(run.device), w) for img, w in content or []]
        # The style image is seen at this scale: shrunk from its finest size as the output is.
        side = max(1, round(finest_style_side * max(size) / max(out_size)))
        style_t = [(resize(img, output_size(img, side)).to(run.device), w) for img, w in style or []]
        for img, _ in style_t:
            if min(img.shape[-2:]) < run.minimum:
                raise InputError(f"the style image at this size is {img.shape[-1]}x{img.shape[-2]} "
                                 f"px, too small for layer {run.deepest}: use a larger --size")
        # Only the layers that see the painting in parts at this scale (objective.style_layers_for);
        # the classic recipe keeps its own, as neural-style does.
        layers_here = (style_layers_for(run.net, style_layers, min((img.shape[-2:] for img, _ in style_t),
                                                                   key=lambda hw: hw[0] * hw[1]))
                       if style_layers and style_t and form is RELATIVE else style_layers)
        regions, global_style = None, None
        if style_masks:  # one region per style, each with that style's targets alone
            regions = [Region(torch.nn.functional.interpolate(m.to(run.device), size=(size[1], size[0]), mode="area"),
                              cached_style_targets(run.net, [(img, 1.0)], layers_here, options.cache_targets,
                                                   memory.tile))
                       for m, (img, _) in zip(style_masks, style_t)]
        elif style_layers:
            global_style = cached_style_targets(run.net, style_t, layers_here, options.cache_targets, memory.tile)
        objective = GatysObjective(run.net, loss_weights,
                                   content_targets(run.net, content_t, content_layers, memory.tile)
                                   if content_layers else None,
                                   global_style, regions, extra=options.extra_loss,
                                   checkpoint_until=memory.checkpoint_until, dtype=run.dtype, form=form,
                                   # A texture is periodic: seamless, and no frame to copy the
                                   # painting's layout against (tile by tile it keeps the zeros).
                                   wrap=periodic and not memory.tile)
        return LocalizedObjective(objective, memory.tile, on_tile=progress.on_tile) if memory.tile else objective

    def save_state(index: int):
        return lambda loop: save_checkpoint(options.checkpoint_path, {
            "fingerprint": run_id, "seed": run.seed, "scale_index": index, "loop": loop})

    progress = Progress(mode, plan, options)
    image, previous, result = None, None, None
    try:
        for index, (size, iterations) in enumerate(plan):
            if resume and index < resume["scale_index"]:
                progress.advance(index, iterations)  # done before the run was stopped
                continue
            memory = run.memory_at(size, iterations)
            objective = objective_at(size, memory)
            if image is None:
                image = start_image(init, size, content, style, run.generator)
            else:
                # Its own generator per scale: a run resumed at a later scale draws the same noise.
                image = next_scale_start(image, size, previous, init, content, style,
                                         torch.Generator().manual_seed(run.seed + index), periodic)
            previous = size
            state = resume["loop"] if resume and index == resume["scale_index"] else None
            if state is not None:
                progress.advance(index, state["iteration"])
            result = optimize(image.to(run.device), objective, iterations=iterations,
                              optimizer=options.optimizer, lr=options.lr, on_step=progress.at_scale(index),
                              resume=state, on_checkpoint=save_state(index),
                              checkpoint_every=options.checkpoint_every if options.checkpoint_path else 0,
                              lbfgs_history=memory.history)
            image = result.image
            progress.evaluations += result.evaluations
            if result.interrupted or result.warning:
                break
    finally:
        progress.close()
    if options.checkpoint_path and not (result.interrupted or result.warning):
        Path(options.checkpoint_path).unlink(missing_ok=True)  # finished: nothing to resume

    width, height = out_size
    if image.shape[-2:] != (height, width):  # interrupted at a coarse scale: deliver the size asked
        image = torch.nn.functional.interpolate(image, size=(height, width), mode="bicubic",
                                                align_corners=False).clamp(0, 1)
    output = to_pil(image)
    output.info["stylesynth"] = run.record({
        **(record or {}),
        "optimizer": options.optimizer, "preset": options.preset,
        "schedule": [[list(size), n] for size, n in plan], "iterations": progress.iterations,
        "lr": options.lr, "init": init if isinstance(init, str) else "image",
        "content_layers": content_layers, "style_layers": style_layers,
        "content_weight": loss_weights.content, "style_weight": loss_weights.style,
        "tv_weight": loss_weights.tv,
        "content_scale": form.content_scale, "style_scale": style_scale, "style_side": finest_style_side,
        "losses_form": "squared" if form is SQUARED else "relative",
    }, progress, losses={"total": result.loss, **result.parts}, interrupted=result.interrupted,
        warning=result.warning)
    output.info["stylesynth_history"] = result.history
    return output
