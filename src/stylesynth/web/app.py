"""The web studio's ASGI app (Starlette): a JSON API over `JobManager`, and the static page.

API (all errors are JSON `{"error": "one line"}` with a status code):

    GET    /api/config              limits, presets, defaults, every option and how it is set
    GET    /api/examples            the bundled images, usable by name instead of an upload
    GET    /api/examples/{name}     a bundled image's thumbnail (JPEG)
    POST   /api/jobs                multipart form (form.py) -> 202 {"id", "status", "url", "events"}
    GET    /api/jobs/{id}           status, progress, losses, queue position, ETA
    GET    /api/jobs/{id}/events    server-sent events: `progress` ... then one `end`
    GET    /api/jobs/{id}/preview   the latest preview (JPEG)
    GET    /api/jobs/{id}/result    the result (PNG with the engine's record)
    DELETE /api/jobs/{id}           cancel (queued or running); delete (finished)

Status codes: 400 bad input, 403 another site's request (security.py), 404 unknown job,
409 result not ready, 413 upload too large (bytes or pixels), 429 queue full.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..engine.memory import release_freed_memory
from ..errors import InputError
from ..names import DEFAULT_RATIO
from ..options import FIELDS as OPTIONS, TransferOptions, catalogue
from ..pyramid import describe
from ..version import __version__
from .examples import Examples, default_examples_dir
from .form import MAX_STYLES, TooLarge, Uploads, build_spec, read_body
from .jobs import TERMINAL, JobManager, QueueFull
from .security import SameOrigin, SecurityHeaders, error
from .settings import COMMON_SIZES, MIN_SIZE, RUN_OPTIONS, SMALL_SIZE, TRANSFER_OPTIONS, WebSettings

STATIC = Path(__file__).resolve().parent / "static"


def _job(request: Request):
    job = request.app.state.manager.get(request.path_params.get("id", ""))
    if job is None:
        raise HTTPException(404, "no such job: it may have expired or been deleted")
    return job


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def config(request: Request) -> Response:
    settings, manager = request.app.state.settings, request.app.state.manager
    default_size = min(settings.default_size, settings.max_size)
    return JSONResponse({
        "version": __version__,
        "presets": settings.presets,
        # What each preset does: the engine's whole schedule, or a server's own count.
        "preset_labels": {name: describe(name) if settings.engine_presets() else f"{n} iterations"
                          for name, n in settings.presets.items()},
        "default_preset": settings.default_preset,
        "size": {"min": MIN_SIZE, "max": settings.max_size, "default": default_size,
                 "common": sorted({s for s in COMMON_SIZES if s <= settings.max_size}
                                  | {default_size, settings.max_size}),
                 "small": SMALL_SIZE},
        "ratio": {"default": DEFAULT_RATIO if OPTIONS["ratio"].default is None else OPTIONS["ratio"].default},
        "max_iterations": settings.max_iterations,
        "max_upload_bytes": settings.max_upload_bytes,
        "max_pixels": settings.max_pixels,
        "max_styles": MAX_STYLES,
        "preserve_colors": {"choices": list(OPTIONS["preserve_colors"].metadata["choices"])},
        # Every option of the engine, and how the studio sets it (settings.py).
        "options": {name: {**entry, "set_by": RUN_OPTIONS[name]} for name, entry in catalogue().items()},
        "transfer_options": {name: {**entry, "set_by": TRANSFER_OPTIONS[name]}
                             for name, entry in catalogue(TransferOptions).items()},
        "queue": {**manager.counts(), "max": settings.max_queue, "workers": settings.workers},
        "result_ttl": settings.result_ttl,
    })


async def list_examples(request: Request) -> Response:
    return JSONResponse({"examples": request.app.state.examples.listing()})


async def example_image(request: Request) -> Response:
    examples, name = request.app.state.examples, request.path_params["name"]
    if examples.path(name) is None:
        raise HTTPException(404, "no such example")
    data = await run_in_threadpool(examples.thumbnail, name)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


async def submit(request: Request) -> Response:
    state = request.app.state
    state.manager.check_room()  # 429 before the body is read, let alone decoded
    body = await read_body(request, state.settings.max_upload_bytes)
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1 + MAX_STYLES, max_fields=50)
    try:
        files = {}
        for _, item in form.multi_items():
            if isinstance(item, UploadFile):
                files[id(item)] = (await item.read(), item.filename or "")
        spec = await run_in_threadpool(build_spec, form, files, state.settings, state.uploads)
    finally:
        await form.close()
        del body, files
        release_freed_memory()
    job = state.manager.submit(spec)
    snap = state.manager.snapshot(job)
    return JSONResponse({"id": job.id, "status": snap["status"], "queue_position": snap["queue_position"],
                         "url": f"/api/jobs/{job.id}", "events": f"/api/jobs/{job.id}/events"},
                        status_code=202, headers={"Location": f"/api/jobs/{job.id}"})


async def job_status(request: Request) -> Response:
    job, manager = _job(request), request.app.state.manager
    if request.method == "DELETE":
        manager.cancel(job)
        return JSONResponse(manager.snapshot(job))
    return JSONResponse(manager.snapshot(job), headers={"Cache-Control": "no-store"})


async def events(request: Request) -> Response:
    job, manager = _job(request), request.app.state.manager

    async def stream():
        yield "retry: 2000\n\n"
        last, beat = None, time.monotonic()
        while True:
            key = manager.change_key(job)
            if key != last:
                last = key
                snap = manager.snapshot(job)
                end = snap["status"] in TERMINAL or snap["status"] == "deleted"
                yield f"event: {'end' if end else 'progress'}\ndata: {json.dumps(snap)}\n\n"
                if end:
                    return
                beat = time.monotonic()
            elif time.monotonic() - beat > 15:
                yield ": keep-alive\n\n"
                beat = time.monotonic()
                if await request.is_disconnected():  # a closed tab stops its stream
                    return
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def preview(request: Request) -> Response:
    data = request.app.state.manager.preview(_job(request))
    if data is None:
        raise HTTPException(404, "no preview yet")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


async def result(request: Request) -> Response:
    job = _job(request)
    path = job.result_path
    if path is None or not path.is_file():
        raise HTTPException(409, f"the job is {job.status}: there is no result yet"
                            if job.status not in TERMINAL else f"the job {job.status}: no result")
    content = Path(job.inputs["content"]["name"]).stem
    style = Path(job.inputs["styles"][0]["name"]).stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{content}_{style}")[:80].strip("-") or "result"
    return FileResponse(path, media_type="image/png", filename=f"{name}.png", headers={"Cache-Control": "no-store"})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "not found" if exc.status_code == 404 and exc.detail == "Not Found" else exc.detail
    return error(exc.status_code, message, getattr(exc, "headers", None))


async def input_error(request: Request, exc: Exception) -> Response:
    return error(413 if isinstance(exc, TooLarge) else 400, str(exc))


async def queue_full(request: Request, exc: Exception) -> Response:
    return error(429, str(exc), {"Retry-After": "10"})


ROUTES = [
    Route("/", index),
    Route("/api/config", config),
    Route("/api/examples", list_examples),
    Route("/api/examples/{name}", example_image),
    Route("/api/jobs", submit, methods=["POST"]),
    Route("/api/jobs/{id}", job_status, methods=["GET", "DELETE"]),
    Route("/api/jobs/{id}/events", events),
    Route("/api/jobs/{id}/preview", preview),
    Route("/api/jobs/{id}/result", result),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


def create_app(settings: WebSettings | None = None) -> Starlette:
    """The studio as an ASGI app; its workers start and stop with the app's lifespan."""
    settings = settings or WebSettings()
    settings.check()
    manager = JobManager(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        manager.start()
        assert manager.root is not None
        uploads_dir = Path(tempfile.mkdtemp(prefix="uploads-", dir=manager.root))
        app.state.uploads = Uploads(settings, app.state.examples, uploads_dir)
        try:
            yield
        finally:
            await run_in_threadpool(manager.stop)

    app = Starlette(
        routes=ROUTES,
        exception_handlers={HTTPException: http_error, QueueFull: queue_full, InputError: input_error},
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders), Middleware(SameOrigin, allowed_hosts=settings.allowed_hosts)],
    )
    app.state.manager = manager
    app.state.settings = settings
    app.state.examples = Examples(Path(settings.examples_dir) if settings.examples_dir else default_examples_dir())
    return app
