"""Video without flicker (Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos").

Stylizing each frame on its own flickers: every frame lands in another local optimum. Here the
first frame is a plain `transfer`; every later one starts from the previous stylized frame
warped onto it by optical flow (flow.py), and its objective gains a temporal term,

    temporal_weight * mean over pixels and channels of  c(x) * (image(x) - warped(x))^2,

with c = 0 where the flow is not reliable (occlusions, motion boundaries, outside the frame),
so those pixels are painted afresh. The warped start is already most of the way there: one
scale and `frame_iterations` iterations suffice.

Long jobs never lose work: each finished frame is written at once into the frames folder
(OUTPUT.frames/ beside a video file, or the OUTPUT folder itself), with `video.json` saying
which run they belong to; `resume=True` continues after the last finished frame, and the
video is assembled from the frames at the end.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .. import signals
from ..engine import colors
from ..errors import InputError
from ..io.images import one_line, save_image, write_json
from ..io.outputs import input_paths, inside, refuse_overwriting
from ..io.video import VIDEO_SUFFIXES, open_source, write_video
from ..options import TransferOptions, VideoOptions
from . import flow
from .inputs import weighted_images
from .transfer import transfer

if TYPE_CHECKING:  # the engine, loaded by a run, not by the command line's help
    import torch

    from ..engine.optimize import Step

# The temporal term against the warped frame, and the iterations of every frame after the
# first (chosen with bench/video.py: options.py VideoOptions).
DEFAULT_TEMPORAL_WEIGHT = VideoOptions.temporal_weight
DEFAULT_FRAME_ITERATIONS = VideoOptions.frame_iterations
FRAME_NAME = "frame_{:06d}.png"
RECORD = "video.json"
# transfer options that mean nothing for a clip: the frame's size and shape are the clip's.
NOT_FOR_VIDEO = ("out_size", "fit", "mask", "checkpoint_path", "checkpoint_every", "extra_loss")


def temporal_loss(warped: torch.Tensor, mask: torch.Tensor, weight: float
                  ) -> Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]:
    """The temporal term for `synthesize` (RunOptions.extra_loss): weight * mean(c (x - w)^2)
    over pixels and channels, `warped` (1x3xHxW) and `mask` (1x1xHxW) resized to each scale."""
    import torch

    def term(image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        w, c = warped.to(image.device), mask.to(image.device)
        if w.shape[-2:] != image.shape[-2:]:
            w = torch.nn.functional.interpolate(w, size=image.shape[-2:], mode="bilinear",
                                                align_corners=False, antialias=True)
            c = torch.nn.functional.interpolate(c, size=image.shape[-2:], mode="area")
        value = (c * (image - w) ** 2).mean()
        return weight * value, {"temporal": value.item()}
    return term


def frames_folder(output: str | Path) -> Path:
    """Where the frames go: OUTPUT.frames/ beside a video file, or the OUTPUT folder itself."""
    out = Path(output)
    return out.with_name(out.name + ".frames") if out.suffix.lower() in VIDEO_SUFFIXES else out


def _check_output(output: str | Path) -> Path:
    out = Path(output)
    if out.suffix and out.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(one_line(f"unsupported output '{out.suffix}': a video ({', '.join(VIDEO_SUFFIXES)}) "
                                   "or a folder (a name without a suffix) for the frames"))
    if out.suffix and out.is_dir():
        raise InputError(one_line(f"output {out} is a folder: give a video file name"))
    if not out.suffix and out.exists() and not out.is_dir():
        raise InputError(one_line(f"output {out} is a file: give a folder for the frames or a video name"))
    parent = out.parent
    if not parent.is_dir():
        raise InputError(one_line(f"output folder {parent} does not exist: create it first"))
    return out


def _refuse_destroying_inputs(out: Path, folder: Path, input: Any, source, style: Any) -> None:
    """Before any work: the video, the frames folder and its record must not be (or hold) an
    input, and the folder may hold only what video itself wrote (it clears old frames)."""
    refuse_overwriting({"output": out, "its frames record": folder / RECORD},
                       input_paths(input, style, *(source.files or [])))
    for given in [Path(str(input)), *(source.files or [])]:
        if given.exists() and inside(given, folder):
            raise InputError(one_line(f"output folder {folder} holds the input ({given}): its frames would "
                                       "be replaced; write the result elsewhere"))
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if not _ours(p))
        if foreign or (any(folder.iterdir()) and not (folder / RECORD).is_file()):
            shown = ", ".join((foreign or sorted(p.name for p in folder.iterdir()))[:3])
            raise InputError(one_line(f"output folder {folder} holds files that stylesynth video did not "
                                       f"write ({shown}): give a new or empty folder"))


def _ours(path: Path) -> bool:
    """A file of the frames folder that video writes: a frame, the run's record, or the hidden
    temporary file of a save that was killed."""
    return path.is_file() and (path.name == RECORD or re.fullmatch(r"frame_\d{6}\.png", path.name) is not None
                               or re.fullmatch(r"\.stylesynth-\w+\.tmp", path.name) is not None)


def _even(size: tuple[int, int]) -> tuple[int, int]:
    """Video codecs (4:2:0) want even sides."""
    return tuple(max(2, s - s % 2) for s in size)


def video(input: Any, style: Any, output: str | Path, *,
          temporal_weight: float = VideoOptions.temporal_weight, flow_method: str = VideoOptions.flow_method,
          frame_iterations: int = VideoOptions.frame_iterations, independent: bool = VideoOptions.independent,
          max_frames: int | None = VideoOptions.max_frames, start: float = VideoOptions.start,
          end: float | None = VideoOptions.end, fps: float | None = VideoOptions.fps,
          resume: bool = VideoOptions.resume, init: Any = TransferOptions.init,
          on_frame: Callable[[int, int, Image.Image], None] | None = VideoOptions.on_frame,
          **options: Any) -> dict:
    """Stylize the clip `input` (a video file, a folder or glob of frames) after `style` into
    `output` (a video file: .mp4 .mov .mkv .webm .avi, animated .gif/.webp; or a folder).

    The first frame is `transfer(frame, style, init=init, **options)`; each later one starts
    from the previous result warped by the optical flow (`flow_method`: dis or farneback) and
    runs `frame_iterations` iterations at one scale with the temporal term weighted by
    `temporal_weight`. `independent=True` stylizes every frame like the first (it flickers: for
    comparison). Other options: those of `transfer` (ratio, layers, preserve_colors,
    style_scale, ...) and `RunOptions` (size: the long side, "original" keeps the input's;
    preset, seed, ...). `on_frame(index, count, image)` is called after each finished frame.

    Returns the run's record (also in the frames folder's video.json): frames done, seconds,
    seconds per frame after the first, whether it was interrupted (a stop signal ends it after
    the current step; the unfinished frame is dropped and `resume=True` redoes it).
    Video's own options are `VideoOptions` (options.py, with their help and bounds).
    """
    from ..engine.run import Reporter, clock  # the engine, loaded by a run, not by the help
    from ..engine.start import output_size

    for name in NOT_FOR_VIDEO:
        if name in options:
            raise InputError(f"option {name} does not apply to a video")
    own = TransferOptions.__dataclass_fields__
    TransferOptions(init=init, **{k: v for k, v in options.items() if k in own}).check()  # before any work
    VideoOptions(temporal_weight=temporal_weight, flow_method=flow_method, frame_iterations=frame_iterations,
                 independent=independent, max_frames=max_frames, start=start, end=end, fps=fps, resume=resume,
                 on_frame=on_frame).check()
    out = _check_output(output)
    folder = frames_folder(out)
    source = open_source(input, fps=fps, start=start, end=end, max_frames=max_frames)
    _refuse_destroying_inputs(out, folder, input, source, style)
    styles = weighted_images(style, "style")
    long_side = options.pop("size", 512)
    long_side = None if long_side == "original" else long_side
    size = _even(output_size(Image.new("RGB", source.size), long_side or max(source.size)))
    progress = options.pop("progress", True)
    user_step = options.pop("on_step", None)

    settings = {k: v for k, v in options.items() if k not in ("threads", "device", "memory_limit_mb")}
    run = {"input": source.identity, "selection": [source.skip, source.count], "size": size,
           "style": [hashlib.sha256(img.tobytes()).hexdigest() for img, _ in styles],
           "style_weights": [w for _, w in styles], "settings": repr(sorted(settings.items())),
           "temporal_weight": temporal_weight, "flow": flow_method, "frame_iterations": frame_iterations,
           "independent": independent, "init": init if isinstance(init, str) else "image"}
    fingerprint = hashlib.sha256(json.dumps(run, sort_keys=True, default=str).encode()).hexdigest()
    done = _prepare_folder(folder, fingerprint, resume)
    record = {"input": str(input), "output": str(out), "frames_dir": str(folder), "frames": source.count,
              "fps": str(source.fps), "size": list(size), "temporal_weight": temporal_weight,
              "flow": flow_method, "frame_iterations": frame_iterations, "independent": independent,
              "fingerprint": fingerprint, "resumed_from": done}
    write_json(folder / RECORD, {**record, "finished": done})

    bar = Reporter("video", source.count, enabled=progress, done=done, counter="{n:.1f}/{total} frames")
    seconds: list[tuple[int, float]] = []  # (frame index, seconds) of the frames done here
    interrupted = False
    warning = None
    previous_frame = previous_result = None
    try:
        for index, array in enumerate(source.frames()):
            frame = Image.fromarray(array).resize(size, Image.LANCZOS) if array.shape[1::-1] != size \
                else Image.fromarray(array)
            if index < done:  # finished before: only the last one matters, as the next start
                previous_frame = frame
                continue
            if previous_result is None and index > 0 and not independent:
                previous_result = Image.open(folder / FRAME_NAME.format(index)).convert("RGB")
            began = time.perf_counter()

            def on_step(step: Step, index=index) -> None:
                bar.update_to(index + step.fraction)
                if user_step is not None:
                    user_step(step)

            # Painted at the frame's size: the flow and the temporal term are the frames'.
            per_frame = dict(options, on_step=on_step, progress=False, out_size=size, paint_size=None)
            if index == 0 or independent:
                result = transfer(frame, styles, init=init, **per_frame)
            else:
                start_image, term = _warm_start(frame, previous_frame, previous_result, styles[0][0],
                                                flow_method, temporal_weight,
                                                options.get("preserve_colors", "none"))
                per_frame.update(scales=1, iterations=frame_iterations, extra_loss=term)
                result = transfer(frame, styles, init=start_image, **per_frame)
            info = result.info["stylesynth"]
            if info["interrupted"]:  # a stop signal mid-frame: the frame is not finished
                interrupted = True
                break
            warning = warning or info["warning"]
            save_image(result, folder / FRAME_NAME.format(index + 1),
                       {**info, "frame": index + 1, "video": str(out)})
            seconds.append((index, time.perf_counter() - began))
            bar.update_to(index + 1, {"s/frame": f"{seconds[-1][1]:.1f}"})
            write_json(folder / RECORD, {**record, "finished": index + 1})
            if on_frame is not None:
                on_frame(index, source.count, result)
            previous_frame, previous_result = frame, result
            if signals.received() is not None:
                interrupted = index + 1 < source.count
                break
    finally:
        bar.close(f"{len(seconds)} frames in {clock(bar.elapsed)}"
                  + (f", the last {seconds[-1][1]:.1f} s" if seconds else ""))
    finished = _finished(folder, source.count)
    record.update(finished=finished, interrupted=interrupted, warning=warning,
                  seconds=round(sum(s for _, s in seconds), 3),
                  frame_seconds={k + 1: round(s, 3) for k, s in seconds})
    later = [s for k, s in seconds if k > 0]  # the first frame is a full transfer
    record["seconds_per_frame"] = round(sum(later) / len(later), 3) if later else None
    if not interrupted and finished == source.count and out.suffix:
        paths = [folder / FRAME_NAME.format(k) for k in range(1, source.count + 1)]
        audio_warning = write_video(paths, out, source.fps, source)
        record["warning"] = warning or audio_warning
    write_json(folder / RECORD, record)
    return record


def _warm_start(frame: Image.Image, previous_frame: Image.Image, previous_result: Image.Image,
                painting: Image.Image, method: str, weight: float, preserve_colors: str):
    """The start of `frame`: the previous result warped onto it where the flow is reliable; where
    it is not (what the motion reveals, what comes in at the edges), the first frame's kind of
    start, the photo in the painting's colours: the warped pixels there would be smears and
    trails that a few iterations do not repaint. And the temporal term that holds the start."""
    current, before = np.asarray(frame), np.asarray(previous_frame)
    back = flow.flow(current, before, method)
    mask = flow.reliable(back, flow.flow(before, current, method))
    warped = flow.warp(np.asarray(previous_result, dtype=np.float32) / 255, back)
    fresh = np.asarray(colors.match_histogram(frame, painting) if preserve_colors == "none" else frame,
                       dtype=np.float32) / 255
    soft = flow.soften(mask)[..., None]  # no seam between the two
    start = Image.fromarray(np.clip((soft * warped + (1 - soft) * fresh) * 255, 0, 255).round().astype(np.uint8))
    target = warped
    if preserve_colors == "luminance":  # the engine works on luminance there
        start = colors.luminance_image(start)
        target = np.asarray(colors.luminance_image(Image.fromarray((warped * 255).round().astype(np.uint8))),
                            dtype=np.float32) / 255
    import torch

    target = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)).permute(2, 0, 1)[None]
    return start, temporal_loss(target, torch.from_numpy(mask)[None, None], weight)


def _finished(folder: Path, count: int) -> int:
    """How many frames from the first on are written."""
    k = 0
    while k < count and (folder / FRAME_NAME.format(k + 1)).is_file():
        k += 1
    return k


def _prepare_folder(folder: Path, fingerprint: str, resume: bool) -> int:
    """Create the frames folder; with `resume`, the number of frames already finished by this
    run; without it, clear the frames of an earlier run. Refuses another run's frames."""
    recorded = folder / RECORD
    if resume and recorded.is_file():
        try:
            previous = json.loads(recorded.read_text())
        except (OSError, ValueError):
            previous = None
        if not isinstance(previous, dict) or not isinstance(previous.get("frames", 0), int):
            raise InputError(one_line(f"{recorded} is damaged: run without --resume to start afresh"))
        if previous.get("fingerprint") != fingerprint:
            raise InputError(one_line(f"{folder} holds the frames of a different run (other input or "
                                       "options): run without --resume, or delete it"))
        return _finished(folder, previous.get("frames", 0))
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise InputError(one_line(f"cannot create the frames folder {folder}: {e.strerror or e}")) from None
    for old in folder.iterdir():  # only video's own files are there (_refuse_destroying_inputs)
        if old.name != RECORD and _ours(old):
            old.unlink()
    return 0


__all__ = ["video", "temporal_loss", "frames_folder", "DEFAULT_TEMPORAL_WEIGHT", "DEFAULT_FRAME_ITERATIONS",
           "NOT_FOR_VIDEO"]
