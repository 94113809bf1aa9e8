"""Tests for stylesynth.io.images on real files written into tmp_path."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from stylesynth.io import images as imageio
from stylesynth.errors import InputError, StylesynthError
from stylesynth.io.images import (
    check_output_path,
    load_image,
    open_image,
    read_params,
    resize_long_side,
    save_image,
    to_pil,
    to_tensor,
)

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)


def noise(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    """A random RGB image (incompressible, so a cut file really is cut mid-data)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def close(a, b, tol: int = 2) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def header(path) -> tuple[str, dict]:
    """Mode and info of a file as Pillow reads it, closing the file."""
    with Image.open(path) as img:
        return img.mode, dict(img.info)


def assert_rgb(img: Image.Image, size=None) -> None:
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    if size is not None:
        assert img.size == size


def input_error(source) -> str:
    """open_image(source) must raise InputError; return its message after checking the basics."""
    with pytest.raises(InputError) as info:
        open_image(source)
    msg = str(info.value)
    assert "\n" not in msg
    assert type(info.value) is InputError and info.value.exit_code == 2
    return msg


def png_header_only_bomb(path, width: int, height: int) -> None:
    """A valid 1-bit PNG of width x height, written row by row (all black, a few hundred KB)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    block = row * 1000
    parts = [comp.compress(block) for _ in range(height // 1000)]
    parts.append(comp.compress(row * (height % 1000)))
    parts.append(comp.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "ext, options, tol",
    [
        (".jpg", {"quality": 95}, 12),
        (".png", {}, 0),
        (".webp", {"lossless": True}, 0),
        (".webp", {"quality": 90}, 16),
        (".bmp", {}, 0),
        (".tiff", {}, 0),
        (".tif", {"compression": "tiff_lzw"}, 0),
    ],
)
def test_formats_round_trip(tmp_path, ext, options, tol):
    src = Image.new("RGB", (40, 30), (200, 60, 20))
    src.paste(BLUE, (0, 0, 20, 30))
    path = tmp_path / f"img{ext}"
    src.save(path, **options)
    img = open_image(path)
    assert_rgb(img, (40, 30))
    assert close(img.getpixel((30, 15)), (200, 60, 20), tol)
    assert close(img.getpixel((5, 15)), BLUE, tol)


def test_path_as_str_and_pathlib(tmp_path):
    path = tmp_path / "a.png"
    noise().save(path)
    assert open_image(str(path)).tobytes() == open_image(path).tobytes() == noise().tobytes()


def test_png_16bit_grayscale_scaled_to_8bit(tmp_path):
    a = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(a).save(path)
    assert header(path)[0].startswith("I")  # really a 16-bit file
    img = open_image(path)
    assert_rgb(img, (4, 1))
    got = [img.getpixel((x, 0)) for x in range(4)]
    assert got[0] == (0, 0, 0)
    assert got[1] == (1, 1, 1)
    assert all(abs(c - 128) <= 1 for c in got[2])
    assert got[3] == WHITE


def test_tiff_16bit_grayscale(tmp_path):
    path = tmp_path / "g16.tif"
    Image.fromarray(np.array([[65535, 32768]], dtype=np.uint16)).save(path)
    img = open_image(path)
    assert img.getpixel((0, 0)) == WHITE and abs(img.getpixel((1, 0))[0] - 128) <= 1


def test_png_16bit_rgb(tmp_path):
    # Pillow cannot write 16-bit RGB, so hand-write a 1x1 one: (65535, 32768, 0).
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00" + struct.pack(">HHH", 65535, 32768, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    path = tmp_path / "rgb16.png"
    path.write_bytes(data)
    assert close(open_image(path).getpixel((0, 0)), (255, 128, 0), 1)


def test_animated_gif_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    first, second = Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    with Image.open(path) as check:
        assert check.n_frames == 2
    img = open_image(path)
    assert_rgb(img, (16, 16))
    assert img.getpixel((8, 8)) == RED


def test_animated_webp_first_frame(tmp_path):
    path = tmp_path / "anim.webp"
    first, second = Image.new("RGB", (16, 16), GREEN), Image.new("RGB", (16, 16), BLUE)
    first.save(path, save_all=True, append_images=[second], duration=100, lossless=True)
    with Image.open(path) as check:
        assert check.n_frames == 2
    img = open_image(path)
    assert_rgb(img, (16, 16))
    assert img.getpixel((8, 8)) == GREEN


# --------------------------------------------------------------------------- modes


def test_mode_L(tmp_path):
    path = tmp_path / "l.png"
    Image.new("L", (4, 4), 77).save(path)
    assert open_image(path).getpixel((1, 1)) == (77, 77, 77)


def test_mode_1(tmp_path):
    src = Image.new("1", (4, 4), 0)
    src.putpixel((1, 1), 1)
    path = tmp_path / "bw.png"
    src.save(path)
    img = open_image(path)
    assert img.getpixel((1, 1)) == WHITE and img.getpixel((0, 0)) == (0, 0, 0)


def test_mode_P(tmp_path):
    src = Image.new("P", (4, 4), 1)
    src.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    path = tmp_path / "p.png"
    src.save(path)
    assert header(path)[0] == "P"
    assert open_image(path).getpixel((2, 2)) == (10, 200, 30)


@pytest.mark.parametrize("ext", [".png", ".gif"])
def test_mode_P_with_transparency_goes_white(tmp_path, ext):
    src = Image.new("P", (4, 4), 1)
    src.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    src.putpixel((0, 0), 0)
    path = tmp_path / f"pt{ext}"
    src.save(path, transparency=0)
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" in check.info
    img = open_image(path)
    assert img.getpixel((0, 0)) == WHITE  # transparent index 0 (black) -> white
    assert img.getpixel((2, 2)) == (10, 200, 30)


def test_mode_LA(tmp_path):
    src = Image.new("LA", (4, 4), (100, 255))
    src.putpixel((0, 0), (0, 0))
    path = tmp_path / "la.png"
    src.save(path)
    img = open_image(path)
    assert img.getpixel((0, 0)) == WHITE and img.getpixel((2, 2)) == (100, 100, 100)


def test_mode_RGBA_composited_on_white(tmp_path):
    src = Image.new("RGBA", (4, 4), (200, 0, 50, 128))
    src.putpixel((0, 0), (0, 0, 0, 0))
    src.putpixel((1, 0), (10, 20, 30, 255))
    path = tmp_path / "rgba.png"
    src.save(path)
    img = open_image(path)
    a = 128 / 255
    expected = tuple(a * c + (1 - a) * 255 for c in (200, 0, 50))
    got = img.getpixel((2, 2))
    assert all(abs(g - e) <= 1.5 for g, e in zip(got, expected, strict=True)), (got, expected)
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((1, 0)) == (10, 20, 30)


def test_mode_RGBA_webp(tmp_path):
    path = tmp_path / "rgba.webp"
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(path, lossless=True)
    assert open_image(path).getpixel((1, 1)) == WHITE


def test_mode_CMYK_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    assert header(path)[0] == "CMYK"
    img = open_image(path)
    assert_rgb(img, (16, 16))
    assert close(img.getpixel((8, 8)), RED, 8)


def test_in_memory_modes():
    i16 = Image.fromarray(np.array([[65535, 32768]], dtype=np.uint16))
    assert i16.mode == "I;16"
    got = open_image(i16)
    assert got.getpixel((0, 0)) == WHITE and abs(got.getpixel((1, 0))[0] - 128) <= 1
    i32 = Image.new("I", (1, 1), 65535)
    assert open_image(i32).getpixel((0, 0)) == WHITE
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert f.mode == "F"
    assert [open_image(f).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    rgba = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert open_image(rgba).getpixel((0, 0)) == WHITE


def test_exif_transpose_applied_to_pil_input_once(tmp_path):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 20)).save(path, exif=exif)
    with Image.open(path) as raw:
        assert open_image(raw).size == (20, 40)
    assert open_image(open_image(path)).size == (20, 40)  # no second rotation


# --------------------------------------------------------------------------- EXIF


@pytest.mark.parametrize(
    "orientation, corner",
    [
        (1, (0, 0)),  # stored as shown: top-left stays top-left (40x20)
        (6, (19, 0)),  # rotate 90 clockwise: top-left -> top-right
        (8, (0, 39)),  # rotate 90 counter-clockwise: top-left -> bottom-left
        (3, (39, 19)),  # rotate 180: top-left -> bottom-right
    ],
)
def test_exif_orientation(tmp_path, orientation, corner):
    src = Image.new("RGB", (40, 20), (0, 0, 0))
    src.paste(RED, (0, 0, 6, 6))  # mark the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    src.save(path, exif=exif, quality=95)
    img = open_image(path)
    assert img.size == ((20, 40) if orientation in (6, 8) else (40, 20))
    x, y = corner
    # Step 2 px inwards from the corner, away from JPEG edge ringing.
    x = x + 2 if x == 0 else x - 2
    y = y + 2 if y == 0 else y - 2
    assert close(img.getpixel((x, y)), RED, 30)
    # The opposite corner is black.
    w, h = img.size
    assert close(img.getpixel((w - 1 - x, h - 1 - y)), (0, 0, 0), 30)


# --------------------------------------------------------------------------- tensors, arrays


def test_to_tensor_shape_dtype_range():
    t = to_tensor(noise(7, 5))
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert 0.0 <= t.min() and t.max() <= 1.0


def test_tensor_round_trip_exact():
    img = noise(33, 17, seed=3)
    all_values = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).convert("RGB")
    for src in (img, all_values):
        assert to_pil(to_tensor(src)).tobytes() == src.tobytes()
        assert to_pil(to_tensor(src)[0]).tobytes() == src.tobytes()


def test_to_pil_clamps_rounds_and_detaches():
    t = torch.tensor([-0.5, 2.0, 0.5 / 255, 1.5 / 255, 100.4 / 255]).reshape(1, 5).expand(3, 1, 5)
    t = t.clone().requires_grad_(True)
    img = to_pil(t * 1.0)
    # Half-to-even: 0.5 -> 0, 1.5 -> 2 (floating point may nudge, so allow both neighbours).
    values = [img.getpixel((x, 0))[0] for x in range(5)]
    assert values[:2] == [0, 255] and values[2] in (0, 1) and values[3] in (1, 2) and values[4] == 100
    with pytest.raises(ValueError):
        to_pil(torch.zeros(4, 2, 2))


def test_open_tensor_and_arrays():
    img = noise(6, 4)
    assert open_image(to_tensor(img)).tobytes() == img.tobytes()
    assert open_image(to_tensor(img)[0]).tobytes() == img.tobytes()
    a = np.asarray(img)
    assert open_image(a).tobytes() == img.tobytes()
    assert open_image(a.astype(np.float32) / 255).tobytes() == img.tobytes()
    grey = open_image(np.full((4, 6), 9, np.uint8))
    assert_rgb(grey, (6, 4)) and grey.getpixel((0, 0)) == (9, 9, 9)
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert open_image(rgba).getpixel((0, 0)) == WHITE
    with pytest.raises(InputError):
        open_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(InputError):
        open_image(np.full((2, 2, 3), 200.0))  # float 0..255 instead of [0, 1]
    with pytest.raises(InputError):
        open_image(torch.zeros(1, 4, 2, 2))
    with pytest.raises(TypeError):
        open_image(42)


# --------------------------------------------------------------------------- resizing


@pytest.mark.parametrize(
    "size, target, expected",
    [((400, 100), 200, (200, 50)), ((100, 400), 200, (50, 200)), ((300, 200), 600, (600, 400)),
     ((1000, 3), 100, (100, 1)), ((64, 64), 64, (64, 64))],
)
def test_resize_long_side(size, target, expected):
    img = resize_long_side(Image.new("RGB", size), target)
    assert img.size == expected
    # Aspect ratio kept: the short side is the exact scaled value, rounded (at least 1 px).
    long_side, short_side = max(size), min(size)
    assert max(img.size) == target
    assert min(img.size) == max(1, round(short_side * target / long_side))
    assert (img.size[0] >= img.size[1]) == (size[0] >= size[1])


def test_resize_none_and_bad_size(tmp_path):
    img = noise()
    assert resize_long_side(img, None) is img
    for bad in (0, -5, 2.5, True):
        with pytest.raises(InputError):
            resize_long_side(img, bad)
    path = tmp_path / "n.png"
    noise(400, 100).save(path)
    assert load_image(path, 200).size == (200, 50) and load_image(path).size == (400, 100)


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    msg = input_error(tmp_path / "nope.png")
    assert "no such file" in msg and "nope.png" in msg


def test_directory(tmp_path):
    d = tmp_path / "adir.png"
    d.mkdir()
    msg = input_error(d)
    assert "adir.png" in msg and "directory" in msg


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    msg = input_error(path)
    assert "empty.jpg" in msg and "empty" in msg


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\nreally\n")
    msg = input_error(path)
    assert "notes.png" in msg and "not an image" in msg


@pytest.mark.parametrize("fmt, ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("GIF", ".gif")])
def test_truncated(tmp_path, fmt, ext):
    full = tmp_path / f"full{ext}"
    noise(128, 128).save(full, fmt)
    data = full.read_bytes()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])
    msg = input_error(path)
    assert f"cut{ext}" in msg and ("truncated" in msg or "corrupt" in msg)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


def test_corrupt_png_crc(tmp_path):
    path = tmp_path / "bad.png"
    noise().save(path)
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # inside the IDAT chunk
    path.write_bytes(bytes(data))
    assert "bad.png" in input_error(path)


def test_random_garbage_after_valid_header(tmp_path):
    path = tmp_path / "garbage.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    assert "garbage.jpg" in input_error(path)


def test_decompression_bomb_refused_from_header(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    png_header_only_bomb(path, 30000, 30000)  # 900 Mpx, beyond Pillow's own hard limit too
    assert path.stat().st_size < 1_000_000
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1) or real_load(self))
    start = time.perf_counter()
    msg = input_error(path)
    assert time.perf_counter() - start < 1.0
    assert "bomb.png" in msg and loads == []


def test_just_over_max_pixels_refused(tmp_path, monkeypatch):
    # 10001 x 10000 is over our limit but under Pillow's hard one: our check must catch it.
    path = tmp_path / "big.png"
    png_header_only_bomb(path, 10_001, 10_000)
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1) or real_load(self))
    msg = input_error(path)
    assert "big.png" in msg and "100,000,000" in msg and loads == []


def test_limit_is_max_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100)
    path = tmp_path / "small.png"
    Image.new("RGB", (10, 10)).save(path)
    assert open_image(path).size == (10, 10)
    Image.new("RGB", (11, 10)).save(path)
    assert "small.png" in input_error(path)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    noise().save(path)
    path.chmod(0)
    try:
        assert "secret.png" in input_error(path)
    finally:
        path.chmod(0o644)


def test_unreadable_file_reported(tmp_path, monkeypatch):
    # Runs as root too: make opening the file fail with EACCES.
    path = tmp_path / "locked.png"
    noise().save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(imageio, "open", denied, raising=False)
    msg = input_error(path)
    assert "locked.png" in msg and "Permission denied" in msg


# --------------------------------------------------------------------------- saving


def test_save_png_params_round_trip(tmp_path):
    params = {"mode": "style", "steps": 300, "weights": [1.0, 0.5], "path": tmp_path, "name": "café"}
    path = save_image(noise(), tmp_path / "out.png", params)
    assert path == tmp_path / "out.png"
    assert open_image(path).tobytes() == noise().tobytes()
    got = read_params(path)
    assert got == json.loads(json.dumps(params, sort_keys=True, default=str))
    assert got["path"] == str(tmp_path)
    assert header(path)[1]["stylesynth"] == json.dumps(params, sort_keys=True, default=str)
    assert not (tmp_path / "out.png.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".webp", ".JPG"])
def test_save_sidecar(tmp_path, ext):
    params = {"seed": 1, "style": "a.jpg"}
    out = tmp_path / f"out{ext}"
    smooth = noise(8, 6).resize((64, 48), Image.Resampling.BICUBIC)  # lossy codecs like smooth
    save_image(to_tensor(smooth), out, params)
    sidecar = tmp_path / f"out{ext}.json"
    assert json.loads(sidecar.read_text()) == params
    assert read_params(out) == params
    img = open_image(out)
    assert img.size == smooth.size
    assert np.abs(np.asarray(img, int) - np.asarray(smooth, int)).mean() < 4  # quality 95
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, sidecar.name])


def test_save_without_params(tmp_path):
    save_image(noise(), tmp_path / "a.png")
    assert read_params(tmp_path / "a.png") is None
    save_image(noise(), tmp_path / "b.jpg", {"x": 1})
    save_image(noise(), tmp_path / "b.jpg")  # a stale sidecar would describe the wrong run
    assert read_params(tmp_path / "b.jpg") is None
    assert not (tmp_path / "b.jpg.json").exists()


def test_save_converts_modes(tmp_path):
    save_image(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), tmp_path / "a.jpg")
    assert close(open_image(tmp_path / "a.jpg").getpixel((1, 1)), WHITE, 2)
    save_image(Image.new("RGBA", (4, 4), (1, 2, 3, 4)), tmp_path / "a.png")
    assert header(tmp_path / "a.png")[0] == "RGBA"  # PNG keeps alpha
    save_image(Image.new("P", (4, 4)), tmp_path / "p.webp")
    assert open_image(tmp_path / "p.webp").size == (4, 4)


def test_save_file_mode_follows_umask(tmp_path):
    path = save_image(noise(), tmp_path / "m.png")
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("name", ["out.xyz", "out.gif", "out"])
def test_unsupported_extension_writes_nothing(tmp_path, name):
    with pytest.raises(InputError) as info:
        save_image(noise(), tmp_path / name, {"a": 1})
    msg = str(info.value)
    assert "\n" not in msg and ".png, .jpg or .webp" in msg
    if name == "out.xyz":
        assert msg == "unsupported output format '.xyz': use .png, .jpg or .webp"
    assert list(tmp_path.iterdir()) == []


def test_check_output_path(tmp_path):
    assert check_output_path(tmp_path / "x.png") == tmp_path / "x.png"
    assert check_output_path(str(tmp_path / "x.WEBP")) == tmp_path / "x.WEBP"
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InputError, match="directory"):
        check_output_path(tmp_path / "d.png")
    with pytest.raises(InputError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "x.png")
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a directory"):
        check_output_path(tmp_path / "file" / "x.png")


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(InputError) as info:
        save_image(noise(), tmp_path / "nope" / "out.png", {"a": 1})
    assert "nope" in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root writes anywhere")
def test_save_into_unwritable_directory(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        with pytest.raises(InputError, match="not writable"):
            save_image(noise(), d / "out.png")
    finally:
        d.chmod(0o755)


def test_unwritable_directory_reported(tmp_path, monkeypatch):
    # Runs as root too: pretend the directory refuses writes.
    monkeypatch.setattr(imageio.os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="not writable"):
        save_image(noise(), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [OSError("No space left on device"), RuntimeError("encoder bug")])
@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_failed_save_keeps_old_file(tmp_path, monkeypatch, error, ext):
    target = tmp_path / f"out{ext}"
    save_image(noise(seed=1), target, {"run": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_save(self, fp, format=None, **kwargs):
        fp.write(b"\x89PNG partial data" * 100)  # some bytes reach the temp file first
        raise error

    monkeypatch.setattr(Image.Image, "save", broken_save)
    expected = StylesynthError if isinstance(error, OSError) else RuntimeError
    with pytest.raises(expected) as info:
        save_image(noise(seed=2), target, {"run": 2})
    if expected is StylesynthError:
        assert type(info.value) is StylesynthError and f"out{ext}" in str(info.value)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # same files, byte-identical, no temp files left


def test_concurrent_saves_do_not_interfere(tmp_path):
    images = {f"out{i}.png": noise(seed=i) for i in range(8)}
    errors = []

    def work(name, img):
        try:
            save_image(img, tmp_path / name, {"name": name})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=item) for item in images.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(images)
    for name, img in images.items():
        assert open_image(tmp_path / name).tobytes() == img.tobytes()
        assert read_params(tmp_path / name) == {"name": name}


def test_read_params_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_params(tmp_path / "none.png")
    fake = tmp_path / "fake.png"
    fake.write_text("not a png")
    with pytest.raises(InputError, match="fake.png"):
        read_params(fake)
    jpg = tmp_path / "x.jpg"
    noise().save(jpg)
    assert read_params(jpg) is None
    (tmp_path / "x.jpg.json").write_text("{broken")
    with pytest.raises(InputError, match="x.jpg"):
        read_params(jpg)
