"""Command-line shell: parses options, calls the library, reports errors in one line.

Options are not declared here: the synthesis options and every mode's own (transfer's, which
video and batch take too; reconstruct's, texture's, dream's, video's and figure's) are made from
the catalogue (options.py: `RunOptions`, `TransferOptions`, `MODE_OPTIONS`: default, help,
choices, bounds), so the CLI, the API, batch's manifests and the web studio cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import loaded_for_the_command_line, signals
from .errors import InputError, StylesynthError
from .io.images import check_output_path, save_image, write_json
from .io.outputs import input_paths, refuse_overwriting
from .modes import reconstruct, texture, transfer
from .modes.dream import NOT_FOR_DREAM
from .modes.figures import FIGURES, figure
from .modes.video import NOT_FOR_VIDEO, video
from .names import NETWORKS
from .nets import weights
from .options import (BATCH_WIDE, FIELDS, JOB_OPTIONS, DreamOptions, FigureOptions, ReconstructOptions, RunOptions,
                      TextureOptions, TransferOptions, VideoOptions)
from .pyramid import preset_help
from .version import __version__
from .web.settings import WebSettings

if TYPE_CHECKING:
    from .engine.optimize import Step


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="stylesynth")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Synthesize images from the representations of a deep convolutional network."""


class _Size(click.ParamType):
    """A positive pixel count, or 'original'."""

    name = "PX|original"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "original":
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"'{value}' is not a size: give a number of pixels or 'original'", param, ctx)


SIZE = _Size()


def catalogue_option(name: str, options: type | None = None, **changes):
    """The click option of catalogue field `name` of `options` (a catalogue class; None: RunOptions
    or TransferOptions, options.FIELDS), from its entry; `changes` (a command's own help) go over it."""
    entry = FIELDS[name] if options is None else options.__dataclass_fields__[name]
    meta = entry.metadata
    settings = {"default": entry.default, "help": meta["help"], "metavar": meta["metavar"]}
    if meta["kind"] is bool and "/" not in (meta["flag"] or ""):
        settings["is_flag"] = True
    elif meta["choices"] and "/" in (meta["flag"] or ""):  # --crop/--pad: the first choice or the second
        first, second = meta["choices"]
        settings.update(default=settings["default"] == first,
                        callback=lambda ctx, param, value: first if value else second)
    elif meta["choices"]:
        settings["type"] = click.Choice(meta["choices"])
    elif name == "size":
        settings["type"] = SIZE
    elif meta["kind"] in (int, float):
        settings["type"] = meta["kind"]
    elif meta["kind"] is tuple:  # numbers separated by commas (the command reads them: _numbers)
        settings["default"] = ",".join(f"{v:g}" for v in settings["default"])
    elif meta["kind"] is Path:
        settings["type"] = click.Path(dir_okay=False)
    settings.update(changes)
    settings["show_default"] = settings["default"] not in (None, False)
    return click.option(meta["flag"] or f"--{name.replace('_', '-')}", name, **settings)


def catalogue_options(options=RunOptions, leave_out=(), changes: dict | None = None, only=None) -> list:
    """The click options of every field of `options` (a catalogue class) the command line sets,
    but `leave_out` (or `only` those); `changes`: field name -> what goes over its catalogue entry."""
    return [catalogue_option(f.name, options, **(changes or {}).get(f.name, {})) for f in dataclasses.fields(options)
            if f.metadata["command_line"] and f.name not in leave_out and (only is None or f.name in only)]


# What the command line adds to a run: where its result goes and how it is reported.
OUTPUT_OPTIONS = {
    "output": click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                           help="Output image (.png, .jpg, .webp); parameters are stored with it."),
    "quiet": click.option("--quiet", is_flag=True, help="No progress bar, nor a word about downloads."),
    "snapshot_every": click.option("--snapshot-every", type=int, default=0, metavar="N",
                                   help="Write OUT.iterNNNN.png every N iterations (counted over all scales)."),
    "as_json": click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout."),
    "loss_plot": click.option("--loss-plot", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                              help="Write the loss curves as a PNG."),
}


def _apply(options: list, command):
    for option in reversed(options):
        command = option(command)
    return command


def _apply_catalogue(options, **kwargs):
    """A decorator adding `catalogue_options(options, **kwargs)`."""
    return lambda command: _apply(catalogue_options(options, **kwargs), command)


def run_options(command, from_noise: bool = False):
    """The options of the Gatys modes: every RunOptions field, and the output options.
    `from_noise`: the mode starts from white noise, so its presets run the noise schedules."""
    changes = {"preset": {"help": preset_help(from_noise=True)}} if from_noise else None
    return _apply([*OUTPUT_OPTIONS.values(), *catalogue_options(changes=changes)], command)


def noise_run_options(command):
    """run_options of the modes that start from white noise (texture, reconstruct)."""
    return run_options(command, from_noise=True)


def _weighted(spec: str) -> tuple[str, float] | str:
    """`painting.jpg:0.7` -> ("painting.jpg", 0.7); a path without a weight stays as it is."""
    path, sep, weight = spec.rpartition(":")
    if sep and path:
        try:
            return path, float(weight)
        except ValueError:
            pass
    return spec


def _run(mode_function, sources: dict, output: str, quiet: bool, snapshot_every: int,
         loss_plot: str | None, as_json: bool, **options) -> None:
    """Shared tail of every synthesis command: check, run, save, report."""
    out = check_output_path(output)  # fail before the work, not after it
    if loss_plot:
        check_output_path(loss_plot)
    checkpoint = str(out) + ".ckpt"
    refuse_overwriting({"output": out, "--loss-plot": loss_plot,
                        "checkpoint": checkpoint if options.get("checkpoint_every") else None},
                       input_paths(*sources.values(), options.get("init"), options.get("mask"),
                                   options.get("weights_file")))
    if options.get("checkpoint_every") and Path(checkpoint).is_dir():
        raise InputError(f"cannot write checkpoint {checkpoint}: it is a directory")
    if snapshot_every < 0:
        raise InputError("--snapshot-every must be >= 0")

    def snapshot(step: Step) -> None:
        if snapshot_every and step.iteration % snapshot_every == 0:
            from .io.images import to_pil

            save_image(to_pil(step.image), out.with_name(f"{out.stem}.iter{step.iteration:04d}{out.suffix}"),
                       {"snapshot_of": str(out), "iteration": step.iteration})

    with signals.stop_after_step(), weights.quiet(quiet):
        image = mode_function(**sources, **options, progress=not quiet,
                              on_step=snapshot if snapshot_every else None,
                              checkpoint_path=checkpoint)
        record = image.info["stylesynth"]
        save_image(image, out, record)
        if loss_plot:
            from .io.plot import loss_plot as plot

            plot(image.info["stylesynth_history"], loss_plot)
        stopped = signals.received()
    if as_json:
        click.echo(json.dumps({"output": str(out), "seconds": record["seconds"],
                               "iterations": record["iterations_done"],
                               "evaluations": record["evaluations"], "losses": record["losses"],
                               "seed": record["seed"], "interrupted": record["interrupted"]}))
    elif quiet:
        pass
    else:
        click.echo(str(out))
    if record["warning"]:
        click.echo(f"stylesynth: warning: {record['warning']}", err=True)
    _exit_if_stopped(stopped, record["interrupted"], f"the best image so far (iteration "
                     f"{record['iterations_done']} of {record['iterations']}) to {out}")


def _exit_if_stopped(stopped: int | None, interrupted: bool, saved: str) -> None:
    """After a stop signal (or a KeyboardInterrupt): say what was saved, exit 128 + the signal."""
    if stopped or interrupted:
        signum = stopped or signal.SIGINT
        click.echo(f"stylesynth: interrupted ({signal.Signals(signum).name}): saved {saved}", err=True)
        sys.exit(128 + signum)


@cli.command("reconstruct")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE[:WEIGHT]...")
@_apply_catalogue(ReconstructOptions)
@noise_run_options
def reconstruct_command(images, **options):
    """Reconstruct IMAGE from one layer's activations, starting from white noise (Gatys Fig. 1).

    Several images with weights blend their activations (weighted inversion)."""
    sources = [_weighted(s) for s in images]
    _run(reconstruct, {"image": sources if len(sources) > 1 else sources[0]}, **options)


@cli.command("texture")
@click.argument("styles", nargs=-1, required=True, metavar="STYLE[:WEIGHT]...")
@_apply_catalogue(TextureOptions)
@noise_run_options
def texture_command(styles, **options):
    """Synthesize a texture from the Gram matrices of STYLE (Gatys Fig. 1, style rows)."""
    sources = [_weighted(s) for s in styles]
    _run(texture, {"style": sources if len(sources) > 1 else sources[0]}, **options)


@cli.command("transfer")
@click.argument("content")
@click.argument("style", required=False)
@click.option("--style", "extra_styles", multiple=True, metavar="STYLE[:WEIGHT]",
              help="A style image, repeatable, with an optional weight: --style a.jpg:0.7 --style b.jpg:0.3.")
@_apply_catalogue(TransferOptions)
@run_options
def transfer_command(content, style, extra_styles, **options):
    """Render CONTENT in the style of STYLE (Gatys et al., Eq. 7)."""
    styles = ([style] if style else []) + list(extra_styles)
    if not styles:
        raise InputError("no style image: give STYLE or --style FILE")
    sources = [_weighted(s) for s in styles]
    _run(transfer, {"content": content, "style": sources if len(sources) > 1 else sources[0]}, **options)


@cli.command("video")
@click.argument("input_", metavar="INPUT")
@click.argument("style")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="A video (.mp4 .mov .mkv .webm .avi; animated .gif .webp), or a folder for the frames. "
              "Frames are written as they finish, into OUTPUT.frames/ beside a video.")
@_apply_catalogue(VideoOptions)
@_apply_catalogue(TransferOptions, leave_out={*NOT_FOR_VIDEO, "paint_size"})  # painted at the frame's size
@_apply_catalogue(RunOptions, leave_out={"tile", "checkpoint_every", "resume"})
@OUTPUT_OPTIONS["quiet"]
@OUTPUT_OPTIONS["as_json"]
def video_command(input_, style, output, quiet, as_json, **options):
    """Stylize a clip INPUT (a video, or a folder or glob of frames) after STYLE, without flicker.

    Each frame after the first starts from the previous result warped by optical flow, with a
    temporal loss where the flow is reliable (Ruder, Dosovitskiy & Brox 2016). The video keeps
    the input's frame rate and audio. Ctrl-C (or SIGTERM) stops after the current step,
    keeping the finished frames: --resume continues."""
    with signals.stop_after_step(), weights.quiet(quiet):
        record = video(input_, style, output, progress=not quiet, **options)
        stopped = signals.received()
    if as_json:
        click.echo(json.dumps(record))
    elif not quiet:
        click.echo(output)
    if record["warning"]:
        click.echo(f"stylesynth: warning: {record['warning']}", err=True)
    _exit_if_stopped(stopped if record["interrupted"] else None, record["interrupted"],
                     f"{record['finished']} of {record['frames']} frames to {record['frames_dir']} "
                     "(--resume continues)")


class _RayAddress(click.ParamType):
    """--ray alone: a local Ray instance; --ray ADDRESS: a cluster's head (HOST:PORT, ray://.., auto)."""

    name = "ADDRESS"

    def convert(self, value, param, ctx):
        if value in ("local", "auto") or value.startswith("ray://") or ":" in value:
            return value
        # --ray takes an optional value, so `--ray photos/` would read a photo as the address.
        self.fail(f"'{value}' is not a Ray address (HOST:PORT, ray://HOST:PORT or auto): put --ray after "
                  "the photos, or write --ray=ADDRESS", param, ctx)


@cli.command("batch")
@click.argument("contents", nargs=-1, metavar="[CONTENT]...")
@click.option("--style", "styles", multiple=True, metavar="STYLE",
              help="A painting, repeatable (or a folder or glob of them): every photo is painted in each.")
@click.option("-o", "--output", "--output-dir", "output_dir", required=True, type=click.Path(file_okay=False),
              metavar="DIR",
              help="Folder for the results ({content}--{style}.png) and batch.jsonl, the log of what was done.")
@click.option("--manifest", type=click.Path(dir_okay=False), default=None,
              help="Jobs from a CSV file with a header, or JSON lines: content, style, output and options "
              "(size, preset, ratio, seed, ...) per row; paths relative to the manifest.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Local processes running jobs at once, the cores split between them.")
@click.option("--ray", "ray_address", type=_RayAddress(), is_flag=False, flag_value="local", default=None,
              help="Run every job as a Ray task: --ray alone on a local instance, --ray ADDRESS on a "
              "cluster (needs pip install 'stylesynth[cluster]').")
@click.option("--gpus-per-job", type=float, default=None,
              help="Ray: GPUs each job asks for [default: 1 with --device cuda, else 0].")
@click.option("--max-retries", type=int, default=3, show_default=True,
              help="Ray: how often a job whose worker died is run again.")
@click.option("--evaluate", "judge", is_flag=True, help="Score every result with the judge (see evaluate).")
@_apply_catalogue(TransferOptions, only=JOB_OPTIONS)
@_apply_catalogue(RunOptions, only=JOB_OPTIONS + BATCH_WIDE)
@OUTPUT_OPTIONS["quiet"]
@OUTPUT_OPTIONS["as_json"]
def batch_command(contents, styles, output_dir, manifest, jobs, ray_address, gpus_per_job, max_retries, judge,
                  quiet, as_json, weights_file, device, threads, memory_limit_mb, **options):
    """Paint every photo CONTENT (files, folders, globs) in the style of every --style, or run a --manifest.

    Results go to the -o folder as {content}--{style}.png with their records; a rerun skips the
    jobs already done. Ctrl-C stops the running jobs and keeps the finished results."""
    from .batch import batch

    ctx = click.get_current_context()
    given = {name: value for name, value in options.items()  # only what was typed: defaults
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}  # are the engine's

    def show(line: dict) -> None:
        if as_json:
            click.echo(json.dumps(line, sort_keys=True, default=str))
        elif line["status"] == "done" and not quiet:
            click.echo(line["output"])

    with signals.stop_after_step(), weights.quiet(quiet):
        lines = batch(contents, styles, output_dir, manifest=manifest, jobs=jobs, ray=ray_address,
                      threads=threads, device=device, weights=weights_file, memory_limit_mb=memory_limit_mb,
                      evaluate=judge, gpus_per_job=gpus_per_job, max_retries=max_retries,
                      progress=not quiet, on_result=show, **given)
        stopped = signals.received()
    counts = {status: sum(line["status"] == status for line in lines)
              for status in ("done", "skipped", "failed", "cancelled")}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    if not quiet:
        click.echo(f"stylesynth: batch: {summary} (log: {Path(output_dir) / 'batch.jsonl'})", err=True)
    _exit_if_stopped(stopped if counts["cancelled"] else None, bool(counts["cancelled"]),
                     f"{counts['done'] + counts['skipped']} of {len(lines)} results in {output_dir} "
                     "(the same command continues)")
    if counts["failed"]:
        raise StylesynthError(f"{counts['failed']} of {len(lines)} jobs failed (see {Path(output_dir) / 'batch.jsonl'})")


@cli.command("layers")
@catalogue_option("model")
@catalogue_option("weights_file", help="Also check that this weights file (or STYLESYNTH_WEIGHTS_<NET>'s) "
                  "fits the network: this loads it.")
def layers_command(model, weights_file):
    """Print a network's layers with their output shapes at 224 px (no weights needed)."""
    from .names import layer_table

    if weights_file or os.environ.get(weights.env_var(model)):
        weights.load_state_dict(model, weights_file)  # refuses a file of another network, in one line
    for name, shape in layer_table(model):
        click.echo(f"{name:10s} {'x'.join(str(s) for s in shape)}")


@cli.group("weights")
def weights_group():
    """Pretrained network weights: where they come from, and the cache."""


@weights_group.command("list")
def weights_list():
    """Show each network, where its weights are or would come from, and whether cached."""
    for arch in NETWORKS:
        sources = weights.sources(arch)
        cached = any(s.name == "cache" and s.available for s in sources)
        click.echo(f"{arch}: {'cached' if cached else 'not cached'}")
        click.echo(f"    licence: {weights.LICENCES[arch]}")
        for n, source in enumerate(sources, 1):
            mark = "*" if source.available else " "
            click.echo(f"  {mark} {n}. {source.name:12s} {source.detail}")


@weights_group.command("fetch")
@click.argument("name", type=click.Choice(NETWORKS))
@click.option("--quiet", is_flag=True, help="Say nothing about the download (the path is still printed).")
def weights_fetch(name, quiet):
    """Fill the cache with NAME's weights (downloading and converting if needed)."""
    with weights.quiet(quiet):
        click.echo(str(weights.fetch(name)))


def _dream_options(command):
    """The image, dream's own options (DreamOptions), and the run options that mean something
    to gradient ascent. --checkpoint-every and --resume stay, as they always were, and are
    refused with the reason (modes/dream.py NOT_FOR_DREAM)."""
    kept = {"checkpoint_every", "resume"}
    return _apply([
        click.argument("image"),
        OUTPUT_OPTIONS["output"],
        *catalogue_options(DreamOptions),
        *catalogue_options(leave_out={*NOT_FOR_DREAM, "iterations", "cache_targets"} - kept),
        *(option for name, option in OUTPUT_OPTIONS.items() if name not in ("output", "loss_plot")),
    ], command)


@cli.command("dream")
@_dream_options
def dream_command(image, **options):
    """Amplify what a layer (or one --channel) sees in IMAGE, DeepDream style (Eq. 3).

    Gradient ascent on the layer's mean activation, X <- X + δ·G, over octaves from the
    smallest scale up, with random jitter and the gradient divided by its mean magnitude."""
    from .modes import dream

    _run(dream, {"image": image}, loss_plot=None, **options)


def _numbers(spec: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in spec.split(","))
    except ValueError:
        raise InputError(f"bad {what} '{spec}': write numbers separated by commas, e.g. 1e-4,1e-3") from None


@cli.command("figure")
@click.argument("name", type=click.Choice(FIGURES))
@click.option("--content", required=True, help="The photo (content image).")
@click.option("--style", required=True, help="The painting (style image).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The sheet (.png); its panels' parameters and losses go to the same name .json.")
@catalogue_option("size", FigureOptions, type=int)  # no 'original': the panels share one size
@catalogue_option("preset", FigureOptions)
@catalogue_option("scales")
@catalogue_option("iterations")
@_apply_catalogue(FigureOptions, leave_out={"size", "preset"})
@catalogue_option("model")
@catalogue_option("pooling")
@catalogue_option("device")
@catalogue_option("precision")
@catalogue_option("threads")
@catalogue_option("weights_file")
@OUTPUT_OPTIONS["quiet"]
def figure_command(name, content, style, output, ratios, alphas, quiet, **options):
    """Render one of the papers' experiments as a labelled contact sheet (PNG) plus JSON.

    \b
    layers   Gatys Fig. 1: content from relu1_1..relu5_1, style from growing layer sets
    grid     Gatys Fig. 3: style layer sets (rows) by alpha/beta (columns)
    ratios   Huang & Fuh sec. 8: the alpha sweep (alpha weighs the style there)
    seeds    white noise with different seeds vs the content start
    init     palette / content / noise / style start
    pooling  max vs average pooling
    models   VGG16, VGG19 and AlexNet (those whose weights are available)
    """
    out = check_output_path(output)
    if out.suffix.lower() != ".png":
        raise InputError(f"a figure sheet is a PNG: name the output {out.with_suffix('.png').name}")
    record_path = out.with_suffix(".json")
    check_output_path(record_path.with_suffix(".png"))  # same directory: writable
    refuse_overwriting({"output": out, "its record": record_path},
                       input_paths(content, style, options.get("weights_file")))
    with signals.stop_after_step(), weights.quiet(quiet):
        sheet = figure(name, content, style, ratios=_numbers(ratios, "--ratios"),
                       alphas=_numbers(alphas, "--alphas"), progress=not quiet, **options)
        record = sheet.info["stylesynth"]
        save_image(sheet, out, record)
        write_json(record_path, record)
        stopped = signals.received()
    click.echo(str(out))
    done = sum(1 for p in record["panels"] if p.get("done"))
    _exit_if_stopped(stopped, record["interrupted"], f"the {done} panels done to {out}")


@cli.command("evaluate")
@click.argument("images", nargs=-1, required=True, metavar="CONTENT [STYLE] RESULT...")
@click.option("--style", "styles", multiple=True, metavar="STYLE",
              help="A painting to score against, repeatable (a blend's paintings, each on its own); "
              "then every argument after CONTENT is a result.")
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False), default=None,
              help="AlexNet weights file with the LPIPS layers [default: the cache's].")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
def evaluate_command(images, styles, weights_file, as_json):
    """Score each RESULT against the photo CONTENT and the painting STYLE with the neutral judge.

    content: LPIPS-AlexNet to the photo (0: the photo); style: relative Gram distance over AlexNet
    relu1..relu5 to the painting (0: the painting). Lower is better for both. With --style (once
    or more), each result gets a style number for each painting."""
    from .evaluate import evaluate

    content, *rest = images
    paintings, results = (list(styles), rest) if styles else (rest[:1], rest[1:])
    if not results:
        raise InputError("name at least one result to evaluate: CONTENT STYLE RESULT... or "
                         "CONTENT RESULT... --style STYLE")
    scores = [evaluate(content, painting, *results, weights=weights_file) for painting in paintings]
    rows = [(r, by_result[0].content, [s.style for s in by_result]) for r, *by_result in zip(results, *scores)]
    if as_json:
        click.echo(json.dumps([{"result": r, "content": c, "style": s[0]} if not styles else
                               {"result": r, "content": c, "styles": dict(zip(paintings, s))}
                               for r, c, s in rows]))
        return
    width = max(len(r) for r in results)
    for r, c, s in rows:
        click.echo(f"{r:<{width}}  content {c:.3f}" + "".join(
            f"  style {value:.3f}" + (f" ({painting})" if styles else "") for painting, value in zip(paintings, s)))


WEB_DEFAULTS = {f.name: f.default for f in dataclasses.fields(WebSettings)
                if f.default is not dataclasses.MISSING}


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (the studio has no login: keep it local).")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--workers", type=int, default=WEB_DEFAULTS["workers"], show_default=True,
              help="Jobs that run at the same time.")
@click.option("--max-queue", type=int, default=WEB_DEFAULTS["max_queue"], show_default=True,
              help="Jobs that may wait; more are refused (HTTP 429).")
@click.option("--examples", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of example images offered by name [default: the repository's examples/].")
@click.option("--keep", type=float, default=WEB_DEFAULTS["result_ttl"], show_default=True, metavar="SECONDS",
              help="How long a finished job and its result are kept.")
@click.option("--max-upload-mb", type=float, default=WEB_DEFAULTS["max_upload_bytes"] / 2**20,
              show_default=True, help="Largest upload per job (HTTP 413 beyond).")
@click.option("--max-pixels", type=int, default=WEB_DEFAULTS["max_pixels"], show_default=True,
              help="Largest uploaded image in pixels (HTTP 413 beyond).")
@click.option("--max-size", type=int, default=WEB_DEFAULTS["max_size"], show_default=True,
              help="Largest result (long side, px).")
@catalogue_option("device")
@catalogue_option("threads")
@catalogue_option("weights_file")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (a reverse proxy's); repeatable. The "
              "studio answers only its own address, localhost, 127.0.0.1 and [::1] otherwise.")
def serve_command(host, port, workers, max_queue, examples, keep, max_upload_mb, max_pixels, max_size,
                  device, threads, weights_file, allowed_hosts):
    """Run the web studio: a local page to paint photos in the style of paintings, with live progress."""
    from .web.server import serve
    from .web.settings import LOOPBACK

    settings = WebSettings(examples_dir=Path(examples) if examples else None, workers=workers,
                           max_queue=max_queue, max_upload_bytes=int(max_upload_mb * 2**20),
                           max_pixels=max_pixels, max_size=max_size, result_ttl=keep, device=device,
                           threads=threads, weights_file=weights_file, allowed_hosts=allowed_hosts)
    settings.check()
    if host not in LOOPBACK:
        click.echo(f"stylesynth: warning: listening on {host}: anyone who can reach this address can "
                   "use the studio (there is no login)", err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"stylesynth studio: http://{shown}:{port}/  (Ctrl-C to stop)", err=True)
    serve(settings, host=host, port=port)


from .compose.commands import commands as _compose_commands  # noqa: E402

for _command in _compose_commands:
    cli.add_command(_command)


# Commands that answer without the engine (names.py): torch is not loaded for them.
STATIC_COMMANDS = {"layers", "weights", "serve"}


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the click group, turning library errors into one stderr line."""
    args = sys.argv[1:] if argv is None else argv
    # --debug is the group's option: only before the command (`--init --debug` is a value).
    command_at = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
    debug = "--debug" in args[:command_at]
    if command_at < len(args) and args[command_at] not in STATIC_COMMANDS and not {"-h", "--help"} & set(args):
        import torch  # noqa: F401  loaded while Ctrl-C still stops at once (stylesynth/__init__.py)
    loaded_for_the_command_line()
    try:
        cli.main(args=args, prog_name="stylesynth", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("stylesynth: interrupted", err=True)
        sys.exit(128 + signal.SIGINT)
    except click.ClickException as e:
        click.echo(f"stylesynth: error: {' '.join(e.format_message().split())}", err=True)
        sys.exit(e.exit_code)
    except StylesynthError as e:
        if debug:
            raise
        click.echo(f"stylesynth: error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt as e:  # before a run saved anything, or a second stop signal
        click.echo("stylesynth: interrupted", err=True)
        sys.exit(128 + getattr(e, "signum", signal.SIGINT))


if __name__ == "__main__":
    main()
