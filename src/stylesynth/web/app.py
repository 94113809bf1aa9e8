"""The web studio's ASGI app (Starlette): a JSON API over `JobManager`, and the static page.

API (all errors are JSON `{"error": "one line"}` with a status code):

    GET    /api/config              limits, presets, defaults, every run option and how it is set
    GET    /api/examples            the bundled images, usable by name instead of an upload
    GET    /api/examples/{name}     a bundled image's thumbnail (JPEG)
    POST   /api/jobs                multipart form -> 202 {"id", "status", "url", "events"}
    GET    /api/jobs/{id}           status, progress, losses, queue position, ETA
    GET    /api/jobs/{id}/events    server-sent events: `progress` ... then one `end`
    GET    /api/jobs/{id}/preview   the latest preview (JPEG)
    GET    /api/jobs/{id}/result    the result (PNG with the engine's record)
    DELETE /api/jobs/{id}           cancel (queued or running); delete (finished)

POST /api/jobs fields: `content` (one: a file, or the name of a bundled example), `style`
(one or more, each a file or an example name), `style_weight` (optional, one per style),
`size`, `ratio`, `preset` (draft|fast|quality) or `iterations`, `content_layers`,
`style_layers`, `preserve_colors` (none|luminance|histogram), `seed`.
Status codes: 400 bad input, 403 another site's request (see `SameOrigin`), 404 unknown job,
409 result not ready, 413 upload too large (bytes or pixels), 429 queue full.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import math
import os
import re
import tempfile
import threading
import time
import urllib.parse
import warnings
from contextlib import asynccontextmanager
import dataclasses
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..colors import PRESERVE_COLORS
from ..errors import InputError
from ..imageio import open_image, resize_long_side
from ..memory import release_freed_memory
from ..nets import FeatureExtractor
from ..objective import DEFAULT_RATIO, parse_layers
from ..options import RunOptions, catalogue
from ..pyramid import describe
from ..version import __version__
from .jobs import TERMINAL, JobManager, JobSpec, QueueFull
from .jobs import Settings as JobSettings
from .settings import COMMON_SIZES, HOST_PATTERN, LOOPBACK, MIN_SIZE, RUN_OPTIONS, SMALL_SIZE, WebSettings

STATIC = Path(__file__).resolve().parent / "static"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunOptions)}
FORM_OPTIONS = tuple(name for name, role in RUN_OPTIONS.items() if role == "form")
# The form: the inputs, the run options the page sets, and transfer's own.
FIELDS = ("content", "style", "style_weight", *FORM_OPTIONS,
          "ratio", "content_layers", "style_layers", "preserve_colors")
MAX_STYLES = 4


def default_examples_dir() -> Path:
    """The repository's examples/ folder, found from the package's location (src layout)."""
    return Path(__file__).resolve().parents[3] / "examples"


class TooLarge(InputError):
    """An upload over the byte or pixel limit (413)."""


# --------------------------------------------------------------------------- examples


def _titles(folder: Path) -> dict[str, tuple[str, str]]:
    """file -> (work, licence), read from the table in examples/ATTRIBUTION.md when present."""
    titles = {}
    try:
        text = (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    except OSError:
        return titles
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].lower().endswith(IMAGE_SUFFIXES):
            titles[cells[0]] = (cells[1], cells[2])
    return titles


def _short_title(work: str) -> str:
    """"Vincent van Gogh, The Starry Night, 1889" -> "The Starry Night"; else the first phrase."""
    parts = [p.strip() for p in work.split(",")]
    title = parts[1] if len(parts) >= 3 and re.fullmatch(r"\d{4}", parts[-1]) else parts[0]
    return re.sub(r"\s*\(.*?\)\s*", " ", title).strip() or work


class Examples:
    """The bundled images, addressed only by the names listed (never a client's path)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: dict[str, Path] = {}
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    self.files[path.name] = path
        self.titles = _titles(folder)
        self._thumbs: dict[str, bytes] = {}

    def listing(self) -> list[dict[str, Any]]:
        items = []
        for name in self.files:
            work, licence = self.titles.get(name, (Path(name).stem.replace("-", " ").replace("_", " "), ""))
            short = _short_title(work)
            items.append({"name": name, "title": short, "credit": work, "licence": licence,
                          "thumbnail": f"/api/examples/{name}"})
        return items

    def path(self, name: str) -> Path | None:
        return self.files.get(name)

    def thumbnail(self, name: str) -> bytes | None:
        if name not in self.files:
            return None
        if name not in self._thumbs:
            img = open_image(self.files[name])
            img.thumbnail((320, 320), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            img.save(buffer, format="JPEG", quality=85)
            self._thumbs[name] = buffer.getvalue()
        return self._thumbs[name]


# --------------------------------------------------------------------------- validation


def _text(form: FormData, name: str, default: str | None = None) -> str | None:
    values = form.getlist(name)
    if len(values) > 1:
        raise InputError(f"give {name} once, not {len(values)} times")
    if not values:
        return default
    value = values[0]
    if not isinstance(value, str):
        raise InputError(f"{name} must be a value, not a file")
    value = value.strip()
    if len(value) > 200:
        raise InputError(f"{name} is too long")
    return value if value else default


def _number(form: FormData, name: str, kind: type, default: Any, low: float, high: float) -> Any:
    """A number from the form, `low` <= it <= `high`."""
    text = _text(form, name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InputError(f"{name} must be {what}, got {text[:40]!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(f"{name} must be between {low:g} and {high:g}, got {text[:40]}")
    return value


@functools.lru_cache(maxsize=1)
def _layer_checker() -> FeatureExtractor:
    return FeatureExtractor("vgg16")


def _run_option(form: FormData, name: str, default: Any, low: float, high: float) -> Any:
    """A RunOptions field from the form: a whole number within its catalogue bounds and the
    server's (`low`, `high`)."""
    meta = RUN_FIELDS[name].metadata
    low = low if meta["low"] is None else max(low, meta["low"])
    high = high if meta["high"] is None else min(high, meta["high"])
    return _number(form, name, int, default, low, high)


def _layers(form: FormData, name: str) -> str | None:
    spec = _text(form, name)
    if spec is None:
        return None
    layers = parse_layers(spec)
    _layer_checker().check_layers(layers)
    return spec


def _label(kind: str, name: str | None) -> str:
    name = "".join(c for c in (name or "") if c.isprintable()).strip()[:80]
    return f"the {kind} '{name}'" if name else f"the {kind}"


class Uploads:
    """Turns form values (files or example names) into RGB images, via the CLI's loader."""

    def __init__(self, settings: WebSettings, examples: Examples, tmp: Path):
        self.settings, self.examples, self.tmp = settings, examples, tmp
        # Pixels being decoded now, over all requests: at most one upload of the largest size
        # allowed at a time, so concurrent large uploads cannot add up (a 49-Mpx PNG is 150 MB
        # decoded, before it is shrunk to the job's size).
        self.decoding, self.budget = 0, settings.max_pixels
        self.lock = threading.Lock()

    def image(self, value: Any, kind: str, size: int) -> tuple[Image.Image, dict[str, Any]]:
        """(RGB image no larger than `size` on its long side, {"name", "example"})."""
        if isinstance(value, str):
            path = self.examples.path(value.strip())
            if path is None:
                known = ", ".join(self.examples.files) or "none here"
                raise InputError(f"no bundled example named {value.strip()[:80]!r} for the {kind}: "
                                 f"choose one of {known}, or upload a file")
            return _shrunk(open_image(path), size), {"name": value.strip(), "example": True}
        data, filename = value
        label = _label(kind, filename)
        if not data:
            raise InputError(f"{label} is an empty file (0 bytes), not an image")
        pixels = self._check_pixels(data, label)
        with self.lock:
            if self.decoding and self.decoding + pixels > self.budget:
                raise QueueFull("the studio is decoding other large uploads: try again in a moment")
            self.decoding += pixels
        # Decode with the CLI's loader (EXIF, modes, truncation, bombs): it reads paths, so
        # the bytes go to a private temporary file with a name of our making.
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".bin", dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            try:
                image = open_image(tmp)
            except InputError as exc:
                raise InputError(str(exc).replace(tmp, label)) from None
            image = _shrunk(image, size)  # the full-size pixels go before the budget is given back
        finally:
            os.unlink(tmp)
            with self.lock:
                self.decoding -= pixels
        name = "".join(c for c in Path(filename or "upload").name if c.isprintable())[:80]
        return image, {"name": name or "upload", "example": False}

    def _check_pixels(self, data: bytes, label: str) -> int:
        """413 for images over max_pixels, from the header alone (before any decoding); else
        its pixels (0 when the header cannot be read: the loader says why)."""
        limit = self.settings.max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as img:
                    width, height = img.size
        except Image.DecompressionBombError:
            raise TooLarge(f"{label} has too many pixels (over {limit:,}): downscale it first") from None
        except Exception:  # noqa: BLE001 - not an image: the loader says why, below
            return 0
        if width * height > limit:
            raise TooLarge(f"{label} is {width}x{height} = {width * height:,} pixels, over the limit "
                           f"of {limit:,}: downscale it first")
        return width * height


def _shrunk(image: Image.Image, size: int) -> Image.Image:
    """Downscale to `size` on the long side (what the engine would do), never upscale."""
    return resize_long_side(image, size) if max(image.size) > size else image


def build_spec(form: FormData, files: dict[int, tuple[bytes, str]], settings: WebSettings,
               uploads: Uploads) -> JobSpec:
    """Validate a submission; return the job spec."""
    unknown = sorted({key for key, _ in form.multi_items()} - set(FIELDS))
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(u[:40] for u in unknown)}: known are {', '.join(FIELDS)}")
    size = _run_option(form, "size", min(settings.default_size, settings.max_size), MIN_SIZE, settings.max_size)
    ratio = _number(form, "ratio", float, DEFAULT_RATIO, 1e-12, 1e3)
    preset = _text(form, "preset")
    iterations = _run_option(form, "iterations", None, 1, settings.max_iterations)
    if preset is not None and preset not in settings.presets:
        raise InputError(f"unknown preset {preset[:40]!r}: choose one of {', '.join(settings.presets)}")
    if iterations is None:
        preset = preset or settings.default_preset
        iterations = settings.presets[preset]
    seed = _run_option(form, "seed", None, 0, 2**31 - 1)  # what a page's number input holds
    preserve = _text(form, "preserve_colors", "none")
    if preserve not in PRESERVE_COLORS:
        raise InputError(f"preserve_colors must be one of {', '.join(PRESERVE_COLORS)}, got {preserve[:40]!r}")
    content_layers = _layers(form, "content_layers")
    style_layers = _layers(form, "style_layers")

    def value(item: Any) -> Any:
        return files[id(item)] if isinstance(item, UploadFile) else item

    contents = form.getlist("content")
    if len(contents) != 1:
        raise InputError("give exactly one content image (a file, or an example's name)"
                         if contents else "no content image: upload a photo or name an example")
    styles = form.getlist("style")
    if not styles:
        raise InputError("no style image: upload a painting or name an example")
    if len(styles) > MAX_STYLES:
        raise InputError(f"at most {MAX_STYLES} style images, got {len(styles)}")
    weights_text = form.getlist("style_weight")
    if weights_text and len(weights_text) != len(styles):
        raise InputError(f"give one style_weight per style ({len(styles)}), got {len(weights_text)}")
    blend_weights = []
    for text in weights_text or ["1"] * len(styles):
        try:
            w = float(text) if isinstance(text, str) else math.nan
        except ValueError:
            w = math.nan
        if not (math.isfinite(w) and w >= 0):
            raise InputError(f"style_weight must be a number >= 0, got {str(text)[:40]!r}")
        blend_weights.append(w)
    if sum(blend_weights) <= 0:
        raise InputError("style weights must not all be zero")

    content, content_name = uploads.image(value(contents[0]), "photo", size)
    style_items, style_names = [], []
    for item, w in zip(styles, blend_weights):
        image, name = uploads.image(value(item), "painting", size)
        style_items.append((image, w))
        style_names.append({**name, "weight": w})
    # With the default presets the engine runs its coarse-to-fine schedule for the preset; a
    # server configured with its own counts (settings.presets) runs them as plain iterations.
    if form.get("iterations") is None and settings.engine_presets():
        schedule = {"preset": preset}
    else:
        schedule = {"iterations": iterations}
    options = {"size": size, "seed": seed, "ratio": ratio, **schedule, "content_layers": content_layers,
               "style_layers": style_layers, "preserve_colors": preserve}
    return JobSpec(content=content, styles=style_items, iterations=iterations,
                   options={k: v for k, v in options.items() if v is not None},
                   inputs={"content": content_name, "styles": style_names})


# --------------------------------------------------------------------------- the app


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) more than `limit` bytes, declared or sent."""
    declared = request.headers.get("content-length")
    too_big = f"the upload is larger than {limit / 1048576:.3g} MB: use smaller images"
    if declared is not None:
        try:
            if int(declared) > limit:
                raise HTTPException(413, too_big)
        except ValueError:
            raise HTTPException(400, "bad Content-Length") from None
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise HTTPException(413, too_big)
            chunks.append(chunk)
    except ClientDisconnect:  # the client gave up mid-upload: nobody to answer, nothing to log
        raise HTTPException(400, "the upload was aborted") from None
    return b"".join(chunks)


def create_app(settings: WebSettings | None = None) -> Starlette:
    """The studio as an ASGI app; its workers start and stop with the app's lifespan."""
    settings = settings or WebSettings()
    settings.check()
    examples = Examples(Path(settings.examples_dir) if settings.examples_dir else default_examples_dir())
    manager = JobManager(JobSettings(workers=settings.workers, max_queue=settings.max_queue,
                                     result_ttl=settings.result_ttl, results_dir=settings.results_dir,
                                     run_options={name: getattr(settings, name) for name, role
                                                  in RUN_OPTIONS.items() if role == "server"}))
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette):
        manager.start()
        assert manager.root is not None
        state["uploads"] = Uploads(settings, examples, Path(tempfile.mkdtemp(prefix="uploads-", dir=manager.root)))
        try:
            yield
        finally:
            await run_in_threadpool(manager.stop)

    def job_or_404(request: Request):
        job = manager.get(request.path_params.get("id", ""))
        if job is None:
            raise HTTPException(404, "no such job: it may have expired or been deleted")
        return job

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def config(request: Request) -> Response:
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
            "ratio": {"default": DEFAULT_RATIO},
            "max_iterations": settings.max_iterations,
            "max_upload_bytes": settings.max_upload_bytes,
            "max_pixels": settings.max_pixels,
            "max_styles": MAX_STYLES,
            "preserve_colors": {"choices": list(PRESERVE_COLORS)},
            # Every run option of the engine, and how the studio sets it (settings.RUN_OPTIONS).
            "options": {name: {**entry, "set_by": RUN_OPTIONS[name]} for name, entry in catalogue().items()},
            "queue": {**manager.counts(), "max": settings.max_queue, "workers": settings.workers},
            "result_ttl": settings.result_ttl,
        })

    async def list_examples(request: Request) -> Response:
        return JSONResponse({"examples": examples.listing()})

    async def example_image(request: Request) -> Response:
        name = request.path_params["name"]
        if examples.path(name) is None:
            raise HTTPException(404, "no such example")
        data = await run_in_threadpool(examples.thumbnail, name)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def submit(request: Request) -> Response:
        manager.check_room()  # 429 before the body is read, let alone decoded
        body = await _read_body(request, settings.max_upload_bytes)
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
            spec = await run_in_threadpool(build_spec, form, files, settings, state["uploads"])
        finally:
            await form.close()
            del body, files
            release_freed_memory()
        job = manager.submit(spec)
        snap = manager.snapshot(job)
        return JSONResponse({"id": job.id, "status": snap["status"], "queue_position": snap["queue_position"],
                             "url": f"/api/jobs/{job.id}", "events": f"/api/jobs/{job.id}/events"},
                            status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    async def job_status(request: Request) -> Response:
        job = job_or_404(request)
        if request.method == "DELETE":
            manager.cancel(job)
            return JSONResponse(manager.snapshot(job))
        return JSONResponse(manager.snapshot(job), headers={"Cache-Control": "no-store"})

    async def events(request: Request) -> Response:
        job = job_or_404(request)

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
        job = job_or_404(request)
        data = manager.preview(job)
        if data is None:
            raise HTTPException(404, "no preview yet")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def result(request: Request) -> Response:
        job = job_or_404(request)
        path = job.result_path
        if path is None or not path.is_file():
            raise HTTPException(409, f"the job is {job.status}: there is no result yet"
                                if job.status not in TERMINAL else f"the job {job.status}: no result")
        content = Path(job.inputs["content"]["name"]).stem
        style = Path(job.inputs["styles"][0]["name"]).stem
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{content}_{style}")[:80].strip("-") or "result"
        return FileResponse(path, media_type="image/png", filename=f"{name}.png",
                            headers={"Cache-Control": "no-store"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = "not found"
        else:
            message = exc.detail
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    async def input_error(request: Request, exc: Exception) -> Response:
        status = 413 if isinstance(exc, TooLarge) else 400
        return _error(status, str(exc))

    async def queue_full(request: Request, exc: Exception) -> Response:
        return _error(429, str(exc), {"Retry-After": "10"})

    app = Starlette(
        routes=[
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
        ],
        exception_handlers={HTTPException: http_error, QueueFull: queue_full, InputError: input_error},
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders),
                    Middleware(SameOrigin, allowed_hosts=settings.allowed_hosts)],
    )
    app.state.manager = manager
    app.state.settings = settings

    return app


class SecurityHeaders:
    """Pure ASGI middleware: no sniffing, no referrer, and a strict CSP for the page (no CDN)."""

    CSP = (b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
           b"connect-src 'self'; frame-ancestors 'none'")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if scope["path"] == "/":
                    headers.append((b"content-security-policy", self.CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SameOrigin:
    """Pure ASGI middleware that keeps other web pages out (403, one JSON line).

    * Only requests whose `Host` the studio serves are answered: its own address and port (as
      the connection was made), `localhost`, `127.0.0.1` or `[::1]` at that port, or a name in
      `allowed_hosts` (any port: a reverse proxy's). A DNS-rebinding page's own name is not one.
    * State-changing requests (anything but GET, HEAD, OPTIONS) must come from the studio's own
      page: an `Origin` other than the Host asked for (or an allowed name), or with no Origin a
      `Sec-Fetch-Site` of another site, is refused. Clients that are not browsers send neither.
    """

    HOST = HOST_PATTERN
    SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

    def __init__(self, app, allowed_hosts: tuple[str, ...] = ()):
        self.app = app
        self.allowed = {name.lower().strip("[]") for name in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problem = self.refusal(scope, Headers(scope=scope))
        if problem:
            return await _error(403, problem)(scope, receive, send)
        await self.app(scope, receive, send)

    def refusal(self, scope, headers: Headers) -> str | None:
        host = headers.get("host", "").lower()
        if not self.serves(host, scope.get("server")):
            return (f"this studio does not answer to the host {host[:80]!r}: open it at its own address "
                    "(start it with --allow-host NAME to serve another name)")
        if scope["method"] in self.SAFE_METHODS:
            return None
        origin, site = headers.get("origin"), headers.get("sec-fetch-site")
        if origin is not None and not self.same_origin(origin.lower(), host):
            sender = repr(origin[:80])
        elif origin is None and site in ("cross-site", "same-site"):
            sender = f"Sec-Fetch-Site: {site}"
        else:
            return None
        return (f"refused a {scope['method']} from another site ({sender}): only the studio's own "
                "page may do that")

    def same_origin(self, origin: str, host: str) -> bool:
        try:
            parts = urllib.parse.urlsplit(origin)
            return parts.netloc == host or parts.hostname in self.allowed
        except ValueError:  # not a URL ("null" is one, of no host)
            return False

    def serves(self, host: str, server: tuple[str, int] | None) -> bool:
        match = self.HOST.fullmatch(host)
        if match is None:
            return False
        name, port = match[1].strip("[]"), int(match[2] or 80)
        if name in self.allowed:
            return True
        address, served_port = server or (None, None)
        return name in (*LOOPBACK, address) and served_port in (None, port)
