"""Help that says what the command does: each mode's --preset text is the schedule it runs,
--size original works wherever it is offered, the figure's layer names, batch's -o/--output."""

from __future__ import annotations

import math
import re

import pytest
from PIL import Image

import stylesynth.engine.synthesis
from stylesynth.cli import _Size, cli
from stylesynth.modes.figures import FIGURE_LAYERS
from stylesynth.engine.optimize import Result, Step
from stylesynth.pyramid import PRESETS

from conftest import CONTENT, STYLE, run_cli


def _help(command: str, capsys) -> str:
    capsys.readouterr()
    assert run_cli([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # click's wrapping undone


def _no_optimization(image, objective, *, iterations, on_step=None, **_):
    """optimize() that only counts: the schedule, not the picture, is under test."""
    for i in range(iterations):
        on_step(Step(iteration=i + 1, iterations=iterations, loss=1.0, parts={}, image=image))
    return Result(image=image, loss=1.0, parts={}, iterations=iterations, evaluations=iterations, seconds=0.0)


def _said(text: str, preset: str) -> tuple[int, list[int] | None]:
    """From the help: where the pyramid starts (px) and a function of the scale count giving
    the iterations per scale, coarse to fine."""
    start = int(re.search(r"doubling from about (\d+) px", text).group(1))
    one = re.search(rf"{preset}: (\d+) iterations at one scale", text)
    two = re.search(rf"{preset}: (\d+) iterations, then (\d+) at each finer scale", text)
    three = re.search(rf"{preset}: (\d+) iterations, (\d+) at each scale up to (\d+) px, (\d+) at the finest", text)
    assert [one, two, three].count(None) == 2, (preset, text)
    if one:
        return start, lambda sizes: [int(one.group(1))]
    if two:
        first, finer = int(two.group(1)), int(two.group(2))
        return start, lambda sizes: [first] + [finer] * (len(sizes) - 1)
    first, between, up_to, finest = (int(g) for g in three.groups())
    return start, lambda sizes: ([first] + [between if max(s) <= up_to else finest for s in sizes[1:-1]]
                                 + [finest])


@pytest.mark.usefixtures("vgg16_weights")
@pytest.mark.parametrize("command, inputs", [("transfer", [CONTENT, STYLE]), ("texture", [STYLE]),
                                             ("reconstruct", [CONTENT])])
def test_each_modes_preset_help_is_the_schedule_it_runs(command, inputs, tmp_path, monkeypatch, capsys):
    text = _help(command, capsys)
    monkeypatch.setattr(stylesynth.engine.synthesis, "optimize", _no_optimization)
    for preset in PRESETS:
        start, counts = _said(text, preset)
        for size in (256, 384, 512):
            out = tmp_path / f"{preset}-{size}.png"
            assert run_cli([command, *inputs, "-o", out, "--size", size, "--preset", preset, "--quiet"]) == 0
            schedule = stylesynth.read_params(out)["schedule"]
            sizes = [tuple(s) for s, _ in schedule]
            assert [n for _, n in schedule] == counts(sizes), (command, preset, size, schedule, text)
            if len(sizes) > 1:  # "from about START px": half the output's size, never below START
                # "about": within 1.5x (halving 384 px from noise stops at 96 px, over 64 px)
                assert abs(math.log2(max(sizes[0]) / min(start, size / 2))) <= math.log2(1.5) + 1e-9, \
                    (command, preset, sizes)
                assert max(sizes[0]) >= min(start, size / 2), (command, preset, sizes)


@pytest.mark.usefixtures("vgg16_weights")
def test_size_original_works_wherever_it_is_offered(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.open(CONTENT).convert("RGB").resize((90, 66)).save(photo)
    runs = {
        "transfer": [photo, STYLE, "--scales", "1", "--iterations", "1"],
        "texture": [photo, "--scales", "1", "--iterations", "1"],
        "reconstruct": [photo, "--scales", "1", "--iterations", "1"],
        "dream": [photo, "--octaves", "1", "--iterations", "1"],
    }
    offered = {name for name, command in cli.commands.items()
               if any(isinstance(p.type, _Size) for p in command.params)}
    # video and batch take transfer's --size (their own tests run it); every other is run here
    assert offered == set(runs) | {"video", "batch"}, offered
    for command, args in runs.items():
        out = tmp_path / f"{command}.png"
        code = run_cli([command, *args, "--size", "original", "-o", out, "--quiet"])
        assert code == 0, (command, capsys.readouterr().err)
        with Image.open(out) as result:
            assert result.size == (90, 66), command


def test_figure_help_names_the_layers_the_sheet_shows(capsys):
    text = _help("figure", capsys)
    assert f"{FIGURE_LAYERS[0]}..{FIGURE_LAYERS[-1]}" in text and "conv1_1" not in text


@pytest.mark.parametrize("flag", ["-o", "--output", "--output-dir"])
def test_batch_names_its_folder_as_every_command_names_its_output(flag, tmp_path, capsys):
    code = run_cli(["batch", tmp_path / "missing.jpg", "--style", STYLE, flag, tmp_path / "out"])
    err = capsys.readouterr().err
    assert code == 2 and "missing.jpg" in err and "No such option" not in err, err
