"""Image loading, saving and metadata.

Everything that touches image files goes through here, so that the rest of the
package only ever sees RGB images (PIL) or 1x3xHxW float tensors in [0, 1], and
every bad file becomes one `InputError` line instead of a Pillow traceback.

Saving is atomic (temporary file + os.replace), and the parameters of a run
are stored with the result: in a PNG text chunk, or in a `<output>.json`
sidecar for JPEG and WebP.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from ..errors import InputError, StylesynthError

if TYPE_CHECKING:  # loaded by the functions that take tensors: the command line's help does without
    import torch

# Larger images are refused before decoding: 100 MP of RGB is 300 MB as bytes
# and 1.2 GB as a float tensor, far beyond what style transfer can use.
MAX_PIXELS = 100_000_000

NAME_MAX = 250  # bytes of a file name: 255 on common file systems, less room for OUT.json

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

PARAMS_KEY = "stylesynth"  # PNG text chunk key holding the run's parameters
WHITE = (255, 255, 255)

# mkstemp creates files with mode 0600; results should get the usual mode the
# user's umask gives (e.g. 0644). The umask can only be read by setting it, so
# read it once at import rather than racing other threads on every save.
UMASK = os.umask(0o022)
os.umask(UMASK)


def one_line(text: str) -> str:
    """Collapse whitespace so an error message is always a single line."""
    return " ".join(str(text).split())


# --------------------------------------------------------------------------- loading


def open_image(source: Any) -> Image.Image:
    """Return `source` as an RGB PIL image.

    `source` is a path (str or Path), a PIL image, a tensor (3xHxW or 1x3xHxW,
    float in [0, 1]) or a numpy array (HxW, HxWx1, HxWx3 or HxWx4; uint8,
    uint16 or float in [0, 1]). Files honour EXIF orientation; animated files
    give their first frame; alpha is composited on white.
    """
    if isinstance(source, (str, os.PathLike)):
        return _open_file(Path(source))
    if isinstance(source, Image.Image):
        return _decode("image", lambda: _to_rgb(_transposed(source)))
    if _is_tensor(source):
        t = source[0] if source.dim() == 4 and source.shape[0] == 1 else source
        if t.dim() != 3 or t.shape[0] != 3 or not t.is_floating_point():
            raise InputError(
                f"expected a float tensor of shape 3xHxW or 1x3xHxW in [0, 1], "
                f"got {source.dtype} of shape {tuple(source.shape)}"
            )
        return to_pil(t)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    raise TypeError(f"cannot open an image from {type(source).__name__}")


def _open_file(path: Path) -> Image.Image:
    """Open, fully decode and convert one image file; every failure is an InputError."""
    if not path.exists():
        raise InputError(one_line(f"no such file: {path}"))
    if path.is_dir():
        raise InputError(one_line(f"{path} is a directory, not an image file"))
    if not path.is_file():  # opening a FIFO would wait for a writer forever
        raise InputError(one_line(f"{path} is not a regular file (a pipe or a device), not an image file"))
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(one_line(f"cannot read {path}: {exc.strerror or exc}")) from None
    with fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise InputError(one_line(f"{path} is an empty file (0 bytes), not an image"))

        def decode() -> Image.Image:
            # Our own MAX_PIXELS check below is the limit; Pillow's warning
            # (at ~89 MP) would only add noise for images we accept.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(fh)
            check_pixels(path, img.size)  # from the header, before decoding
            # Force the full decode here, so truncated data fails now, as an
            # InputError, and not later inside the model.
            img.load()
            return _to_rgb(_transposed(img))

        return _decode(path, decode)


def _decode(name: Any, decode: Callable[[], Image.Image]) -> Image.Image:
    """Run Pillow's decoding and turn anything it raises into one InputError line."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (UserWarning) about damaged metadata it skips, e.g. corrupt EXIF or
            # TIFF tags: the pixels still load, and a warning would add lines to the one-line
            # error (or the clean output) of the command line.
            warnings.simplefilter("ignore", UserWarning)
            return decode()
    except InputError:
        raise
    except Image.UnidentifiedImageError:
        raise InputError(
            one_line(
                f"{name} is not an image or its format is not recognised: "
                f"use JPEG, PNG, WebP, BMP, TIFF or GIF"
            )
        ) from None
    except Image.DecompressionBombError:
        raise InputError(
            one_line(f"{name} is too large to open safely (over {MAX_PIXELS:,} pixels): "
                      f"downscale it first")
        ) from None
    except Exception as exc:  # noqa: BLE001
        # Pillow's decoders raise a zoo of types on bad data (OSError,
        # SyntaxError, ValueError, struct.error, EOFError, IndexError, ...).
        # Whatever it is, the file is at fault, not the program.
        reason = one_line(str(exc)) or type(exc).__name__
        raise InputError(
            one_line(f"{name} is truncated or corrupt ({reason}): re-export or re-download it")
        ) from None


def check_pixels(name: Any, size: tuple[int, int], limit: int | None = None) -> int:
    """Refuse images over `limit` pixels (default MAX_PIXELS, read at the call) using the size in
    the header alone; return the pixels. The one pixel limit check (the studio's uploads use it too)."""
    limit = MAX_PIXELS if limit is None else limit
    width, height = size
    if width * height > limit:
        raise InputError(
            one_line(
                f"{name} is {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{limit:,}: downscale it first"
            )
        )
    return width * height


def header_pixels(data: bytes, name: Any, limit: int | None = None) -> int:
    """The pixels of the image in `data` from its header alone (nothing is decoded), refused
    over `limit` (default MAX_PIXELS); 0 when there is no header to read (the loader says why)."""
    limit = MAX_PIXELS if limit is None else limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                size = img.size
    except Image.DecompressionBombError:
        raise InputError(one_line(f"{name} is too large to open safely (over {limit:,} pixels): "
                                  "downscale it first")) from None
    except Exception:  # noqa: BLE001 - not an image: the loader says why
        return 0
    return check_pixels(name, size, limit)


def _transposed(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, so photos come out the way they are shown."""
    return ImageOps.exif_transpose(img)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; alpha (or a transparent colour) goes on white."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = _high_depth_to_l(img)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float grey to 8 bits (Pillow's own convert clips at 255)."""
    return Image.fromarray(_to_uint8(np.asarray(img)))


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """Scale an array to uint8: integers are taken as 16-bit, floats as [0, 1].

    Floats whose maximum is above 1 are taken as already in [0, 255].
    """
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):  # 16-bit (I;16) or 32-bit (I) grey
        return np.rint(np.clip(a, 0, 65535) / 257.0).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
        scale = 1.0 if a.size and np.nanmax(a) > 1.0 else 255.0
        return np.rint(np.clip(a * scale, 0, 255)).astype(np.uint8)
    raise InputError(f"unsupported array dtype {a.dtype}: use uint8, uint16 or float in [0, 1]")


def _from_array(a: np.ndarray) -> Image.Image:
    """Build an RGB image from an HxW or HxWxC (C in 1, 3, 4) array."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or 0 in a.shape:
        raise InputError(f"expected an HxW or HxWx3 image array, got shape {a.shape}")
    if a.dtype not in (np.uint8, np.uint16, np.bool_) and a.dtype.kind != "f":
        raise InputError(f"unsupported array dtype {a.dtype}: use uint8, uint16 or float in [0, 1]")
    check_pixels("array", (a.shape[1], a.shape[0]))
    if a.dtype.kind == "f" and a.size and np.nanmax(a) > 1.0:
        raise InputError("float image arrays must be in [0, 1]: divide 0..255 data by 255")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(_to_uint8(a))))


def resize_long_side(img: Image.Image, size: int | None) -> Image.Image:
    """Resize so the longer side is `size` pixels (LANCZOS, aspect ratio kept); None: unchanged."""
    if size is None:
        return img
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InputError(f"image size must be a positive whole number of pixels, got {size!r}")
    width, height = img.size
    if max(width, height) == size:
        return img
    if width >= height:
        new = (size, max(1, round(height * size / width)))
    else:
        new = (max(1, round(width * size / height)), size)
    return img.resize(new, Image.Resampling.LANCZOS)


def load_image(source: Any, size: int | None = None) -> Image.Image:
    """open_image, then resize_long_side."""
    return resize_long_side(open_image(source), size)


# --------------------------------------------------------------------------- tensors


def _is_tensor(x: Any) -> bool:
    """A torch tensor (without importing torch: where it is not loaded, nothing is a tensor)."""
    return "torch" in sys.modules and isinstance(x, sys.modules["torch"].Tensor)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> float32 tensor of shape 1x3xHxW with values in [0, 1]."""
    if img.mode != "RGB":
        img = _to_rgb(img)
    import torch

    a = np.array(img, dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor (1x3xHxW or 3xHxW) -> RGB PIL image.

    Values are clamped to [0, 1], scaled by 255 and rounded half-to-even
    (torch.round), so to_pil(to_tensor(img)) gives back a uint8 image exactly.
    """
    import torch

    t = t.detach()
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a tensor of shape 3xHxW or 1x3xHxW, got {tuple(t.shape)}")
    t = t.to("cpu", torch.float32).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return Image.fromarray(t.permute(1, 2, 0).contiguous().numpy())


# --------------------------------------------------------------------------- saving


def check_output_path(path: str | os.PathLike) -> Path:
    """Check that `path` can be written, before any long computation starts."""
    p = Path(path)
    ext = p.suffix.lower()
    if not ext:
        raise InputError(one_line(f"output file {p} has no extension: use .png, .jpg or .webp"))
    if ext not in SAVE_FORMATS:
        raise InputError(one_line(f"unsupported output format '{ext}': use .png, .jpg or .webp"))
    if len(os.fsencode(p.name)) > NAME_MAX:
        raise InputError(one_line(f"output file name {p.name[:40]}... is {len(os.fsencode(p.name))} bytes "
                                   f"long, over the {NAME_MAX} this tool allows: give a shorter name"))
    if p.is_dir():
        raise InputError(one_line(f"output path {p} is a directory: give a file name, e.g. {p / 'out.png'}"))
    parent = p.parent
    if not parent.exists():
        raise InputError(one_line(f"output directory {parent} does not exist: create it first"))
    if not parent.is_dir():
        raise InputError(one_line(f"cannot write {p}: {parent} is not a directory"))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(one_line(f"output directory {parent} is not writable: write elsewhere "
                                   f"or change its permissions"))
    return p


def save_image(img: Any, path: str | os.PathLike, params: dict | None = None) -> Path:
    """Save `img` (PIL image or tensor) atomically, with `params` embedded; return the path.

    PNG stores the parameters in a text chunk; JPEG and WebP (quality 95) in a
    `<path>.json` sidecar. A failure leaves any existing file untouched.
    """
    p = check_output_path(path)
    fmt = SAVE_FORMATS[p.suffix.lower()]
    if _is_tensor(img):
        img = to_pil(img)
    elif not isinstance(img, Image.Image):
        img = open_image(img)
    keep = ("RGB", "L") if fmt == "JPEG" else ("RGB", "RGBA", "L", "LA")
    if img.mode not in keep:
        img = _to_rgb(img)

    text = None if params is None else json.dumps(params, sort_keys=True, default=str)
    options: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG" and text is not None:
        info = PngInfo()
        info.add_text(PARAMS_KEY, text)  # tEXt, or iTXt if not Latin-1
        options["pnginfo"] = info

    writes = [(p, lambda fh: img.save(fh, format=fmt, **options))]
    record = sidecar(p)
    if fmt != "PNG" and text is not None:
        if record.is_dir():
            raise StylesynthError(one_line(f"could not write {record}: it is a directory"))
        writes.append((record, lambda fh: fh.write(text.encode("utf-8") + b"\n")))
    # Image and record as one: both are written in full before either replaces its old file,
    # so a failure (a full disk, say) leaves the previous pair as it was.
    _atomic_write_all(writes)
    if fmt != "PNG" and text is None:
        # A sidecar left from an earlier run would describe the wrong image.
        record.unlink(missing_ok=True)
    return p


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write `data` as indented JSON, atomically (see _atomic_write)."""
    p = Path(path)
    text = json.dumps(data, indent=1, sort_keys=True, default=str) + "\n"
    _atomic_write(p, lambda fh: fh.write(text.encode("utf-8")))
    return p


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """Write one file atomically (see _atomic_write_all)."""
    _atomic_write_all([(path, write)])


def _atomic_write_all(writes: list[tuple[Path, Callable[[Any], Any]]]) -> None:
    """Write each file via a unique hidden temporary file in its directory, then os.replace
    them all, once every one is complete.

    Readers never see a half-written file, existing files survive any failure while writing
    (no temporary file stays behind), and concurrent saves to different outputs in one
    directory never share a temporary name.
    """
    temporary: list[tuple[str, Path]] = []
    try:
        for path, write in writes:
            try:
                fd, tmp = tempfile.mkstemp(prefix=".stylesynth-", suffix=".tmp", dir=path.parent)
            except OSError as exc:
                raise StylesynthError(one_line(f"could not write {path}: {exc}")) from exc
            temporary.append((tmp, path))
            try:
                with os.fdopen(fd, "wb") as fh:
                    write(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o666 & ~UMASK)
            except OSError as exc:  # disk full, permissions, ...: the user can act on it
                raise StylesynthError(one_line(f"could not write {path}: {exc}")) from exc
        while temporary:
            tmp, path = temporary[0]
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise StylesynthError(one_line(f"could not write {path}: {exc}")) from exc
            temporary.pop(0)
    finally:
        for tmp, _ in temporary:  # those not in place: a failure
            try:
                os.unlink(tmp)
            except OSError:
                pass


def sidecar(path: str | os.PathLike) -> Path:
    """`out.jpg` -> `out.jpg.json`: where the record of a JPEG or WebP result goes."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def needs_sidecar(path: str | os.PathLike) -> bool:
    """Whether a result saved at `path` keeps its record beside it (not in a PNG chunk)."""
    return SAVE_FORMATS.get(Path(path).suffix.lower(), "PNG") != "PNG"


def read_params(path: str | os.PathLike) -> dict | None:
    """Read the parameters saved with an image (PNG text chunk, else sidecar); None if absent."""
    p = Path(path)
    if not p.is_file():
        raise InputError(one_line(f"no such file: {p}"))
    text = None
    if p.suffix.lower() == ".png":

        def chunk() -> Any:
            # Our chunk precedes the image data, so the header read finds it
            # without decoding any pixels.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(p) as img:
                    return img.info.get(PARAMS_KEY)

        try:
            text = chunk()
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            raise InputError(one_line(f"cannot read parameters from {p}: {exc}")) from None
    beside = sidecar(p)
    if text is None and beside.is_file():
        text = beside.read_text(encoding="utf-8")
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(one_line(f"parameters stored with {p} are not valid JSON: {exc}")) from None
