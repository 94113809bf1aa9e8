"""Weighted inversion (Phon-Amnuaisuk Eq. 5): several styles (or contents) blend their targets.

With the real VGG16 at 96 px and few iterations. Acceptance: at weights 1:0 the result is
bit-identical to the single-source run with the same seed; at 0.5:0.5 the style loss against
each style lies strictly between the two single-style results' (measured values in the notes
at the end of this file).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import stylesynth
from stylesynth.cli import _weighted
from stylesynth.io.images import load_image, to_tensor
from stylesynth.engine.objective import (DEFAULT_STYLE_LAYERS, GatysObjective, LossWeights, content_targets,
                                  parse_layers, style_targets)
from stylesynth.options import RunOptions
from stylesynth.nets.pretrained import shared_network

from conftest import CONTENT, EXAMPLES, STYLE, run_cli

pytestmark = pytest.mark.usefixtures("vgg16_weights")
OTHER = EXAMPLES / "woman-with-hat-matisse.jpg"  # a second style, far from The Starry Night's
SIZE = 96
RUN = dict(size=SIZE, iterations=20, seed=0, progress=False)


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


def style_loss(image: Image.Image, style) -> float:
    """Style loss (Eq. 5, default layers) of `image` against `style` seen at SIZE long side."""
    net = shared_network("vgg16", RunOptions.pooling, "auto", None)
    targets = style_targets(net, [(to_tensor(load_image(style, SIZE)), 1.0)], parse_layers(DEFAULT_STYLE_LAYERS))
    with torch.no_grad():
        return GatysObjective(net, LossWeights(0.0, 1.0), style_targets=targets)(to_tensor(image))[1]["style"]


def content_loss(image: Image.Image, content, layer: str) -> float:
    net = shared_network("vgg16", RunOptions.pooling, "auto", None)
    source = to_tensor(load_image(content, SIZE).resize(image.size, Image.LANCZOS))
    targets = content_targets(net, [(source, 1.0)], parse_layers(layer))
    with torch.no_grad():
        return GatysObjective(net, LossWeights(1.0, 0.0), content_targets=targets)(to_tensor(image))[1]["content"]


@pytest.fixture(scope="module", params=["texture", "transfer"])
def runs(request):
    """The mode run on STYLE alone, OTHER alone, both at 1:0, and both at 0.5:0.5."""
    if request.param == "texture":
        def run(style):
            return stylesynth.texture(style, **RUN)
    else:
        def run(style):
            return stylesynth.transfer(CONTENT, style, **RUN)
    return {"mode": request.param, "a": run(STYLE), "b": run(OTHER),
            "1:0": run([(STYLE, 1.0), (OTHER, 0.0)]), "0.5:0.5": run([(STYLE, 0.5), (OTHER, 0.5)])}


def test_weights_1_0_give_the_single_style_result_bit_for_bit(runs):
    assert same(runs["1:0"], runs["a"])
    assert not same(runs["0.5:0.5"], runs["a"])
    assert runs["1:0"].info["stylesynth"]["style"] == [[str(STYLE), 1.0], [str(OTHER), 0.0]]


def test_even_blend_lies_between_the_single_styles(runs):
    for style, own, far in [(STYLE, "a", "b"), (OTHER, "b", "a")]:
        losses = {key: style_loss(runs[key], style) for key in (own, "0.5:0.5", far)}
        assert losses[own] < losses["0.5:0.5"] < losses[far], (runs["mode"], style.name, losses)


def test_reconstruct_blends_content_targets():
    kwargs = dict(layer="conv2_2", size=SIZE, iterations=15, seed=0, progress=False)
    single = stylesynth.reconstruct(CONTENT, **kwargs)
    assert same(stylesynth.reconstruct([(CONTENT, 1.0), (STYLE, 0.0)], **kwargs), single)
    # The weights are normalized (Eq. 5): 3:0 is 1:0.
    assert same(stylesynth.reconstruct([(CONTENT, 3.0), (STYLE, 0.0)], **kwargs), single)
    other = stylesynth.reconstruct(STYLE, **kwargs)
    blend = stylesynth.reconstruct([(CONTENT, 0.5), (STYLE, 0.5)], **kwargs)
    for source, own, far in [(CONTENT, single, other), (STYLE, other, single)]:
        losses = [content_loss(image, source, "conv2_2") for image in (own, blend, far)]
        assert losses[0] < losses[1] < losses[2], (source.name, losses)


@pytest.mark.parametrize("spec, parsed", [
    ("a.jpg:0.7", ("a.jpg", 0.7)),
    ("dir/b.png:3", ("dir/b.png", 3.0)),
    ("a.jpg:1e-2", ("a.jpg", 0.01)),
    ("a.jpg:-1", ("a.jpg", -1.0)),  # parsed; refused later as a weight, with a message
    ("a.jpg", "a.jpg"),
    ("C:\\art\\a.jpg", "C:\\art\\a.jpg"),  # a drive letter is not a weight
    ("x:y/a.jpg", "x:y/a.jpg"),
    (":0.5", ":0.5"),
])
def test_cli_parses_path_colon_weight(spec, parsed):
    assert _weighted(spec) == parsed


def test_cli_weighted_styles_and_contents(tmp_path):
    small = ["--size", "64", "--iterations", "2", "--seed", "1", "--quiet"]
    single, blended = tmp_path / "single.png", tmp_path / "blended.png"
    assert run_cli(["texture", STYLE, "-o", single, *small]) == 0
    assert run_cli(["texture", f"{STYLE}:1", f"{OTHER}:0", "-o", blended, *small]) == 0
    assert same(Image.open(single).convert("RGB"), Image.open(blended).convert("RGB"))
    assert stylesynth.read_params(blended)["style"] == [[str(STYLE), 1.0], [str(OTHER), 0.0]]

    out = tmp_path / "transfer.png"
    assert run_cli(["transfer", CONTENT, f"{STYLE}:0.7", "--style", f"{OTHER}:0.3", "-o", out, *small]) == 0
    assert stylesynth.read_params(out)["style"] == [[str(STYLE), 0.7], [str(OTHER), 0.3]]
    out = tmp_path / "transfer2.png"
    assert run_cli(["transfer", CONTENT, "--style", f"{STYLE}:0.7", "--style", f"{OTHER}:0.3",
                    "-o", out, *small]) == 0
    assert stylesynth.read_params(out)["style"] == [[str(STYLE), 0.7], [str(OTHER), 0.3]]

    out = tmp_path / "reconstruct.png"
    assert run_cli(["reconstruct", f"{CONTENT}:0.5", f"{STYLE}:0.5", "--layer", "conv2_2", "-o", out,
                    *small]) == 0
    assert stylesynth.read_params(out)["content"] == [[str(CONTENT), 0.5], [str(STYLE), 0.5]]
    assert Image.open(out).size == (64, 48)  # the first image's shape


@pytest.mark.parametrize("args, words", [
    (["texture", f"{STYLE}:-1", f"{OTHER}:1"], ["style weights", "-1"]),
    (["texture", f"{STYLE}:0", f"{OTHER}:0"], ["style weights", "zero"]),
    (["texture", f"{STYLE}:nan", f"{OTHER}:1"], ["style weights", "nan"]),
    (["texture", f"{STYLE}:inf"], ["style weights", "inf"]),
    (["texture", f"{STYLE}:0"], ["zero"]),
    (["transfer", CONTENT, "--style", f"{STYLE}:-0.5", "--style", f"{OTHER}:1"], ["style weights", "-0.5"]),
    (["transfer", CONTENT, "--style", f"{STYLE}:0", "--style", f"{OTHER}:0"], ["zero"]),
    (["transfer", CONTENT, "--style", f"{STYLE}:nan"], ["nan"]),
    (["reconstruct", f"{CONTENT}:0", f"{STYLE}:0"], ["content weights", "zero"]),
    (["reconstruct", f"{CONTENT}:-2", f"{STYLE}:1"], ["content weights", "-2"]),
    (["reconstruct", f"{CONTENT}:NaN", f"{STYLE}:1"], ["content weights", "nan"]),
])
def test_cli_bad_weights_exit_2_with_one_line_and_no_file(tmp_path, capsys, args, words):
    out = tmp_path / "out.png"
    code = run_cli([*args, "-o", out, "--size", "64", "--iterations", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("stylesynth: error:")
    assert all(word in err for word in words), err
    assert not out.exists()


@pytest.mark.parametrize("sources", [
    [(STYLE, -1.0), (OTHER, 1.0)], [(STYLE, 0.0), (OTHER, 0.0)], [(STYLE, float("nan")), (OTHER, 1.0)],
])
def test_api_bad_weights_are_input_errors(sources):
    with pytest.raises(stylesynth.InputError, match="style weights"):
        stylesynth.texture(sources, size=64, iterations=1, progress=False)
