"""Batch jobs: many photos × paintings (or a manifest's rows), here or on a Ray cluster.

    plan.py      the jobs, their output names, everything checked before any work starts
    run.py       one job: transfer and judge (the worker), save and log (the driver)
    backends.py  this process, a pool of local processes, or Ray tasks

`batch(...)` below ties them together; `stylesynth batch` is its command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import signals
from ..engine.run import Reporter
from ..errors import InputError
from . import backends
from .plan import LOG_NAME, Job, jobs_from_manifest, jobs_from_paths, output_name
from .run import Settings, is_done, write

__all__ = ["batch", "Job", "Settings", "LOG_NAME", "output_name"]


def batch(contents: Iterable[str | os.PathLike] = (), styles: Iterable[str | os.PathLike] = (),
          output_dir: str | os.PathLike = "out", *, manifest: str | os.PathLike | None = None,
          jobs: int = 1, ray: bool | str | None = None, threads: int | None = None, device: str = "auto",
          weights: str | None = None, memory_limit_mb: int | None = None, evaluate: bool = False,
          gpus_per_job: float | None = None, max_retries: int = 3, progress: bool = True,
          on_result: Callable[[dict[str, Any]], None] | None = None, **options: Any) -> list[dict[str, Any]]:
    """Stylize every photo in `contents` (files, folders, globs) with every painting in `styles`,
    or every row of `manifest` (CSV with a header, or JSON lines: content, style, output and
    per-job options), into `output_dir` as `{content_stem}--{style_stem}.png`.

    `options` are the transfer's (size, preset, ratio, seed, ...) for every job. A job whose
    output exists with the record of the same job is skipped, so a rerun resumes. Every job
    done or failed gets a line in `output_dir/batch.jsonl` (its record, seconds, the judge's
    numbers with `evaluate`). Backends: this process, one job at a time (`jobs=1`, all cores);
    `jobs=N` local processes sharing the cores; or Ray (`ray=True` for a local instance,
    `ray="HOST:PORT"` to join a cluster; an already initialized Ray is used as it is).

    Returns one line per job in plan order: `status` done, skipped, failed or cancelled (a stop
    signal inside `signals.stop_after_step()` ends the batch early, keeping finished outputs).
    Raises InputError, before any work, for a bad plan.
    """
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if ray and jobs != 1:
        raise InputError("--jobs is for the local backend: on Ray, every job is a task and the cluster's "
                         "CPUs decide how many run at once (--threads sets the CPUs per job)")
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    if max_retries < 0:
        raise InputError(f"--max-retries must be at least 0, got {max_retries}")
    address = None if not ray else ("local" if ray is True else str(ray))
    if address:
        backends.import_ray()  # without it, say so before reading any image
    if manifest is not None:
        if list(contents) or list(styles):
            raise InputError("give either --manifest or CONTENT and --style, not both")
        planned = jobs_from_manifest(manifest, output_dir, options)
    else:
        planned = jobs_from_paths(contents, styles, output_dir, options)

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"output folder {out} is not writable")
    if threads is None and jobs > 1:  # the cores split between the workers
        threads = max(1, backends.available_cores() // jobs)
    settings = Settings(threads=threads, device=device, weights=weights, memory_limit_mb=memory_limit_mb,
                        evaluate=evaluate)

    lines: dict[int, dict[str, Any]] = {}
    todo = []
    for index, job in enumerate(planned):
        if is_done(job):
            lines[index] = {"content": job.content, "style": job.style, "output": str(job.output),
                            "line": job.line, "status": "skipped"}
        else:
            todo.append((index, job))
    bar = Reporter("batch", len(planned), enabled=progress, done=len(lines), counter="{n:.0f}/{total} jobs")
    finished = len(lines)
    for index in sorted(lines):
        if on_result:
            on_result(lines[index])
    index_of = {job.output: index for index, job in todo}  # outputs are unique (check_jobs)

    def report(job: Job, result: dict[str, Any]) -> None:
        line = write(job, result, out)
        lines[index_of[job.output]] = line
        nonlocal finished
        if result["status"] != "cancelled":
            finished += 1
            bar.update_to(finished)
        if result["status"] == "failed":
            bar.write(f"stylesynth: job failed: {job.name}: {result['error']}")
        if on_result:
            on_result(line)

    def stop() -> bool:
        return signals.received() is not None

    try:
        waiting = [job for _, job in todo]
        if address:
            backends.run_ray(waiting, settings, address, report, stop, max_retries=max_retries,
                             gpus_per_job=gpus_per_job if gpus_per_job is not None else
                             (1.0 if device == "cuda" else 0.0))
        elif jobs > 1 and len(waiting) > 1:
            backends.run_pool(waiting, settings, min(jobs, len(waiting)), report, stop)
        else:
            backends.run_here(waiting, settings, report, stop)
    finally:
        bar.close()
    return [lines[i] for i in range(len(planned))]
