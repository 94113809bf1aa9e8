"""The studio's form: a submission's fields parsed and checked with the engine's own checks (the
options' catalogue, options.py; the layer names; the blend weights; the pixel limit), and its
images decoded with the command line's loader, into a `JobSpec`.

Fields: `content` (one: a file, or the name of a bundled example), `style` (one or more, each
a file or an example name), `style_weight` (optional, one blend weight per style), and the
options the page sets (settings.RUN_OPTIONS and TRANSFER_OPTIONS, role "form"): `size`,
`preset` or `iterations`, `seed`, `ratio`, `content_layers`, `style_layers`, `preserve_colors`.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from ..engine.objective import normalize_blend, parse_layers
from ..errors import InputError
from ..names import DEFAULT_RATIO
from ..io.images import header_pixels, open_image, resize_long_side
from ..nets.networks import FeatureExtractor
from ..options import FIELDS as OPTIONS, TransferOptions, check_number, check_value, parse
from ..pyramid import check_iterations
from .examples import Examples
from .jobs import JobSpec, QueueFull
from .settings import MIN_SIZE, RUN_OPTIONS, TRANSFER_OPTIONS, WebSettings

# The options the page sets, and the form's fields: the inputs and those options.
FORM_OPTIONS = tuple(name for name, role in {**RUN_OPTIONS, **TRANSFER_OPTIONS}.items() if role == "form")
FIELDS = ("content", "style", "style_weight", *FORM_OPTIONS)
MAX_STYLES = 4


class TooLarge(InputError):
    """An upload over the byte or pixel limit (413)."""


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


def option(form: FormData, name: str, low: float | None = None, high: float | None = None) -> Any:
    """Option `name` from the form (None if not sent): parsed and checked as the catalogue
    says, within the server's `low`..`high`."""
    text = _text(form, name)
    if text is None:
        return None
    value = parse(name, text)
    check_value(OPTIONS[name], value, low=low, high=high)
    return value


def form_options(form: FormData, settings: WebSettings) -> dict[str, Any]:
    """The options a submission sets, checked: the run's and transfer's (None: not sent)."""
    size = option(form, "size", low=MIN_SIZE, high=settings.max_size)
    preset = _text(form, "preset")  # the server's presets (settings.presets), not all the engine's
    if preset is not None and preset not in settings.presets:
        raise InputError(f"unknown preset {preset[:40]!r}: choose one of {', '.join(settings.presets)}")
    iterations = option(form, "iterations")
    if iterations is not None:
        check_iterations(iterations)
        check_number("iterations", iterations, whole=True, high=settings.max_iterations)
    own = {name: option(form, name) for name in FORM_OPTIONS if name in TRANSFER_OPTIONS}
    TransferOptions(**{name: value for name, value in own.items() if value is not None}).check()
    for name in ("content_layers", "style_layers"):
        if own[name] is not None:
            _layer_checker().check_layers(parse_layers(own[name]))
    if own["ratio"] is None:  # the page sets the ratio alone
        own["ratio"] = DEFAULT_RATIO
    return {"size": size, "preset": preset, "iterations": iterations, "seed": option(form, "seed"), **own}


@functools.lru_cache(maxsize=1)
def _layer_checker() -> FeatureExtractor:
    return FeatureExtractor("vgg16")


def blend_weights(texts: list[Any], count: int) -> list[float]:
    """One blend weight per style (default 1 each), checked as the engine checks a blend."""
    if texts and len(texts) != count:
        raise InputError(f"give one style_weight per style ({count}), got {len(texts)}")
    weights = []
    for text in texts or ["1"] * count:
        try:
            weights.append(float(text) if isinstance(text, str) else math.nan)
        except ValueError:
            weights.append(math.nan)
    normalize_blend([(None, w) for w in weights], "style")
    return weights


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
        try:  # from the header alone, before any decoding
            pixels = header_pixels(data, label, self.settings.max_pixels)
        except InputError as exc:
            raise TooLarge(str(exc)) from None
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


def _shrunk(image: Image.Image, size: int) -> Image.Image:
    """Downscale to `size` on the long side (what the engine would do), never upscale."""
    return resize_long_side(image, size) if max(image.size) > size else image


def build_spec(form: FormData, files: dict[int, tuple[bytes, str]], settings: WebSettings,
               uploads: Uploads) -> JobSpec:
    """Validate a submission; return the job spec."""
    unknown = sorted({key for key, _ in form.multi_items()} - set(FIELDS))
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(u[:40] for u in unknown)}: known are {', '.join(FIELDS)}")
    chosen = form_options(form, settings)
    size = min(settings.default_size, settings.max_size) if chosen["size"] is None else chosen["size"]
    preset, iterations = chosen["preset"], chosen["iterations"]
    if iterations is None:
        preset = preset or settings.default_preset
        iterations = settings.presets[preset]

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
    weights = blend_weights(form.getlist("style_weight"), len(styles))

    content, content_name = uploads.image(value(contents[0]), "photo", size)
    style_items, style_names = [], []
    for item, w in zip(styles, weights):
        image, name = uploads.image(value(item), "painting", size)
        style_items.append((image, w))
        style_names.append({**name, "weight": w})
    # With the default presets the engine runs its coarse-to-fine schedule for the preset; a
    # server configured with its own counts (settings.presets) runs them as plain iterations.
    if form.get("iterations") is None and settings.engine_presets():
        schedule = {"preset": preset}
    else:
        schedule = {"iterations": iterations}
    options = {"size": size, "seed": chosen["seed"], "ratio": chosen["ratio"], **schedule,
               "content_layers": chosen["content_layers"], "style_layers": chosen["style_layers"],
               "preserve_colors": chosen["preserve_colors"] or OPTIONS["preserve_colors"].default}
    return JobSpec(content=content, styles=style_items, iterations=iterations,
                   options={k: v for k, v in options.items() if v is not None},
                   inputs={"content": content_name, "styles": style_names})


async def read_body(request: Request, limit: int) -> bytes:
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
