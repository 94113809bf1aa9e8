"""One job: the worker's half (`run_job`: transfer, judge) and the driver's (`is_done`, `write`).

A worker never writes outputs: it returns the pixels and the record, and the process that
runs the batch saves them (atomically, with the record). So a cluster's nodes need no shared
folder, a worker killed mid-job leaves nothing behind, and Ctrl-C keeps exactly the finished
jobs. Inputs reach a worker as paths (local) or as the files' bytes (Ray's object store).
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import InputError, StylesynthError
from ..io.images import open_image, read_params, save_image
from .plan import IDENTITY_KEY, LOG_NAME, Job


@dataclass(frozen=True)
class Settings:
    """What is the same for every job of a batch and not part of any result."""

    threads: int | None = None  # torch threads per job (None: torch's choice, all cores)
    device: str = "auto"
    weights: str | None = None
    memory_limit_mb: int | None = None
    evaluate: bool = False  # the judge's numbers for every result


def run_job(job: Job, settings: Settings, content: str | bytes | None = None,
            style: str | bytes | None = None) -> dict[str, Any]:
    """Run one transfer; return {"status": "done", "pixels", "record", ...} or {"status":
    "failed", "error"} for a failure the user can act on. `content`/`style` are the inputs'
    bytes where the worker cannot read the paths (default: the job's paths)."""
    from ..modes import transfer  # the engine: its network is loaded once per process and kept
    from ..evaluate import score

    started = time.perf_counter()
    try:
        photo, painting = _image(content or job.content), _image(style or job.style)
        image = transfer(photo, painting, **job.options, threads=settings.threads, device=settings.device,
                         weights=settings.weights, memory_limit_mb=settings.memory_limit_mb, progress=False)
        # The record names the files, not the decoded images handed to the engine.
        record = {**image.info["stylesynth"], "content": job.content, "style": job.style,
                  IDENTITY_KEY: job.identity()}
        judged = None
        if settings.evaluate and not record["interrupted"]:
            judged = vars(score(photo, painting, image))
    except StylesynthError as exc:
        return {"status": "failed", "error": str(exc), "seconds": round(time.perf_counter() - started, 3)}
    except (RuntimeError, ValueError, MemoryError) as exc:  # e.g. torch refusing a shape
        return {"status": "failed", "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                "seconds": round(time.perf_counter() - started, 3)}
    return {"status": "cancelled" if record["interrupted"] else "done",
            "pixels": np.asarray(image), "record": record, "evaluate": judged,
            # Wall time in the worker; the record's "seconds" is the optimization's alone, so
            # the difference is setup (decoding, and the network's load on a worker's first job).
            "seconds": round(time.perf_counter() - started, 3), "host": socket.gethostname(),
            "pid": os.getpid()}


def _image(source: str | bytes) -> Image.Image:
    if isinstance(source, bytes):
        return open_image(Image.open(io.BytesIO(source)))
    return open_image(source)


def is_done(job: Job) -> bool:
    """The output exists and was made by this very job (same inputs and options), uninterrupted."""
    if not job.output.is_file():
        return False
    try:
        record = read_params(job.output)
    except InputError:
        return False
    expected = json.loads(json.dumps(job.identity(), default=str))
    return bool(record) and record.get(IDENTITY_KEY) == expected and not record.get("interrupted")


def write(job: Job, result: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """Save a finished job's image with its record; append its line to OUTDIR/batch.jsonl;
    return that line. A failed job gets a line too, without an image."""
    line = {"content": job.content, "style": job.style, "output": str(job.output), "line": job.line,
            "status": result["status"], "seconds": result.get("seconds"), "attempt": result.get("attempt", 1)}
    if result["status"] == "done":
        job.output.parent.mkdir(parents=True, exist_ok=True)
        save_image(Image.fromarray(result["pixels"]), job.output, result["record"])
        line.update(seed=result["record"]["seed"], transfer_seconds=result["record"]["seconds"],
                    evaluate=result.get("evaluate"), host=result.get("host"), pid=result.get("pid"),
                    record=result["record"])
    elif result["status"] == "failed":
        line["error"] = result["error"]
    else:
        return line  # cancelled: nothing was made, and the log keeps what was
    with open(output_dir / LOG_NAME, "a", encoding="utf-8") as log:
        log.write(json.dumps(line, sort_keys=True, default=str) + "\n")
    return line
