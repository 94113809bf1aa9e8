"""Bad input gives one clear line, the right exit status, and writes nothing; unusual input works.

The matrix runs the real command line in-process (`run_cli`) on files generated here. For every
case and command it checks: the exit status (2: bad input or usage, 1: a runtime failure),
exactly one line on stderr, starting `stylesynth: error:` and naming the problem, no traceback,
nothing on stdout, and that the workspace is unchanged: no output file, no sidecar, checkpoint
or temporary file — and, in the `existing` variant, an output file that was already there is
byte-identical afterwards.

Input errors must be refused before any optimization starts: those cases run with
`synthesis.optimize` replaced by a guard that fails the test if it is ever reached. Runtime
cases (exit 1) run the real loop at 32 px for one iteration.

The measured results (case, command, exit status, message) are collected and written to
docs/robustness.md by the last test, so that document is generated, never hand-written, up to
its KEPT line: what follows it (cases measured by other tests and scripts) is kept as it is.
"""

from __future__ import annotations

import os
import shlex
import struct
import subprocess
import sys
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

import stylesynth.engine.synthesis
from stylesynth.io.images import open_image, read_params

from conftest import CONTENT, STYLE, WRITE_DOCS, run_cli, without_progress

pytestmark = pytest.mark.usefixtures("vgg16_weights")

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "robustness.md"
OUT = "out/result.png"
KEPT = "<!-- The sections below are not generated: test_robustness.py keeps them as they are. -->"
KNOWN = b"an existing output file: a failed run must leave these bytes alone\n\x00\xff" * 4
# Runtime cases really optimize: at 32 px, one scale, one iteration.
TINY = ["--size", "32", "--scales", "1", "--iterations", "1"]
# Valid unusual inputs: a short run at 64 px.
SMALL = ["--size", "64", "--scales", "1", "--iterations", "2"]

# (case, command) -> (exit status, stderr line, command line): filled by the matrix, written
# to docs/robustness.md by test_write_case_table.
RESULTS: dict[tuple[str, str], tuple[int, str, str]] = {}
# input name -> (command, exit status, output size, command line)
UNUSUAL: dict[str, tuple[str, int, str, str]] = {}


# --------------------------------------------------------------------------- input files


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: list[bytes]) -> bytes:
    """A PNG written by hand: IHDR, one IDAT of the filtered (filter 0) rows, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_bomb(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A valid 1-bit all-black PNG of width x height, compressed row block by row block: a few
    hundred KB on disk, 900 Mpx once decoded (Pillow would need GBs to write it)."""
    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 1000) for _ in range(height // 1000)]
    parts += [comp.compress(row * (height % 1000)), comp.flush()]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
                     + chunk(b"IEND", b""))


def gradient(width: int, height: int) -> Image.Image:
    """A smooth colour image with some structure (compresses well, any size)."""
    y, x = np.mgrid[0:height, 0:width]
    a = np.stack([255 * x / max(1, width - 1), 255 * y / max(1, height - 1),
                  127.5 + 127.5 * np.sin(x / 7.0) * np.cos(y / 5.0)], axis=-1)
    return Image.fromarray(a.round().astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Every input the cases name, generated once: good small images and bad files."""
    d = tmp_path_factory.mktemp("inputs")
    Image.open(CONTENT).convert("RGB").resize((128, 96), Image.LANCZOS).save(d / "photo.jpg", quality=90)
    Image.open(STYLE).convert("RGB").resize((128, 80), Image.LANCZOS).save(d / "painting.jpg", quality=90)
    (d / "folder").mkdir()
    (d / "empty.png").write_bytes(b"")
    data = CONTENT.read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "notes.png").write_text("shopping list: eggs, flour\nthis is not an image\n")
    write_bomb(d / "bomb.png")
    gradient(4000, 200).save(d / "wide.png")
    square = Image.new("RGB", (64, 64), (255, 255, 255))
    square.paste((0, 0, 0), (0, 0, 32, 64))
    square.save(d / "mask_square.png")
    return d


@pytest.fixture
def workspace(inputs, tmp_path, monkeypatch) -> Path:
    """A fresh directory, made the current one (messages name relative paths), with the inputs
    under `in/` and an empty `out/`."""
    (tmp_path / "in").symlink_to(inputs, target_is_directory=True)
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for root, dirs, _ in os.walk(tmp_path):  # undo chmod so the directory can be removed
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (not following `in/`) with its bytes; directories map to None."""
    found: dict[str, bytes | None] = {}
    for here, dirs, files in os.walk(root):
        rel = Path(here).relative_to(root)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d != "in"]
            files = [f for f in files if f != "in"]
        for name in dirs:
            found[str(rel / name)] = None
        for name in files:
            path = Path(here) / name
            found[str(rel / name)] = path.read_bytes() if os.access(path, os.R_OK) else b"?"
    return found


# --------------------------------------------------------------------------- the cases


def lock_directory(ws: Path, monkeypatch) -> None:
    """Make `locked/` unwritable. root ignores permission bits, so there `os.access` is made to
    answer what the bits say (the check under test is imageio.check_output_path's)."""
    locked = ws / "locked"
    locked.mkdir(exist_ok=True)
    locked.chmod(0o555)
    if os.geteuid() == 0:
        real = os.access

        def access(path, mode, *args, **kwargs):
            if Path(path).resolve() == locked.resolve() and mode & os.W_OK:
                return False
            return real(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)


def output_is_a_directory(ws: Path, monkeypatch) -> None:
    (ws / "out" / "result.png").mkdir()


def checkpoint_is_a_directory(ws: Path, monkeypatch) -> None:
    (ws / "out" / "result.png.ckpt").mkdir()


SYNTHESIS = ("transfer", "texture", "reconstruct")


def bad_image(path: str, commands=(*SYNTHESIS, "filter")) -> dict[str, list[str]]:
    """The same unreadable image as each command's input."""
    argv = {"transfer": ["transfer", path, "in/painting.jpg"], "texture": ["texture", path],
            "reconstruct": ["reconstruct", path], "filter": ["filter", path, "--kind", "blur"]}
    return {c: argv[c] for c in commands}


def good(*options: str, commands=SYNTHESIS) -> dict[str, list[str]]:
    """Valid inputs for each command, plus `options`."""
    argv = {"transfer": ["transfer", "in/photo.jpg", "in/painting.jpg"],
            "texture": ["texture", "in/painting.jpg"], "reconstruct": ["reconstruct", "in/photo.jpg"],
            "pattern": ["pattern", "--formula", "0.5+0.5*sin(10*r)", "--width", "16", "--height", "16"]}
    return {c: argv[c] + list(options) for c in commands}


def per_command(**argv: list[str]) -> dict[str, list[str]]:
    return dict(argv)


@dataclass(frozen=True)
class Case:
    name: str
    argv: dict[str, list[str]]  # command -> arguments (without -o)
    code: int  # 2: input/usage, 1: runtime
    needles: tuple[str, ...]  # what the message must say (case-insensitive)
    output: str | None = OUT  # the -o argument (None: leave -o out)
    setup: Callable | None = None  # (workspace, monkeypatch), after an existing output is made
    existing: bool = True  # whether the "existing output file" variant applies
    runs: bool = False  # reaches optimize(): the real loop runs (tiny sizes)


LAYER_LIST = ("valid layers are", "conv1_1", "conv5_3", "pool5")

CASES = [
    # -- input files
    Case("missing input file", bad_image("in/missing.jpg"), 2, ("no such file", "in/missing.jpg")),
    Case("missing style file", per_command(transfer=["transfer", "in/photo.jpg", "in/missing.jpg"]), 2,
         ("no such file", "in/missing.jpg")),
    Case("directory as input", bad_image("in/folder"), 2, ("in/folder is a directory",)),
    Case("empty file", bad_image("in/empty.png"), 2, ("empty file", "0 bytes")),
    Case("truncated JPEG", bad_image("in/truncated.jpg"), 2,
         ("in/truncated.jpg is truncated or corrupt", "re-export")),
    Case("text file named .png", bad_image("in/notes.png"), 2,
         ("in/notes.png is not an image", "use JPEG, PNG")),
    Case("decompression bomb (30000x30000 PNG, 110 KB)", bad_image("in/bomb.png"), 2,
         ("in/bomb.png is too large", "downscale")),
    # -- sizes and the network's receptive field
    Case("output too small for the deepest layer (--size 8)", good("--size", "8"), 2,
         ("too small for layer", "use a larger --size")),
    Case("4000x200 image at --size 64 (64x3 output)",
         {c: [c, "in/wide.png"] + (["in/painting.jpg"] if c == "transfer" else []) + ["--size", "64"]
          for c in SYNTHESIS}, 2, ("64x3 px", "too small for layer", "use a larger --size")),
    Case("size 0", good("--size", "0"), 2, ("size must be a positive number",)),
    Case("negative size", good("--size", "-5"), 2, ("size must be a positive number",)),
    Case("size not a number", good("--size", "big"), 2, ("'big' is not a size",)),
    Case("absurdly large size (100000)", good("--size", "100000"), 2, ("too large", "at most 8192")),
    Case("run beyond the memory budget", good("--size", "2048", "--device", "cpu", "--memory-limit", "512"),
         2, ("GiB", "use a smaller --size")),
    Case("bad --out-size", per_command(texture=["texture", "in/painting.jpg", "--out-size", "0x5"],
                                       transfer=["transfer", "in/photo.jpg", "in/painting.jpg",
                                                 "--out-size", "wide"]), 2,
         ("bad --out-size",)),
    # -- outputs
    Case("unwritable output directory", good(commands=(*SYNTHESIS, "pattern")), 2,
         ("output directory locked is not writable", "write elsewhere"),
         output="locked/result.png", setup=lock_directory),
    Case("output directory missing", good(commands=(*SYNTHESIS, "pattern")), 2,
         ("output directory nowhere does not exist", "create it"), output="nowhere/result.png",
         existing=False),
    Case("unsupported output extension (.gif)", good(commands=(*SYNTHESIS, "pattern")), 2,
         ("unsupported output format '.gif'", ".png"), output="out/result.gif"),
    Case("output without extension", good(commands=(*SYNTHESIS, "pattern")), 2,
         ("has no extension", ".png"), output="out/result"),
    Case("output is a directory", good(), 2, ("'--output'", "out/result.png' is a directory"),
         setup=output_is_a_directory, existing=False),
    Case("no -o", good(), 2, ("missing option", "--output"), output=None, existing=False),
    Case("unknown option", good("--colour", "red"), 2, ("no such option", "--colour")),
    Case("unknown --model", good("--model", "vgg99"), 2, ("'--model'", "vgg16")),
    # -- layers
    Case("unknown layer name", per_command(
        transfer=["transfer", "in/photo.jpg", "in/painting.jpg", "--style-layers", "conv1_1,conv9_9"],
        texture=["texture", "in/painting.jpg", "--layers", "conv9_9"],
        reconstruct=["reconstruct", "in/photo.jpg", "--layer", "conv9_9"]), 2,
        ("unknown layer 'conv9_9'",) + LAYER_LIST),
    Case("malformed layer weight", per_command(
        transfer=["transfer", "in/photo.jpg", "in/painting.jpg", "--content-layers", "conv4_2:xx"],
        texture=["texture", "in/painting.jpg", "--layers", "conv1_1:xx,"],
        reconstruct=["reconstruct", "in/photo.jpg", "--layer", "conv4_2:0.5x"]), 2,
        ("bad layer weight in 'conv", "write name:number")),
    Case("no layers", per_command(texture=["texture", "in/painting.jpg", "--layers", ","],
                                  reconstruct=["reconstruct", "in/photo.jpg", "--layer", " "]), 2,
         ("no layers given", "conv4_2")),
    # -- weights
    Case("negative layer weight", per_command(
        transfer=["transfer", "in/photo.jpg", "in/painting.jpg", "--style-layers", "conv1_1:-1,conv2_1"],
        texture=["texture", "in/painting.jpg", "--layers", "conv1_1:-0.5"],
        reconstruct=["reconstruct", "in/photo.jpg", "--layer", "conv4_2:-1"]), 2,
        ("layer weight for conv", "finite number >= 0")),
    Case("NaN layer weight", per_command(
        transfer=["transfer", "in/photo.jpg", "in/painting.jpg", "--style-layers", "conv1_1:nan"],
        texture=["texture", "in/painting.jpg", "--layers", "conv1_1:nan"],
        reconstruct=["reconstruct", "in/photo.jpg", "--layer", "conv4_2:nan"]), 2,
        ("finite number >= 0", "nan")),
    Case("negative image weight", per_command(
        transfer=["transfer", "in/photo.jpg", "in/painting.jpg:-1"],
        texture=["texture", "in/painting.jpg:-1"],
        reconstruct=["reconstruct", "in/photo.jpg:-1"]), 2, ("weights must be finite numbers >= 0",)),
    Case("NaN ratio", good("--ratio", "nan", commands=("transfer",)), 2, ("ratio must be a finite number",)),
    Case("ratio 0", good("--ratio", "0", commands=("transfer",)), 2, ("must be > 0", "--style-weight 0")),
    Case("negative content weight", good("--content-weight", "-1", commands=("transfer",)), 2,
         ("content weight must be a finite number >= 0",)),
    Case("both --ratio and --style-weight", good("--ratio", "1e-3", "--style-weight", "2",
                                                  commands=("transfer",)), 2, ("not both",)),
    Case("NaN --tv-weight", good("--tv-weight", "nan"), 2, ("tv weight must be a finite number",)),
    Case("negative --lr", good("--lr", "-1"), 2, ("learning rate must be a finite number > 0",)),
    Case("negative --memory-limit", good("--memory-limit", "-5"), 2,
         ("memory limit (MB) must be a finite number > 0",)),
    # -- iterations, scales, seeds
    Case("zero iterations", good("--iterations", "0"), 2, ("iterations must be at least 1",)),
    Case("iterations not a number", good("--iterations", "ten"), 2, ("bad iterations 'ten'", "N1,N2")),
    Case("zero scales", good("--scales", "0"), 2, ("scales must be at least 1",)),
    Case("a million scales", good("--scales", "1000000"), 2, ("scales must be a whole number", "at most")),
    Case("seed beyond 64 bits", good("--seed", str(10**30)), 2, ("seed must be a whole number",)),
    Case("a million threads", good("--threads", "1000000"), 2, ("threads must be a whole number", "at most")),
    Case("unknown --init", good("--init", "sparkles"), 2, ("unknown init 'sparkles'", "palette, content, noise, style")),
    Case("'--debug' as an option's value", good("--init", "--debug"), 2, ("unknown init '--debug'",)),
    # -- transfer's artist controls
    Case("no style image", per_command(transfer=["transfer", "in/photo.jpg"]), 2, ("no style image",)),
    Case("mask of the wrong shape", per_command(transfer=[
        "transfer", "in/photo.jpg", "--style", "in/painting.jpg", "--style", "in/photo.jpg",
        "--mask", "in/mask_square.png"]), 2, ("mask is 64x64", "make the mask the content's shape")),
    Case("style scale 0", good("--style-scale", "0", commands=("transfer",)), 2, ("style scale must be in",)),
    Case("checkpoint path is a directory", good("--checkpoint-every", "1", *TINY), 2,
         ("cannot write checkpoint out/result.png.ckpt", "is a directory"), setup=checkpoint_is_a_directory),
    # -- compose
    Case("formula syntax error", per_command(pattern=["pattern", "--formula", "sin(x", "--width", "16",
                                                      "--height", "16"]), 2,
         ("formula syntax error", "never closed")),
    Case("formula unknown function", per_command(pattern=["pattern", "--formula", "foo(x)", "--width", "16",
                                                          "--height", "16"]), 2,
         ("unknown function 'foo'", "allowed: abs")),
    Case("formula with two channels", per_command(pattern=["pattern", "--formula", "x;y", "--width", "16",
                                                           "--height", "16"]), 2,
         ("formula has 2 parts", "R;G;B")),
    # -- runtime failures (exit 1): while optimizing
    Case("loss not finite (--tv-weight 1e308)", good("--tv-weight", "1e308", *TINY), 1,
         ("loss is not finite", "check the inputs and weights"), runs=True),

]

MATRIX = [pytest.param(case, command, id=f"{case.name}-{command}")
          for case in CASES for command in case.argv]


def _must_not_optimize(*args, **kwargs):
    raise AssertionError("optimization started: an input error must be refused before it")


def measure(case: Case, command: str, ws: Path, monkeypatch, existing: bool, capsys):
    """Run one case in workspace `ws`; return (exit status, stdout, stderr, tree before, after)."""
    if existing:
        out = ws / case.output
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(KNOWN)
    if case.setup:
        case.setup(ws, monkeypatch)
    if not case.runs:
        monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", _must_not_optimize)
    argv = case.argv[command] + (["-o", case.output] if case.output else [])
    before = tree(ws)
    capsys.readouterr()
    code = run_cli(argv)
    captured = capsys.readouterr()
    after = tree(ws)
    if existing:
        assert (ws / case.output).read_bytes() == KNOWN
    return code, captured.out, captured.err, before, after, shlex.join(["stylesynth", *argv])


def check(case: Case, code: int, out: str, err: str, before, after) -> str:
    lines = err.strip("\n").split("\n")
    assert "Traceback" not in err and "Traceback" not in out
    assert len(lines) == 1, f"stderr should be one line, got {err!r}"
    line = lines[0]
    assert line.startswith("stylesynth: error: "), line
    for needle in case.needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in {line!r}"
    assert code == case.code, f"exit status {code}, expected {case.code}: {line}"
    assert out == ""
    assert after == before, "the failed run changed the workspace"
    return line


@pytest.mark.parametrize("case, command", MATRIX)
def test_bad_input_fails_cleanly(case, command, workspace, monkeypatch, capsys):
    """Nothing existed at the output path: nothing is created there (or anywhere)."""
    code, out, err, before, after, argv = measure(case, command, workspace, monkeypatch, False, capsys)
    line = check(case, code, out, err, before, after)
    assert case.output is None or not (workspace / case.output).is_file()
    RESULTS[(case.name, command)] = (code, line, argv)


@pytest.mark.parametrize("case, command", [p for p in MATRIX if p.values[0].existing])
def test_bad_input_keeps_existing_output(case, command, workspace, monkeypatch, capsys):
    """An output file that already existed is byte-identical after the failed run."""
    code, out, err, before, after, _ = measure(case, command, workspace, monkeypatch, True, capsys)
    check(case, code, out, err, before, after)


def test_debug_shows_the_traceback(workspace):
    """--debug: the same error comes with its traceback (the real entry point, a new process)."""
    argv = ["--debug", "transfer", "in/missing.jpg", "in/painting.jpg", "-o", OUT]
    done = subprocess.run([sys.executable, "-m", "stylesynth.cli", *argv], capture_output=True,
                          text=True, cwd=workspace, timeout=300)
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr
    assert "InputError: no such file: in/missing.jpg" in done.stderr
    assert not (workspace / OUT).exists()


# --------------------------------------------------------------------------- valid but unusual


def cmyk_jpeg(d: Path) -> Path:
    gradient(96, 72).convert("CMYK").save(d / "cmyk.jpg", quality=90)
    assert Image.open(d / "cmyk.jpg").mode == "CMYK"
    return d / "cmyk.jpg"


def grey16_png(d: Path) -> Path:
    a = (np.linspace(0, 65535, 96)[None, :] * np.linspace(0.2, 1, 64)[:, None]).astype(np.uint16)
    Image.fromarray(a).save(d / "grey16.png")
    assert Image.open(d / "grey16.png").mode.startswith("I")
    return d / "grey16.png"


def rgb16_png(d: Path) -> Path:
    """48-bit RGB (Pillow reads it but cannot write it): written by hand."""
    a = np.asarray(gradient(80, 60)).astype(np.uint16) * 257
    rows = [a[y].astype(">u2").tobytes() for y in range(60)]
    (d / "rgb16.png").write_bytes(png_bytes(80, 60, 16, 2, rows))
    return d / "rgb16.png"


def palette_png(d: Path) -> Path:
    img = gradient(64, 48).quantize(16)
    img.save(d / "palette.png", transparency=0)
    assert Image.open(d / "palette.png").mode == "P" and "transparency" in Image.open(d / "palette.png").info
    return d / "palette.png"


def exif_rotated_jpeg(d: Path) -> Path:
    """Stored 96x48 (landscape) with orientation 6: shown, and used, as 48x96 (portrait)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    gradient(96, 48).save(d / "rotated.jpg", quality=90, exif=exif.tobytes())
    return d / "rotated.jpg"


def corrupt_exif_jpeg(d: Path) -> Path:
    """EXIF whose IFD claims two entries but holds one: Pillow warns, the pixels are fine."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 2) + struct.pack(">HHIHH", 0x0112, 3, 1, 1, 0)
    gradient(96, 72).save(d / "bad_exif.jpg", quality=90, exif=b"Exif\x00\x00" + tiff)
    return d / "bad_exif.jpg"


def grey_jpeg(d: Path) -> Path:
    gradient(96, 72).convert("L").save(d / "grey.jpg", quality=90)
    return d / "grey.jpg"


FRAMES = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]


def animated(fmt: str, ext: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        frames = [Image.new("RGB", (80, 60), c) for c in FRAMES]
        frames[0].save(d / f"animated{ext}", format=fmt, save_all=True, append_images=frames[1:],
                       duration=100, loop=0)
        assert getattr(Image.open(d / f"animated{ext}"), "n_frames", 1) == 3
        # the first frame is the one used
        assert np.abs(np.asarray(open_image(d / f"animated{ext}"), dtype=int)[30, 40] - FRAMES[0]).max() < 12
        return d / f"animated{ext}"

    return make


def one_pixel(d: Path) -> Path:
    Image.new("RGB", (1, 1), (180, 120, 60)).save(d / "one.png")
    return d / "one.png"


def wide(d: Path) -> Path:
    gradient(4000, 200).save(d / "wide.png")
    return d / "wide.png"


UNUSUAL_CASES = [
    # name, make, command, options, expected output size
    ("CMYK JPEG", cmyk_jpeg, "transfer", SMALL, (64, 48)),
    ("16-bit grey PNG", grey16_png, "transfer", SMALL, (64, 43)),
    ("16-bit RGB PNG", rgb16_png, "transfer", SMALL, (64, 48)),
    ("palette PNG with transparency", palette_png, "transfer", SMALL, (64, 48)),
    ("EXIF-rotated JPEG (orientation 6)", exif_rotated_jpeg, "transfer", SMALL, (32, 64)),
    ("JPEG with corrupt EXIF", corrupt_exif_jpeg, "transfer", SMALL, (64, 48)),
    ("greyscale JPEG", grey_jpeg, "transfer", SMALL, (64, 48)),
    ("animated GIF (first frame)", animated("GIF", ".gif"), "transfer", SMALL, (64, 48)),
    ("animated WebP (first frame)", animated("WEBP", ".webp"), "transfer", SMALL, (64, 48)),
    ("1x1 image (upsampled)", one_pixel, "transfer", SMALL, (64, 64)),
    ("1x1 image (upsampled)", one_pixel, "texture", SMALL, (64, 64)),
    ("1x1 image (upsampled)", one_pixel, "reconstruct", SMALL, (64, 64)),
    ("4000x200 image at --size 512", wide, "transfer", ["--size", "512", "--scales", "1", "--iterations", "1"],
     (512, 26)),
]


def run_unusual(name, make, command, options, expected, d: Path, capsys) -> None:
    source = make(d).name
    argv = [command, source] + (["in/painting.jpg"] if command == "transfer" else []) + ["-o", OUT, *options]
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = run_cli(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # (pytest records warnings, so they would not show in captured.err: check them here)
    assert not [w for w in caught if "PIL" in Path(w.filename).parts], [str(w.message) for w in caught]
    assert without_progress(captured.err) == "" and "Traceback" not in captured.out
    assert captured.out.strip() == OUT
    with Image.open(d / OUT) as result:
        assert result.size == expected
    assert read_params(d / OUT)["mode"] == command
    UNUSUAL[f"{name} ({command})"] = (command, code, f"{expected[0]}x{expected[1]}",
                                      shlex.join(["stylesynth", *argv]))


@pytest.mark.parametrize("name, make, command, options, expected", UNUSUAL_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in UNUSUAL_CASES])
def test_unusual_input_works(name, make, command, options, expected, workspace, capsys):
    run_unusual(name, make, command, options, expected, workspace, capsys)


def test_too_small_for_a_wide_image_names_the_fix(workspace, capsys, monkeypatch):
    """4000x200 (20:1) needs 16 px a side for relu5_1: --size 300 (300x15) is refused, asking for
    a larger --size; --size 320 (320x16) works."""
    real = stylesynth.engine.synthesis.optimize
    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", _must_not_optimize)
    code = run_cli(["transfer", "in/wide.png", "in/painting.jpg", "-o", OUT, "--size", "300"])
    err = capsys.readouterr().err
    assert code == 2 and "300x15 px, too small for layer relu5_1 (it needs 16 px a side)" in err
    assert "use a larger --size" in err and not (workspace / OUT).exists()
    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", real)
    assert run_cli(["transfer", "in/wide.png", "in/painting.jpg", "-o", OUT, "--size", "320",
                    "--scales", "1", "--iterations", "1"]) == 0
    with Image.open(workspace / OUT) as result:
        assert result.size == (320, 16)


# --------------------------------------------------------------------------- the table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def test_write_case_table(inputs, tmp_path_factory, capsys):
    """docs/robustness.md from the measured results (cases not run yet in this session are run
    now, so the table is always complete)."""
    for case in CASES:
        for command in case.argv:
            if (case.name, command) not in RESULTS:
                ws = tmp_path_factory.mktemp("table")
                (ws / "in").symlink_to(inputs, target_is_directory=True)
                (ws / "out").mkdir()
                with pytest.MonkeyPatch.context() as mp:
                    mp.chdir(ws)
                    code, out, err, before, after, argv = measure(case, command, ws, mp, False, capsys)
                    RESULTS[(case.name, command)] = (code, check(case, code, out, err, before, after), argv)
                for root, dirs, _ in os.walk(ws):
                    for name in dirs:
                        os.chmod(os.path.join(root, name), 0o755)
    for name, make, command, options, expected in UNUSUAL_CASES:
        if f"{name} ({command})" not in UNUSUAL:
            ws = tmp_path_factory.mktemp("unusual")
            (ws / "in").symlink_to(inputs, target_is_directory=True)
            (ws / "out").mkdir()
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(ws)
                run_unusual(name, make, command, options, expected, ws, capsys)

    lines = [
        "# Robustness: bad input and unusual input",
        "",
        "Generated by `tests/test_robustness.py` from the results it measured: every case runs the",
        "real command line on files generated by the test (inputs under `in/`, output `out/`).",
        "Do not edit by hand up to the sections measured elsewhere (at the end); run",
        "`STYLESYNTH_WRITE_DOCS=1 python -m pytest tests/test_robustness.py` to regenerate it.",
        "",
        "Every failing case prints exactly the one line shown on stderr (no traceback; `--debug`",
        "shows it), exits with status 2 (bad input or usage) or 1 (a runtime failure), creates no",
        "file, and leaves an existing output file byte-identical. Input errors are refused before",
        "any optimization starts.",
        "",
        "## Bad input",
        "",
        "| case | command | exit | message (stderr) | command line |",
        "| --- | --- | --- | --- | --- |",
    ]
    for case in CASES:
        for command in case.argv:
            code, message, argv = RESULTS[(case.name, command)]
            lines.append(f"| {_cell(case.name)} | {command} | {code} | {_cell(message)} | `{_cell(argv)}` |")
    lines += [
        "",
        "## Valid but unusual input",
        "",
        "Each runs `transfer`/`texture`/`reconstruct` for a few iterations and must succeed with",
        "nothing on stderr but the progress summary and an output of the size shown.",
        "",
        "| input | command | exit | output size | command line |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, _, command, _, _ in UNUSUAL_CASES:
        command, code, size, argv = UNUSUAL[f"{name} ({command})"]
        lines.append(f"| {_cell(name)} | {command} | {code} | {size} | `{_cell(argv)}` |")
    kept = DOC.read_text(encoding="utf-8").partition(KEPT)[1:] if DOC.exists() else ()
    text = "\n".join(lines) + "\n" + "".join(kept)
    if WRITE_DOCS:  # never by default: a test run leaves the working tree as it was
        DOC.write_text(text, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == text, \
        f"{DOC.name} is out of date: STYLESYNTH_WRITE_DOCS=1 python -m pytest {Path(__file__).name} rewrites it"
    assert len(RESULTS) == sum(len(c.argv) for c in CASES)
