"""DeepDream: activation maximisation by gradient ascent (Phon-Amnuaisuk §3.2, Eq. 3).

X <- X + delta * G_h, where G_h is the gradient of the mean activation h of one layer (or of
one channel of it) with respect to the pixels, divided by its mean magnitude so that `step`
(delta) is a step in pixel units. As in Google's DeepDream the image is processed in octaves,
from the smallest scale up, carrying the detail dreamed at one scale (dreamed - base) up to
the next, and each step sees a randomly jittered (rolled) copy of the image, which keeps the
pattern from locking onto the pixel grid.

It runs on the shared engine: the run setup, progress bar and record of every mode (engine/run.py),
and every octave is one `optimize(..., optimizer="gd")` call on the negative mean activation.

"Activation" is the rectified response: a `conv*` layer's output is taken through its ReLU
(the pre-ReLU mean of a conv layer is negative on natural images, -8.9 for conv4_3 on the
bundled photo, and a ratio of those would mean nothing); `relu*` and `pool*` layers are
non-negative already. A channel objective maximises the channel's pre-ReLU mean instead, so
that a channel silent on the input (ReLU gradient zero everywhere) still gets a gradient;
what is reported is the rectified mean in both cases.
"""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from PIL import Image

from ..errors import InputError
from ..io.images import open_image, to_pil, to_tensor
from ..names import layer_names
from ..options import DreamOptions, from_keywords
from .inputs import original_size, source_names

if TYPE_CHECKING:
    import torch

    from ..engine.optimize import Step

# Options of RunOptions that mean nothing here (dream always ascends with plain gradient steps
# of size `step`, for `iterations` per octave), and why: refused, not ignored.
NOT_FOR_DREAM = {"optimizer": "dream always uses gradient ascent (Eq. 3)",
                 "lr": "use step (delta) for the step size",
                 "tv_weight": "dream has no smoothness term",
                 "preset": "dream's scales are its octaves", "scales": "use octaves",
                 "resume": "dream runs are short and are not resumed",
                 "checkpoint_every": "dream runs are short and keep no checkpoint",
                 "extra_loss": "dream's objective is the activation alone"}


def dream(image: Any, *, layer: str = DreamOptions.layer, channel: int | None = DreamOptions.channel,
          octaves: int = DreamOptions.octaves, octave_scale: float = DreamOptions.octave_scale,
          step: float = DreamOptions.step, iterations: int = DreamOptions.iterations,
          jitter: int = DreamOptions.jitter, **options: Any) -> Image.Image:
    """Amplify what `layer` (or one `channel` of it) sees in `image`, DeepDream style (Eq. 3).

    `octaves` scales, each `octave_scale` times smaller than the next, are processed from the
    smallest up, with `iterations` gradient-ascent steps of size `step` (pixels, on a 0..1
    scale, after dividing the gradient by its mean magnitude) each; every step sees the image
    rolled by up to `jitter` px in x and y (seeded). The output has the input's aspect ratio
    and long side `size` ("original": the input's). These options are `DreamOptions` (options.py,
    with their help and bounds); other options (size, model, pooling, device, seed, progress ...):
    `RunOptions`, but those in NOT_FOR_DREAM. The record in `info["stylesynth"]` holds the
    parameters and the mean activation before and after.
    """
    import torch  # the engine, loaded by a run, not by the help
    import torch.nn.functional as F

    from ..engine.optimize import optimize
    from ..engine.run import Progress, start_run
    from ..engine.start import output_size, resize

    for name, value in options.items():
        if name in NOT_FOR_DREAM and value not in (None, False, "gd"):  # False: also 0, 0.0
            raise InputError(f"dream does not take {name}: {NOT_FOR_DREAM[name]}")
    DreamOptions(layer=layer, channel=channel, octaves=octaves, octave_scale=octave_scale, step=step,
                 iterations=iterations, jitter=jitter).check()
    if image is None:
        raise InputError("no image given to dream on")
    source = open_image(image)
    opts = from_keywords(original_size({**options, "iterations": iterations, "optimizer": "gd"}, source))
    names = layer_names(opts.model)
    if not isinstance(layer, str) or layer not in names:
        raise InputError(f"unknown layer {layer!r} for {opts.model}: valid layers are {', '.join(names)}")

    out_size = output_size(source, opts.size)
    run = start_run("dream", opts, [layer], out_size)
    net = run.net

    # Octave sizes (width, height), the smallest first; all must be large enough for the layer.
    width, height = out_size
    sizes = [(max(1, round(width / octave_scale**i)), max(1, round(height / octave_scale**i)))
             for i in reversed(range(octaves))]
    if min(sizes[0]) < run.minimum:
        raise InputError(f"the smallest octave would be {sizes[0][0]}x{sizes[0][1]} px, too small "
                         f"for layer {layer} (it needs {run.minimum} px a side): use fewer --octaves, "
                         "a smaller --octave-scale or a larger --size")

    if run.memory.tile:
        # Dream's objective (a mean activation under a random shift) is not tiled: too large a
        # dream is refused rather than run out of memory.
        raise InputError(f"a {width}x{height} px dream does not fit the memory budget (it cannot be "
                         "computed tile by tile): use a smaller --size or raise --memory-limit")
    photo = resize(source, out_size).to(run.device)
    with torch.no_grad():
        features = net(photo, [layer])[layer]
    channels = features.shape[1]
    if channel is not None and not 0 <= channel < channels:
        raise InputError(f"channel {channel} is out of range for {layer}: it has {channels} "
                         f"channels (0-{channels - 1})")

    def activation(features: torch.Tensor) -> torch.Tensor:
        """The rectified mean activation that is reported (and, for a layer, maximised)."""
        if channel is not None:
            features = features[:, channel]
        return features.clamp_min(0).mean()

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        dx, dy = (torch.randint(-jitter, jitter + 1, (2,), generator=run.generator).tolist()
                  if jitter else (0, 0))
        features = net(torch.roll(x, shifts=(dy, dx), dims=(2, 3)), [layer],
                       checkpoint_until=run.checkpoint_until, dtype=run.dtype)[layer].float()
        value = activation(features)
        # A channel ascends on its pre-ReLU mean: a gradient even where it is silent.
        target = features[:, channel].mean() if channel is not None else value
        return -target, {"activation": value.item()}

    def resample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """To `size` = (width, height), bilinear (antialiased when shrinking)."""
        if tuple(x.shape[-2:]) == (size[1], size[0]):
            return x
        return F.interpolate(x, size=(size[1], size[0]), mode="bilinear", align_corners=False,
                             antialias=size[1] < x.shape[-2])

    progress = Progress("dream", [(size, iterations) for size in sizes], opts)
    detail = torch.zeros(1, 3, sizes[0][1], sizes[0][0], device=run.device)
    history: list[dict[str, float]] = []
    interrupted, warning = False, None
    octaves_done = 0
    try:
        for index, size in enumerate(sizes):
            base = resample(photo, size)
            detail = resample(detail, size)
            latest: list[torch.Tensor] = []  # the image after the octave's last step
            report = progress.at_scale(index)

            def on_step(step_: Step, latest=latest, report=report) -> None:
                latest[:] = [step_.image.clone()]
                report(step_)

            offset = progress.iterations_done
            result = optimize(base + detail, objective, iterations=iterations, optimizer="gd",
                              lr=step, on_step=on_step)
            history += [{**entry, "iteration": offset + entry["iteration"]} for entry in result.history]
            # Ascent keeps every step (DeepDream has no "best so far"): the loop's best image
            # is the last one *evaluated*, one step short of the last one taken.
            dreamed = latest[0] if latest and not result.warning else result.image
            detail = dreamed - base
            progress.evaluations += result.evaluations
            if result.iterations == iterations and not result.interrupted:
                octaves_done += 1
            if result.interrupted or result.warning:
                interrupted, warning = result.interrupted, result.warning
                break
    except KeyboardInterrupt:  # between octaves (within one, optimize handles it)
        interrupted = True
    finally:
        progress.close()
    # The detail on the full-size photo (if stopped early: the detail dreamed so far, upscaled).
    dreamed = (photo + resample(detail, out_size)).clamp(0, 1)
    output = to_pil(dreamed)
    with torch.no_grad():
        before = activation(features).item()
        after = activation(net(to_tensor(output).to(run.device), [layer])[layer]).item()

    output.info["stylesynth"] = run.record({
        "image": source_names(image),
        "optimizer": "gd",
        "layer": layer, "channel": channel, "octaves": octaves, "octave_scale": octave_scale,
        "octave_sizes": [list(size) for size in sizes],
        "step": step, "iterations": progress.iterations, "iterations_per_octave": iterations, "jitter": jitter,
        "activation_before": before, "activation_after": after,
        "activation_ratio": after / before if before > 0 else None,
        "octaves_done": octaves_done,
    }, progress, losses={"total": -after, "activation": after}, interrupted=interrupted, warning=warning)
    output.info["stylesynth_history"] = history
    return output
