"""reconstruct / texture / transfer with the real pretrained VGG16, at 128 px (CI-sized).

Thresholds are the issues' acceptance criteria; measured values are in the closing notes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import stylesynth
from stylesynth.io.images import load_image, to_tensor
from stylesynth.engine.objective import (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, GatysObjective, LossWeights,
                                  content_targets, parse_layers, style_targets)
from stylesynth.options import RunOptions
from stylesynth.nets.pretrained import shared_network
from stylesynth.pyramid import scale_plan

from conftest import CONTENT, STYLE, run_cli

pytestmark = pytest.mark.usefixtures("vgg16_weights")
FAST = dict(size=128, progress=False, scales=1)  # N iterations at one scale, as the issues count


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    return 10 * math.log10(255**2 / max(np.mean((x - y) ** 2), 1e-10))


def reference_losses(result: Image.Image, content_path, style_path, ratio=1e-3):
    """Content and style losses of `result`, the content image and the (resized) style image."""
    net = shared_network("vgg16", RunOptions.pooling, "auto", None)
    content = load_image(content_path, 128)
    style_img = load_image(style_path, 128)
    objective = GatysObjective(
        net, LossWeights(ratio, 1.0),
        content_targets(net, [(to_tensor(content), 1.0)], parse_layers(DEFAULT_CONTENT_LAYERS)),
        style_targets(net, [(to_tensor(style_img), 1.0)], parse_layers(DEFAULT_STYLE_LAYERS)))
    losses = {}
    with torch.no_grad():
        for name, image in [("result", result), ("content", content),
                            ("style", style_img.resize(content.size, Image.LANCZOS))]:
            losses[name] = objective(to_tensor(image))[1]
    return losses


def test_reconstruct_relu1_1_from_noise_is_faithful():
    # Foundation issue: the whole input path (load, resize, normalize, weights) end to end.
    out = stylesynth.reconstruct(CONTENT, layer="relu1_1", iterations=100, seed=0, **FAST)
    assert psnr(out, load_image(CONTENT, 128)) > 30


def test_reconstruct_conv2_2_and_fidelity_falls_with_depth():
    photo = load_image(CONTENT, 128)
    shallow = psnr(stylesynth.reconstruct(CONTENT, layer="conv2_2", iterations=300, seed=0, **FAST), photo)
    deep = psnr(stylesynth.reconstruct(CONTENT, layer="conv4_2", iterations=300, seed=0, **FAST), photo)
    assert shallow > 20
    assert deep < shallow


def test_transfer_matches_style_and_content_at_defaults():
    out = stylesynth.transfer(CONTENT, STYLE, size=128, seed=0, progress=False)  # the default preset
    losses = reference_losses(out, CONTENT, STYLE)
    # Painted: far nearer the painting's statistics than the photo is, and still nearer the
    # photo's layout than the painting is (the judge's numbers: tests/test_evaluate.py).
    # Style terms are Gram distances (not squared): measured 0.207 x the photo's, content 0.673 x.
    assert losses["result"]["style"] <= 0.3 * losses["content"]["style"]
    assert losses["result"]["content"] <= 0.9 * losses["style"]["content"]
    record = out.info["stylesynth"]
    assert record["ratio"] == 3e-4 and record["init"] == "palette" and record["preset"] == "fast"
    assert record["schedule"] == [[[64, 48], 44], [[128, 96], 13]]  # always a coarser scale first
    assert record["iterations_done"] == 57


@pytest.mark.parametrize("size, from_noise, preset, expected", [
    ((512, 384), False, "fast", [((256, 192), 44), ((512, 384), 13)]),
    ((600, 400), False, "fast", [((300, 200), 44), ((600, 400), 17)]),
    ((256, 192), False, "fast", [((128, 96), 44), ((256, 192), 13)]),
    # From 512 to 1024 px a finer scale's count triples per doubling (pyramid.DETAIL_GROWTH).
    # Never below BASE_SIDE where halving would go under it (the studio's 384 px, 768 px).
    ((384, 288), False, "fast", [((256, 192), 44), ((384, 288), 13)]),
    ((288, 384), False, "fast", [((192, 256), 44), ((288, 384), 13)]),
    ((300, 200), False, "fast", [((256, 171), 44), ((300, 200), 13)]),
    ((768, 576), False, "fast", [((256, 192), 44), ((384, 288), 13), ((768, 576), 25)]),
    ((1024, 768), False, "fast", [((256, 192), 44), ((512, 384), 13), ((1024, 768), 39)]),
    ((2048, 1536), False, "fast", [((256, 192), 44), ((512, 384), 13), ((1024, 768), 39), ((2048, 1536), 7)]),
    # Above 1024 px the preset's count halves at each doubling, at least 2.
    ((4096, 3072), False, "fast", [((256, 192), 44), ((512, 384), 13), ((1024, 768), 39), ((2048, 1536), 7), ((4096, 3072), 4)]),
    ((8192, 6144), False, "quality", [((256, 192), 96), ((512, 384), 32), ((1024, 768), 96), ((2048, 1536), 16), ((4096, 3072), 8), ((8192, 6144), 4)]),
    ((8192, 6144), False, "draft", [((256, 192), 30), ((512, 384), 5), ((1024, 768), 15), ((2048, 1536), 3), ((4096, 3072), 2), ((8192, 6144), 2)]),
    ((2048, 1536), False, "classic", [((2048, 1536), 1000)]),  # neural-style's -num_iterations
    ((2048, 1536), False, "single", [((2048, 1536), 500)]),
    # From noise: from 64 px, most iterations where they are cheap (NOISE_PRESETS).
    ((512, 384), True, "fast", [((64, 48), 150), ((128, 96), 100), ((256, 192), 100), ((512, 384), 20)]),
    ((512, 384), True, "draft", [((64, 48), 60), ((128, 96), 40), ((256, 192), 40), ((512, 384), 8)]),
    ((1024, 768), True, "fast", [((64, 48), 150), ((128, 96), 100), ((256, 192), 100), ((512, 384), 20),
                                 ((1024, 768), 20)]),
    ((256, 192), True, "fast", [((64, 48), 150), ((128, 96), 100), ((256, 192), 20)]),
    ((96, 64), True, "fast", [((96, 64), 150)]),
])
def test_preset_schedules(size, from_noise, preset, expected):
    assert scale_plan(size, 16, preset=preset, from_noise=from_noise) == expected


def test_schedule_skips_too_small_scales_and_keeps_the_first_scale_budget():
    # 4 scales of 128 px: 16 and 32 px are too small; the first kept scale gets the first count.
    assert scale_plan((128, 96), 16, scales=4) == [((64, 48), 44), ((128, 96), 13)]
    # An explicit list drops the counts of the scales it skips.
    assert scale_plan((128, 96), 16, iterations="9,8,7") == [((64, 48), 8), ((128, 96), 7)]


def test_explicit_scales_keep_halving_below_base_side():
    # The user's --scales (or a count per scale) is taken as given: scales halve, 192 px first.
    assert scale_plan((384, 288), 16, scales=2) == [((192, 144), 44), ((384, 288), 13)]
    assert scale_plan((384, 288), 16, iterations="9,8") == [((192, 144), 9), ((384, 288), 8)]
    # One count for every scale leaves the scales ours: the first is BASE_SIDE.
    assert scale_plan((384, 288), 16, iterations=9) == [((256, 192), 9), ((384, 288), 9)]


def test_quality_weighs_the_content_by_its_factor_only_with_its_own_schedule():
    # One scale of 64 px keeps it cheap: the preset's 96 iterations, or 2 given explicitly.
    kwargs = dict(size=64, progress=False, scales=1, seed=0)
    own = stylesynth.transfer(CONTENT, STYLE, preset="quality", **kwargs).info["stylesynth"]
    given = stylesynth.transfer(CONTENT, STYLE, preset="quality", iterations=2, **kwargs).info["stylesynth"]
    fast = stylesynth.transfer(CONTENT, STYLE, iterations=2, **kwargs).info["stylesynth"]
    assert own["ratio"] == given["ratio"] == fast["ratio"] == 3e-4
    assert own["content_weight"] == pytest.approx(3 * 3e-4)
    assert given["content_weight"] == fast["content_weight"] == pytest.approx(3e-4)
    assert own["iterations"] == 96 and given["iterations"] == 2


def test_pyramid_from_the_photo_keeps_its_fine_detail():
    # Content only, from the photo: nothing moves, so the result is the start of the last
    # scale: the coarse image upsampled plus the photo's detail it could not hold.
    photo = load_image(CONTENT, 128)
    out = stylesynth.reconstruct(CONTENT, init="content", iterations="1,1", seed=0, size=128, progress=False)
    blurred = photo.resize((64, 48), Image.LANCZOS).resize((128, 96), Image.BICUBIC)
    assert psnr(out, photo) > 35 and psnr(blurred, photo) < 30


def test_ratio_moves_the_result_toward_content_or_style():
    low = stylesynth.transfer(CONTENT, STYLE, ratio=1e-4, iterations=60, seed=0, **FAST)
    high = stylesynth.transfer(CONTENT, STYLE, ratio=1e-2, iterations=60, seed=0, **FAST)
    lo, hi = (reference_losses(im, CONTENT, STYLE)["result"] for im in (low, high))
    assert hi["content"] < lo["content"]
    assert hi["style"] > lo["style"]


def test_texture_loss_falls_and_seeds_reproduce():
    kwargs = dict(layers="conv1_1,conv2_1,conv3_1", iterations=60, **FAST)
    a = stylesynth.texture(STYLE, seed=1, **kwargs)
    again = stylesynth.texture(STYLE, seed=1, **kwargs)
    other = stylesynth.texture(STYLE, seed=2, **kwargs)
    history = a.info["stylesynth_history"]
    # The style term is a distance (the square root of relative Eq. 4): 90 % lower than at the
    # noise start is 99 % lower in squared units (measured 92.5 %, the square 99.4 %).
    assert history[-1]["style"] < 0.1 * history[0]["style"]
    assert np.array_equal(np.asarray(a), np.asarray(again))
    assert not np.array_equal(np.asarray(a), np.asarray(other))


def test_texture_output_can_be_larger_than_the_swatch():
    out = stylesynth.texture(STYLE, out_size="256x192", layers="conv1_1,conv2_1", iterations=30,
                             seed=0, size=96, progress=False, scales=1)
    assert out.size == (256, 192)
    history = out.info["stylesynth_history"]
    assert history[-1]["style"] < 0.3 * history[0]["style"]  # a distance: measured 0.205


def test_cli_transfer_writes_image_params_json_snapshots_and_plot(tmp_path, capsys):
    out = tmp_path / "out.png"
    code = run_cli(["transfer", CONTENT, STYLE, "-o", out, "--size", "96", "--scales", "1",
                    "--iterations", "6", "--seed", "5", "--json", "--quiet", "--snapshot-every", "3", "--loss-plot",
                    tmp_path / "losses.png"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output"] == str(out) and summary["iterations"] == 6 and summary["seed"] == 5
    assert set(summary["losses"]) >= {"total", "content", "style", "content/relu4_2", "style/relu2_1"}
    params = stylesynth.read_params(out)
    assert params["seed"] == 5 and params["mode"] == "transfer" and params["losses"] == summary["losses"]
    assert Image.open(out).size == (96, 72)
    assert sorted(p.name for p in tmp_path.glob("out.iter*.png")) == ["out.iter0003.png", "out.iter0006.png"]
    assert Image.open(tmp_path / "losses.png").size == (640, 400)


def test_cli_unknown_layer_lists_valid_ones_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out.png"
    code = run_cli(["transfer", CONTENT, STYLE, "-o", out, "--size", "64", "--style-layers", "conv9_9"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "conv9_9" in err and "relu4_2" in err
    assert not out.exists()


def test_pyramid_schedule_and_cached_style_targets(tmp_path, monkeypatch):
    from stylesynth.engine import objective

    monkeypatch.setenv("STYLESYNTH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()  # the network is already loaded (and memoized) by now
    shared_network("vgg16", RunOptions.pooling, "auto", None)
    calls = []
    real = objective.style_targets
    monkeypatch.setattr(objective, "style_targets", lambda *a, **k: calls.append(1) or real(*a, **k))
    steps = []
    kwargs = dict(size=128, iterations="4,3", seed=0, progress=False, on_step=steps.append)
    first = stylesynth.transfer(CONTENT, STYLE, **kwargs)
    assert first.info["stylesynth"]["schedule"] == [[[64, 48], 4], [[128, 96], 3]]
    assert [(s.scale, s.iteration, s.iterations) for s in steps][3:5] == [(1, 4, 7), (2, 5, 7)]
    assert steps[-1].fraction == pytest.approx(1.0)
    assert len(calls) == 2 and len(list((tmp_path / "cache" / "targets").glob("*.pt"))) == 2
    second = stylesynth.transfer(CONTENT, STYLE, **kwargs)
    assert len(calls) == 2  # both scales' style targets came from the disk cache
    assert np.array_equal(np.asarray(first), np.asarray(second))
