"""Fuzzing the image loader and the option parser: bad input only ever takes the clean error path.

* The loader (`imageio.open_image`) on random bytes, on random bytes behind a valid PNG, JPEG,
  GIF, WebP, BMP or TIFF header, and on real small files with bytes flipped, cut or inserted
  after their signature: it returns an RGB image or raises InputError with one line; nothing
  else escapes, and no warning leaks out (on the command line it would be extra stderr lines).
* Output paths spelled relative to the inputs (the same name, `./`, `..`, absolute, through a
  symlinked folder, a symlink or a hard link to the input, or a new name), for every command
  that reads images and writes one: an output that is an input is refused with exit 2 and one
  line, and no input ever changes (issue 33).
* The command line (`transfer`, `texture`, `reconstruct`) with random option names and values:
  it exits 0, or 1/2 with exactly one `stylesynth: error:` line — never a traceback, never
  another exception. Everything up to the optimization runs for real (option parsing, every
  check, image loading, the network, the targets, the memory plan); `optimize` itself is
  replaced by a stub that returns its start image at once, so a valid combination costs a
  fraction of a second, and saving, the record, --json, --loss-plot and snapshots still run.

Hypothesis runs derandomized (the same examples every time) without a database.
"""

from __future__ import annotations

import hashlib
import io
import os
import string
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

import stylesynth.engine.synthesis
from stylesynth.errors import InputError
from stylesynth.io.images import open_image
from stylesynth.engine.optimize import Result, Step

from conftest import CONTENT, STYLE, run_cli, without_progress

COMMON = dict(deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
LOADER = settings(max_examples=150, **COMMON)
OPTIONS = settings(max_examples=200, **COMMON)


# --------------------------------------------------------------------------- the loader


SUFFIXES = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ico", ".ppm",
            ".psd", ".txt", ".PNG", ""]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# Valid headers (signature and the first fixed fields, small sizes) that random bytes follow.
PREFIXES = {
    ".png": b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 12, 8, 2, 0, 0, 0)),
    ".png-palette": b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 12, 8, 3, 0, 0, 0)),
    ".jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    ".gif": b"GIF89a\x10\x00\x0c\x00\xf0\x00\x00",
    ".webp": b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    ".bmp": b"BM" + struct.pack("<IHHI", 1000, 0, 0, 54) + struct.pack("<IiiHH", 40, 16, 12, 1, 24),
    ".tiff": b"II*\x00\x08\x00\x00\x00",
}


def _small_files() -> dict[str, bytes]:
    """Real 24x18 files of each format, the seeds that the mutation fuzzer damages."""
    img = Image.open(CONTENT).convert("RGB").resize((24, 18))
    files = {}
    for name, fmt, source, options in [
        (".png", "PNG", img, {}), (".jpg", "JPEG", img, {"quality": 80}),
        (".progressive.jpg", "JPEG", img, {"quality": 80, "progressive": True}),
        (".gif", "GIF", img, {}), (".webp", "WEBP", img, {"quality": 80}),
        (".lossless.webp", "WEBP", img, {"lossless": True}), (".bmp", "BMP", img, {}),
        (".tiff", "TIFF", img, {}), (".palette.png", "PNG", img.quantize(16), {"transparency": 0}),
        (".grey16.png", "PNG", Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257), {}),
        (".cmyk.jpg", "JPEG", img.convert("CMYK"), {}),
    ]:
        buffer = io.BytesIO()
        source.save(buffer, format=fmt, **options)
        files[name] = buffer.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif.tobytes())
    files[".exif.jpg"] = buffer.getvalue()
    frames = [img, img.rotate(90), img.rotate(180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    files[".animated.gif"] = buffer.getvalue()
    return files


SEEDS = _small_files()
# How many leading bytes the mutations leave alone: the signature stays valid.
SIGNATURE = {".png": 8, ".gif": 6, ".webp": 12, ".bmp": 2, ".tiff": 4, ".jpg": 2}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def load(directory: Path, data: bytes, suffix: str) -> str:
    """open_image on `data` saved as input<suffix>: an RGB image or one InputError line, nothing
    else, and no warning escapes."""
    path = directory / f"input{suffix}"
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = open_image(path)
        except InputError as e:
            message = str(e)
            assert message and "\n" not in message and e.exit_code == 2
            outcome = "error"
        else:
            assert isinstance(image, Image.Image) and image.mode == "RGB"
            assert image.width >= 1 and image.height >= 1
            outcome = "image"
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return outcome


@LOADER
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES))
def test_loader_random_bytes(scratch, data, suffix):
    event(load(scratch, data, suffix))


@LOADER
@given(kind=st.sampled_from(sorted(PREFIXES)), tail=st.binary(max_size=4096),
       suffix=st.sampled_from([None, ".png", ".jpg", ".txt"]))
def test_loader_valid_header_then_random_bytes(scratch, kind, tail, suffix):
    """A real header gets random bytes past the format check, into the decoders."""
    event(load(scratch, PREFIXES[kind] + tail, suffix or kind.split("-")[0]))


@LOADER
@given(name=st.sampled_from(sorted(SEEDS)),
       edits=st.lists(st.tuples(st.sampled_from(["set", "insert", "delete"]), st.integers(0, 2**20),
                                st.binary(min_size=1, max_size=8)), min_size=1, max_size=4),
       cut=st.integers(0, 3).flatmap(lambda k: st.integers(0, 2**20) if k == 0 else st.none()))
def test_loader_damaged_real_files(scratch, name, edits, cut):
    """Real small files of every format, damaged after their signature: set, inserted or deleted
    bytes and truncation reach the headers, the metadata (EXIF) and the compressed data."""
    data = bytearray(SEEDS[name])
    keep = SIGNATURE["." + name.rsplit(".", 1)[-1]]
    for op, where, payload in edits:
        at = keep + where % max(1, len(data) - keep)
        if op == "set":
            data[at:at + len(payload)] = payload
        elif op == "insert":
            data[at:at] = payload
        else:
            del data[at:at + len(payload)]
    if cut is not None:
        data = data[:keep + cut % max(1, len(data) - keep)]
    event(load(scratch, bytes(data), "." + name.rsplit(".", 1)[-1]))


def test_loader_corrupt_exif_is_silent(scratch):
    """Pillow warns about EXIF it has to skip (found by the mutation fuzzer): the image loads,
    and the warning must not leak out as extra stderr lines."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 2) + struct.pack(">HHIHH", 0x0112, 3, 1, 1, 0)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, format="JPEG", exif=b"Exif\x00\x00" + tiff)
    assert load(scratch, buffer.getvalue(), ".jpg") == "image"


def test_loader_fuzz_reaches_images(scratch):
    """The seeds decode, so the mutations start from images the decoders accept."""
    for name, data in SEEDS.items():
        assert load(scratch, data, "." + name.rsplit(".", 1)[-1]) == "image", name


# --------------------------------------------------------------------------- the command line


LAYERS = ["conv1_1", "relu2_1", "conv3_1", "pool4", "conv4_2", "conv5_1", "pool5", "conv9_9",
          "fc7", "CONV1_1", ""]
GARBAGE = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " é\t", max_size=10)


def _num(*values) -> st.SearchStrategy[str]:
    return st.sampled_from([str(v) for v in values])


INTS = st.one_of(st.integers(-3, 70).map(str), st.integers(10**6, 10**30).map(str),
                 st.integers(-10**30, -10**6).map(str), GARBAGE)
FLOATS = st.one_of(_num("nan", "inf", "-inf", "1e308", "-1", "0", "1e-3", "0.5", "1e30", "-0"),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr), GARBAGE)
WEIGHT = st.one_of(st.just(""), FLOATS.map(lambda v: ":" + v))
LAYER_SPEC = st.one_of(
    st.lists(st.tuples(st.sampled_from(LAYERS), WEIGHT).map("".join), min_size=0, max_size=4)
    .flatmap(lambda items: st.sampled_from([",", ", ", ",,"]).map(lambda sep: sep.join(items)))
    .flatmap(lambda spec: st.sampled_from(["", ","]).map(lambda end: spec + end)),
    GARBAGE)
# Sizes stay small (the runs are real up to the optimization) or are out of range.
SIZE = st.one_of(st.integers(16, 64).map(str), _num(0, -1, 8, 1, 9000, 10**9, 10**40, "original"), GARBAGE)
OUT_SIZE = st.one_of(st.tuples(st.integers(-2, 64), st.integers(-2, 64)).map(lambda t: f"{t[0]}x{t[1]}"),
                     _num("64", "x", "64x", "x64", "64X48", "1e2x50", "64x48x3"), GARBAGE)
PATHS = st.one_of(_num("in/photo.jpg", "in/painting.jpg", "in/missing.jpg", "in", "in/notes.png",
                       "in/photo.jpg:0.5", "in/photo.jpg:-1", "in/photo.jpg:nan", ":", ""), GARBAGE)
OUTPUTS = st.one_of(_num("out.png", "out.jpg", "out.webp", "out.gif", "out", "missing/out.png", "in",
                         ".png", "out.PNG"), GARBAGE.map(lambda s: s + ".png"))

SHARED = {
    "--size": SIZE, "--preset": st.one_of(_num("draft", "fast", "quality", "single", "classic"), GARBAGE),
    "--scales": INTS, "--iterations": st.one_of(INTS, st.lists(st.integers(-1, 5).map(str), max_size=5)
                                               .map(",".join)),
    "--optimizer": st.one_of(_num("lbfgs", "adam", "gd"), GARBAGE), "--lr": FLOATS, "--seed": INTS,
    "--tv-weight": FLOATS, "--model": st.one_of(_num("vgg16"), GARBAGE),  # others would download
    "--pooling": st.one_of(_num("max", "avg"), GARBAGE),
    "--device": st.one_of(_num("auto", "cpu", "cuda", "mps"), GARBAGE),
    "--threads": st.one_of(_num(-1, 0, 1, 2, 5000, 10**30), GARBAGE),  # no thousand real threads
    # ~user paths: see test_weights_path_with_unknown_user
    "--memory-limit": INTS, "--weights": PATHS.filter(lambda p: not p.startswith("~")),
    "--snapshot-every": INTS,
    "--loss-plot": st.one_of(_num("plot.png", "plot.gif", "plot"), GARBAGE),
    "--checkpoint-every": INTS, "-o": OUTPUTS, "--output": OUTPUTS,
    "--quiet": None, "--json": None, "--resume": None,
    "--init": st.one_of(_num("noise", "content", "style", "in/photo.jpg", "in/notes.png"), GARBAGE),
}
PER_COMMAND = {
    "transfer": {
        "--style": PATHS, "--ratio": FLOATS, "--content-weight": FLOATS, "--style-weight": FLOATS,
        "--content-layers": LAYER_SPEC, "--style-layers": LAYER_SPEC,
        "--preserve-colors": st.one_of(_num("none", "luminance", "histogram"), GARBAGE),
        "--style-scale": st.one_of(_num("0.5", "1", "2", "0", "-1", "nan", "9", "1e-9"), GARBAGE),
        "--mask": PATHS, "--out-size": OUT_SIZE, "--crop": None, "--pad": None,
    },
    "texture": {"--layers": LAYER_SPEC, "--out-size": OUT_SIZE},
    "reconstruct": {"--layer": LAYER_SPEC},
}
POSITIONAL = {"transfer": ["in/photo.jpg", "in/painting.jpg"], "texture": ["in/painting.jpg"],
              "reconstruct": ["in/photo.jpg"]}
NOISE_TOKENS = st.one_of(_num("--colour", "-x", "--size=abc", "--size=32", "--", "-", "-h", "--debug"),
                         GARBAGE)


@st.composite
def command_lines(draw) -> list[str]:
    command = draw(st.sampled_from(sorted(PER_COMMAND)))
    options = {**SHARED, **PER_COMMAND[command]}
    positional = list(POSITIONAL[command])
    if draw(st.booleans()) and draw(st.booleans()):  # now and then, other positionals
        positional = draw(st.lists(PATHS, max_size=3))
    # Small by default; the random options come after and win (click keeps the last value).
    argv = [command, *positional, "-o", "out.png", "--size", "48", "--quiet"]
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 9)) == 0:
            argv.append(draw(NOISE_TOKENS))
            continue
        name = draw(st.sampled_from(sorted(options)))
        argv.append(name)
        if options[name] is not None:
            argv.append(draw(options[name]))
    if draw(st.integers(0, 19)) == 0:
        argv.pop()  # an option left without its value
    return argv


def _stub_optimize(image, objective, *, iterations, on_step=None, **kwargs) -> Result:
    """optimize() that returns its start image at once (one reported step, one history entry)."""
    if on_step is not None:
        on_step(Step(1, iterations, 1.0, {"content": 0.5, "style": 0.5}, image.detach()))
    return Result(image=image.detach().clone(), loss=1.0, parts={"content": 0.5, "style": 0.5},
                  iterations=1, evaluations=1, seconds=0.0,
                  history=[{"iteration": 1, "loss": 1.0, "content": 0.5, "style": 0.5}])


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    (d / "in").mkdir()
    Image.open(CONTENT).convert("RGB").resize((64, 48)).save(d / "in" / "photo.jpg")
    Image.open(STYLE).convert("RGB").resize((64, 40)).save(d / "in" / "painting.jpg")
    (d / "in" / "notes.png").write_text("not an image\n")
    return d


def _cli(argv: list[str], capsys, record_event: bool = True) -> None:
    capsys.readouterr()
    try:
        code = run_cli(argv)
    except BaseException as e:  # run_cli turns SystemExit into its code: anything else is a bug
        raise AssertionError(f"{type(e).__name__} escaped from the CLI for {argv}: {e}") from e
    captured = capsys.readouterr()
    if record_event:
        event(f"exit {code}")
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, argv
    if code == 0:
        assert all(line.startswith("stylesynth: warning: ") for line in without_progress(captured.err).splitlines()), \
            (argv, captured.err)
        return
    assert code in (1, 2), (argv, code, captured.err)
    lines = captured.err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("stylesynth: error: "), (argv, captured.err)


@OPTIONS
@given(argv=command_lines())
def test_cli_random_options(argv, cli_dir, monkeypatch, capsys):
    monkeypatch.chdir(cli_dir)
    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", _stub_optimize)
    _cli(argv, capsys)


# --------------------------------------------------------------------------- output paths vs inputs


@pytest.fixture(scope="module")
def aliases_dir(tmp_path_factory) -> Path:
    """A photo and a painting under in/, and other names of the photo: a symlinked folder, a
    symlink and a hard link. (Its own folder: a command may rewrite what it does not read.)"""
    d = tmp_path_factory.mktemp("paths")
    (d / "in").mkdir()
    Image.open(CONTENT).convert("RGB").resize((64, 48)).save(d / "in" / "photo.jpg")
    Image.open(STYLE).convert("RGB").resize((64, 40)).save(d / "in" / "painting.jpg")
    (d / "alias").symlink_to("in", target_is_directory=True)
    (d / "link.jpg").symlink_to("in/photo.jpg")
    os.link(d / "in" / "photo.jpg", d / "hard.jpg")
    return d


INPUT_NAMES = ["in/photo.jpg", "in/painting.jpg"]
SPELLINGS = {  # name -> another spelling of it (the same file)
    "same": lambda d, name: name,
    "dot": lambda d, name: f"./{name}",
    "dotdot": lambda d, name: f"in/../{name}",
    "absolute": lambda d, name: str(d / name),
    "symlinked folder": lambda d, name: name.replace("in/", "alias/"),
    "symlink": lambda d, name: "link.jpg" if name == "in/photo.jpg" else name,
    "hard link": lambda d, name: "hard.jpg" if name == "in/photo.jpg" else name,
    "new file": lambda d, name: f"new-{Path(name).stem}.jpg",
}
READERS = {  # command -> its arguments before -o (every one reads in/photo.jpg, most also the painting)
    "transfer": ["transfer", "in/photo.jpg", "in/painting.jpg", "--size", "48", "--quiet"],
    "texture": ["texture", "in/painting.jpg", "--init", "in/photo.jpg", "--size", "48", "--quiet"],
    "reconstruct": ["reconstruct", "in/photo.jpg", "--size", "48", "--quiet"],
    "filter": ["filter", "in/photo.jpg", "--kind", "blur"],
    "blend": ["blend", "in/photo.jpg", "in/painting.jpg"],
}


def _digests(d: Path, names: list[str]) -> dict[str, str]:
    return {name: hashlib.sha256((d / name).read_bytes()).hexdigest() for name in names}


@settings(max_examples=60, **COMMON)
@given(command=st.sampled_from(sorted(READERS)), target=st.sampled_from(INPUT_NAMES),
       spelling=st.sampled_from(sorted(SPELLINGS)), where=st.sampled_from(["-o", "--loss-plot"]))
def test_output_paths_relative_to_inputs(command, target, spelling, where, aliases_dir, monkeypatch, capsys):
    monkeypatch.chdir(aliases_dir)
    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", _stub_optimize)
    path = SPELLINGS[spelling](aliases_dir, target)
    writes = ["-o", path] if where == "-o" or command in ("filter", "blend") else \
        ["-o", "result.png", "--loss-plot", path]
    inputs = [name for name in INPUT_NAMES if name in READERS[command]]
    collides = spelling != "new file" and target in inputs  # every other spelling reaches `target`
    before = _digests(aliases_dir, inputs)
    capsys.readouterr()
    code = run_cli(READERS[command] + writes)
    err = capsys.readouterr().err
    event(f"{'an input' if collides else 'not an input'}: exit {code}")
    assert _digests(aliases_dir, inputs) == before, (writes, err)  # the command's inputs never change
    assert "Traceback" not in err, writes
    lines = err.strip("\n").split("\n")
    if collides:
        assert code == 2 and len(lines) == 1 and "is an input of this command" in lines[0], (writes, err)
    else:
        assert code == 0, (writes, err)
    assert os.path.samefile(aliases_dir / "hard.jpg", aliases_dir / "in" / "photo.jpg")  # never replaced


# --------------------------------------------------------------------------- found by fuzzing


@pytest.mark.parametrize("argv", [
    ["transfer", "in/photo.jpg", "in/painting.jpg", "-o", "out.png", "--out-size", "64x99999999999999999999"],
    ["texture", "in/painting.jpg", "-o", "out.png", "--out-size", "64x99999999999999999999"],
], ids=["transfer", "texture"])
def test_huge_out_size_is_refused(argv, cli_dir, monkeypatch, capsys):
    monkeypatch.chdir(cli_dir)
    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", _stub_optimize)
    _cli(argv, capsys, record_event=False)


def test_weights_path_with_unknown_user(cli_dir, monkeypatch, capsys):
    monkeypatch.chdir(cli_dir)
    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", _stub_optimize)
    _cli(["transfer", "in/photo.jpg", "in/painting.jpg", "-o", "out.png", "--size", "48",
          "--weights", "~no_such_user_here/vgg16.pth"], capsys, record_event=False)
