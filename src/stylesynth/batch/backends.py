"""Where the jobs run: in this process, in a pool of local processes, or as Ray tasks.

Each backend calls `report(job, result)` in this process as every job ends, in the order they
end, and stops early when `stop()` says so (a stop signal): jobs not finished are abandoned
(their workers are killed, nothing of theirs is written) and reported as cancelled.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import signal
import threading
import time
from typing import Any, Callable

from .. import signals
from ..errors import InputError
from .plan import Job
from .run import Settings, run_job

Report = Callable[[Job, dict[str, Any]], None]
Stop = Callable[[], bool]
POLL_SECONDS = 0.5  # how often a waiting driver looks at stop()
ORPHAN_POLL_SECONDS = 0.5  # how often a pool worker looks whether its driver is still there
CLUSTER_EXTRA = "pip install 'stylesynth[cluster]'"


def available_cores() -> int:
    """The cores this process may run on (a taskset or a container's limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cancelled() -> dict[str, Any]:
    return {"status": "cancelled"}


# --------------------------------------------------------------------------- local


def run_here(jobs: list[Job], settings: Settings, report: Report, stop: Stop) -> None:
    """One job at a time in this process, with all its cores (or --threads)."""
    for index, job in enumerate(jobs):
        if stop():
            for rest in jobs[index:]:
                report(rest, cancelled())
            return
        report(job, run_job(job, settings))


def _start_worker(driver: int) -> None:
    """A pool worker's setup. A terminal's Ctrl-C reaches the whole process group, and so does a
    SIGTERM sent to it (`timeout`, a service manager): the workers leave both to the driver,
    which kills them (their unfinished jobs are lost, but nothing half-written). And a worker
    ends as soon as its driver is gone, however it went (kill -9, SIGHUP): an orphan would run
    on for minutes, holding the caller's pipes open."""
    for signum in signals.SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    # tqdm's default lock is a multiprocessing semaphore, registered with the driver's resource
    # tracker: a worker killed when the batch is stopped never unregisters it, and the tracker
    # warns of "leaked semaphore objects" at exit. A worker's bars need no lock across processes.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    threading.Thread(target=_exit_when_orphaned, args=(driver,), daemon=True, name="watch-driver").start()


def _exit_when_orphaned(driver: int) -> None:
    while os.getppid() == driver:  # an orphan is adopted by another process
        time.sleep(ORPHAN_POLL_SECONDS)
    os._exit(1)


def run_pool(jobs: list[Job], settings: Settings, workers: int, report: Report, stop: Stop) -> None:
    """`workers` processes, each with its share of the cores; each keeps its network loaded."""
    # spawn, not fork: a forked copy of a process whose torch has started its thread pools can
    # deadlock.
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_start_worker, initargs=(os.getpid(),))
    futures = {pool.submit(run_job, job, settings): job for job in jobs}
    pending = set(futures)
    try:
        while pending:
            if stop():
                break
            finished, pending = concurrent.futures.wait(pending, timeout=POLL_SECONDS,
                                                        return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                try:
                    result = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    result = {"status": "failed", "error": "a worker process died (out of memory?): "
                              "rerun the batch to do this job again"}
                report(futures[future], result)
    finally:
        for future in pending:
            future.cancel()
        if pending:  # stopping: the running jobs are abandoned
            # The executor has no public way to stop running work before Python 3.14.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
    for future in pending:
        report(futures[future], cancelled())


# --------------------------------------------------------------------------- Ray


def import_ray():
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(f"--ray needs Ray, an optional extra: {CLUSTER_EXTRA}") from None
    return ray


def run_batch_job(attempts, index: int, job: Job, settings: Settings, content: bytes, style: bytes) -> dict:
    """A Ray task: one job on some node. (Its name is the worker's process title while it runs:
    `ray::run_batch_job`.) `attempts` counts the tries, which Ray's retries hide from the driver."""
    import ray

    attempt = ray.get(attempts.started.remote(index))
    # Ray titles the process `ray::run_batch_job`; naming the job too tells `ps` on a node which
    # job each worker runs, and that it has been counted.
    set_title = getattr(getattr(ray, "_raylet", None), "setproctitle", None)
    if set_title is not None:
        set_title(f"ray::run_batch_job {job.output.name} attempt {attempt}")
    try:
        result = run_job(job, settings, content, style)
    finally:
        # Back to Ray's idle title at once: a worker titled as running a job is running one.
        if set_title is not None:
            set_title("ray::IDLE")
    result["attempt"] = attempt
    return result


class AttemptCounter:
    """A Ray actor: how many times each job has started (2 or more: a worker died under it)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def started(self, index: int) -> int:
        self.counts[index] = self.counts.get(index, 0) + 1
        return self.counts[index]


def run_ray(jobs: list[Job], settings: Settings, address: str, report: Report, stop: Stop, *,
            gpus_per_job: float = 0.0, max_retries: int = 3) -> None:
    """One Ray task per job, on a local instance (`address` "local") or a cluster's.

    Each task asks for `threads` CPUs and `gpus_per_job` GPUs, so a node runs as many jobs as
    it has cores for, and GPU jobs land on GPU nodes. Ray reuses worker processes, and the
    engine keeps its network per process: a worker loads it once. Each input file goes into the
    object store once, however many jobs use it; a painting's style targets are computed once
    per node and size (the engine's on-disk cache). A worker that dies is retried by Ray.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # ray.init takes SIGTERM over (a stack dump and status 1 instead of signals.py's stop):
        # the handlers this process had are put back.
        handlers = {signum: signal.getsignal(signum) for signum in signals.SIGNALS}
        _connect(ray, address)
        if threading.current_thread() is threading.main_thread():
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
    try:
        threads = settings.threads or 1
        task = ray.remote(run_batch_job).options(num_cpus=threads, num_gpus=gpus_per_job,
                                                 max_retries=max_retries, retry_exceptions=False)
        attempts = ray.remote(AttemptCounter).options(num_cpus=0).remote()
        settings = Settings(**{**vars(settings), "threads": threads})
        shared: dict[str, Any] = {}  # path -> the file's bytes in the object store

        def stored(path: str):
            if path not in shared:
                with open(path, "rb") as fh:
                    shared[path] = ray.put(fh.read())
            return shared[path]

        refs = {task.remote(attempts, index, job, settings, stored(job.content), stored(job.style)): job
                for index, job in enumerate(jobs)}
        pending = list(refs)
        try:
            while pending and not stop():
                finished, pending = ray.wait(pending, num_returns=1, timeout=POLL_SECONDS)
                for ref in finished:
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # retries used up, a node lost, ...
                        result = {"status": "failed", "error": f"{type(exc).__name__}: "
                                  f"{' '.join(str(exc).split())[:300]}"}
                    report(refs[ref], result)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
        for ref in pending:
            report(refs[ref], cancelled())
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray, address: str) -> None:
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address == "local":
        # A private instance on this machine. Ray's services still listen on every interface
        # (its token authentication guards them); docs/scaling.md says how to keep it on loopback.
        ray.init(address="local", num_cpus=available_cores(), include_dashboard=False,
                 _node_ip_address="127.0.0.1", **quiet)
        return
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot join the Ray cluster at {address}: {' '.join(str(exc).split())[:200]}") from None
