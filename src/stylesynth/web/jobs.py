"""The web studio's jobs: a bounded FIFO queue, worker threads that run the engine, cleanup.

Nothing here knows about HTTP. A `JobSpec` holds already-validated, decoded input images and
options; `JobManager.submit` queues it (or raises `QueueFull`), worker threads call
`stylesynth.transfer` with an `on_step` callback that records progress and JPEG previews and
raises `JobCancelled` when the job is cancelled. Results are PNG files (with the engine's
record) in a private temporary directory, removed `result_ttl` seconds after the job ends.
"""

from __future__ import annotations

import collections
import io
import itertools
import logging
import math
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..engine.memory import release_freed_memory
from ..engine.optimize import Step
from ..errors import StylesynthError
from ..io.images import save_image, to_pil
from ..modes import transfer
from .settings import RUN_OPTIONS, WebSettings

log = logging.getLogger("stylesynth.web")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
TERMINAL = (DONE, FAILED, CANCELLED)

# Job ids: 128 random bits, URL-safe base64 without padding (22 characters).
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")


def new_id() -> str:
    return secrets.token_urlsafe(16)


class QueueFull(StylesynthError):
    """The queue already holds `max_queue` waiting jobs."""


class JobCancelled(Exception):
    """Raised from on_step to stop a running job (the engine's loop lets it propagate)."""


@dataclass
class JobSpec:
    """A validated request: decoded RGB inputs (already downscaled to the size asked for) and
    `transfer`'s keyword options."""

    content: Image.Image
    styles: list[tuple[Image.Image, float]]
    iterations: int  # in all (for the previews' spacing)
    options: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)  # display names of the inputs


@dataclass
class Job:
    id: str
    seq: int
    spec: JobSpec | None
    options: dict[str, Any]
    inputs: dict[str, Any]
    status: str = QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    iteration: int = 0
    fraction: float = 0.0  # of the whole run's work (finer scales cost more per iteration)
    started_monotonic: float = 0.0
    iterations: int = 0
    loss: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    first_step: float | None = None  # monotonic time of the first iteration's end
    last_step: float | None = None
    preview: bytes | None = None
    preview_iteration: int = 0
    preview_time: float = 0.0
    result_path: Path | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    version: int = 0  # bumped on every change, for event streams


PREVIEWS = 25  # about this many previews per job
PREVIEW_INTERVAL = 0.3  # seconds between previews, at least


class JobManager:
    """Owns every job; all state changes happen under one lock."""

    def __init__(self, settings: WebSettings):
        self.settings = settings
        # The run options `stylesynth serve` sets for every job (device, threads, weights).
        self.run_options = {name: getattr(settings, name) for name, role in RUN_OPTIONS.items() if role == "server"}
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._seq = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._owns_root = settings.results_dir is None
        self.root: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._owns_root:
            self.root = Path(tempfile.mkdtemp(prefix="stylesynth-web-"))  # mode 0700
        else:
            self.root = Path(self.settings.results_dir)
            self.root.mkdir(parents=True, exist_ok=True)
        for n in range(self.settings.workers):
            thread = threading.Thread(target=self._worker, name=f"stylesynth-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        janitor = threading.Thread(target=self._janitor, name="stylesynth-janitor", daemon=True)
        janitor.start()
        self._threads.append(janitor)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel everything, wait for the workers, and remove the results."""
        self._stopping.set()
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for job in list(self._jobs.values()):
                self._discard(job)
        if self._owns_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- requests ----------------------------------------------------------------------------

    def check_room(self) -> None:
        """QueueFull unless a job could be queued now: asked before an upload is even read, so
        a refused request never costs the decoding of its images."""
        with self._lock:
            self._check_room()

    def _check_room(self) -> None:
        if self._stopping.is_set():
            raise QueueFull("the server is shutting down")
        if len(self._queue) >= self.settings.max_queue:
            raise QueueFull(f"the queue is full ({self.settings.max_queue} jobs waiting): "
                            "try again when one has finished")

    def submit(self, spec: JobSpec) -> Job:
        with self._lock:
            self._check_room()
            job = Job(id=new_id(), seq=next(self._seq), spec=spec, options=dict(spec.options),
                      inputs=spec.inputs, iterations=spec.iterations)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._lock.notify_all()
            return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id; None for anything that is not one of ours (never a path)."""
        if not isinstance(job_id, str) or not ID_PATTERN.fullmatch(job_id):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        """Cancel a queued or running job; a finished job is deleted with its result."""
        with self._lock:
            if job.status == QUEUED:
                self._queue.remove(job)
                self._finish(job, CANCELLED)
            elif job.status == RUNNING:
                job.cancel.set()  # the worker stops at the end of the current iteration
                job.version += 1
            else:
                self._discard(job)

    def position(self, job: Job) -> int | None:
        """1 for the next job to start, 2 for the one after it...; None when not queued."""
        with self._lock:
            if job.status != QUEUED:
                return None
            for n, queued in enumerate(self._queue, 1):
                if queued is job:
                    return n
            return None

    def snapshot(self, job: Job) -> dict[str, Any]:
        """The job's state as JSON-ready data (what GET /api/jobs/{id} and the events send)."""
        with self._lock:
            gone = self._jobs.get(job.id) is not job
            now = time.monotonic()
            elapsed = None
            if job.started is not None:
                elapsed = (job.finished or time.time()) - job.started
            eta = None
            if job.status == RUNNING and job.iteration >= 2 and job.first_step is not None and job.fraction:
                # Later (finer) scales cost more per iteration: extrapolate from work done.
                spent = job.last_step - job.started_monotonic
                eta = max(0.0, spent / job.fraction * (1 - job.fraction) - (now - job.last_step))
            base = f"/api/jobs/{job.id}"
            return {
                "id": job.id,
                "seq": job.seq,
                "status": "deleted" if gone else job.status,
                "queue_position": self.position(job) if not gone else None,
                "cancel_requested": job.cancel.is_set() and job.status == RUNNING,
                "iteration": job.iteration,
                "iterations": job.iterations,
                "progress": job.fraction,
                "created": job.created,
                "started": job.started,
                "finished": job.finished,
                "elapsed": None if elapsed is None else round(elapsed, 2),
                "eta": None if eta is None else round(eta, 1),
                "loss": _finite(job.loss),
                "losses": {k: _finite(v) for k, v in job.losses.items()},
                "preview_url": f"{base}/preview?i={job.preview_iteration}" if job.preview else None,
                "result_url": f"{base}/result" if job.status == DONE and not gone else None,
                "error": job.error,
                "options": job.options,
                "inputs": job.inputs,
                "result": job.result,
            }

    def change_key(self, job: Job) -> tuple:
        """Changes whenever the job's snapshot would (its version, or its place in the queue)."""
        with self._lock:
            return job.version, self.position(job), self._jobs.get(job.id) is job

    def preview(self, job: Job) -> bytes | None:
        with self._lock:
            return job.preview

    def counts(self) -> dict[str, int]:
        with self._lock:
            running = sum(1 for j in self._jobs.values() if j.status == RUNNING)
            return {"queued": len(self._queue), "running": running}

    # -- internals ---------------------------------------------------------------------------

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        """Under the lock: record the end of a job and let go of its inputs."""
        job.status, job.error = status, error
        job.finished = time.time()
        job.spec = None
        job.version += 1
        release_freed_memory()

    def _discard(self, job: Job) -> None:
        """Under the lock: forget a job and delete its files."""
        if job.status == QUEUED and job in self._queue:
            self._queue.remove(job)
        job.cancel.set()
        self._jobs.pop(job.id, None)
        job.version += 1
        if self.root is not None:
            shutil.rmtree(self.root / job.id, ignore_errors=True)

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping.is_set():
                    self._lock.wait()
                if self._stopping.is_set():
                    return
                job = self._queue.popleft()
                job.status, job.started = RUNNING, time.time()
                job.started_monotonic = time.monotonic()
                job.version += 1
                self._lock.notify_all()
            try:
                self._run(job)
            except Exception:  # noqa: BLE001 - a worker must survive any one job
                log.exception("job %s failed", job.id)
                with self._lock:
                    if job.status == RUNNING:
                        self._finish(job, FAILED, "internal error: see the server log")

    def _run(self, job: Job) -> None:
        spec = job.spec
        assert spec is not None
        every = max(1, spec.iterations // max(1, PREVIEWS))

        def on_step(step: Step) -> None:
            if job.cancel.is_set() or self._stopping.is_set():
                raise JobCancelled
            now = time.monotonic()
            preview = None
            last = step.iteration == step.iterations
            if last or (step.iteration % every == 0
                        and now - job.preview_time >= PREVIEW_INTERVAL):
                buffer = io.BytesIO()
                to_pil(step.image).save(buffer, format="JPEG", quality=85)
                preview = buffer.getvalue()
            with self._lock:
                job.iteration, job.iterations = step.iteration, step.iterations
                job.fraction = step.fraction
                job.loss = step.loss
                job.losses = {k: v for k, v in step.parts.items() if "/" not in k}
                if job.first_step is None:
                    job.first_step = now
                job.last_step = now
                if preview is not None:
                    job.preview, job.preview_iteration, job.preview_time = preview, step.iteration, now
                job.version += 1

        options = {**spec.options, **self.run_options, "progress": False, "on_step": on_step}
        style: Any = spec.styles[0][0] if len(spec.styles) == 1 else list(spec.styles)
        try:
            image = transfer(spec.content, style, **options)
            if job.cancel.is_set() or self._stopping.is_set():
                raise JobCancelled
            record = dict(image.info["stylesynth"])
            record["inputs"] = spec.inputs
            # The engine saw images, not files: name them as the command line's record would.
            names = [entry["name"] for entry in spec.inputs["styles"]]
            record["content"] = spec.inputs["content"]["name"]
            record["style"] = names[0] if len(names) == 1 else [[n, w] for n, (_, w) in zip(names, spec.styles)]
            assert self.root is not None
            folder = self.root / job.id  # the id is ours (secrets), never a client's string
            folder.mkdir(mode=0o700)
            path = save_image(image, folder / "result.png", record)
        except JobCancelled:
            with self._lock:
                self._finish(job, CANCELLED)
            return
        except StylesynthError as exc:
            with self._lock:
                self._finish(job, FAILED, str(exc))
            return
        with self._lock:
            if self._jobs.get(job.id) is not job:  # deleted meanwhile
                shutil.rmtree(path.parent, ignore_errors=True)
                return
            job.result_path = path
            job.result = {"width": image.width, "height": image.height,
                          "seconds": record.get("seconds"), "seed": record.get("seed"),
                          "iterations_done": record.get("iterations_done"),
                          "losses": {k: _finite(v) for k, v in (record.get("losses") or {}).items()
                                     if "/" not in k},
                          "warning": record.get("warning")}
            self._finish(job, DONE)

    def _janitor(self) -> None:
        interval = min(60.0, max(0.2, self.settings.result_ttl / 4))
        while not self._stopping.wait(interval):
            self.cleanup()

    def cleanup(self, now: float | None = None) -> int:
        """Delete finished jobs older than result_ttl; return how many went."""
        now = time.time() if now is None else now
        with self._lock:
            old = [j for j in self._jobs.values()
                   if j.status in TERMINAL and j.finished is not None
                   and now - j.finished >= self.settings.result_ttl]
            for job in old:
                self._discard(job)
        return len(old)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: send null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
