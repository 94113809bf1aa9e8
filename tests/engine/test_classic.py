"""The `classic` preset is jcjohnson/neural-style's recipe (neural_style.lua, docs/classic.md):
its loss terms, written out here from the Lua source apart from losses.py; its settings; its
start; and that the optimization loop moves its objective, which is in Caffe's 0..255 units."""

from __future__ import annotations

import pytest
import torch

import stylesynth
from stylesynth import InputError
from stylesynth.engine.losses import SquaredContentLoss, SquaredStyleLoss, SquaredTVLoss, gram_matrix
from stylesynth.nets.networks import FeatureExtractor
from stylesynth.engine.objective import SQUARED, GatysObjective, LayerTarget, LossWeights, Region
from stylesynth.options import from_keywords
from stylesynth.pyramid import scale_plan
from stylesynth.engine.start import start_image

from conftest import CONTENT, STYLE


def test_squared_content_loss_is_nn_msecriterion():
    torch.manual_seed(0)
    p, f = torch.randn(1, 8, 5, 7), torch.randn(1, 8, 5, 7)
    mse = sum(float(a - b) ** 2 for a, b in zip(f.flatten(), p.flatten())) / f.numel()
    assert SquaredContentLoss(p)(f).item() == pytest.approx(mse, rel=1e-5)


def test_squared_style_loss_is_neural_styles_gram_over_nelement_by_mse():
    torch.manual_seed(1)
    target, f = torch.rand(1, 6, 4, 5), torch.rand(1, 6, 4, 5)

    def lua_gram(x):  # GramMatrix, then G:div(input:nElement())
        c, h, w = x.shape[1:]
        flat = x.reshape(c, h * w)
        return flat @ flat.T / (c * h * w)

    expected = ((lua_gram(f) - lua_gram(target)) ** 2).mean()  # nn.MSECriterion, averaged
    assert SquaredStyleLoss(gram_matrix(target))(f).item() == pytest.approx(expected.item(), rel=1e-5)
    assert SquaredStyleLoss(gram_matrix(target))(target).item() == pytest.approx(0, abs=1e-12)


def test_squared_tv_gradient_is_neural_styles_tvloss_backward():
    torch.manual_seed(2)
    image = torch.rand(1, 3, 6, 7, dtype=torch.float64)
    # TVLoss:updateGradInput from neural_style.lua, on the image in Caffe's 0..255 units
    x = image[0] * 255
    grad = torch.zeros_like(x)
    x_diff = x[:, :-1, :-1] - x[:, :-1, 1:]
    y_diff = x[:, :-1, :-1] - x[:, 1:, :-1]
    grad[:, :-1, :-1] += x_diff + y_diff
    grad[:, :-1, 1:] -= x_diff
    grad[:, 1:, :-1] -= y_diff
    ours = image.clone().requires_grad_(True)
    SquaredTVLoss()(ours).backward()
    assert torch.allclose(ours.grad[0] / 255, grad, atol=1e-9)  # d/d(pixel in 0..255)


def test_classic_fills_the_options_left_at_their_defaults_and_keeps_the_others():
    opts = from_keywords({"preset": "classic"})
    assert (opts.model, opts.pooling, opts.precision, opts.tv_weight, opts.size) == \
        ("vgg19", "max", "float32", 1e-3, 512)
    kept = from_keywords({"preset": "classic", "model": "alexnet", "tv_weight": 0.5, "size": 300})
    assert (kept.model, kept.tv_weight, kept.size, kept.pooling) == ("alexnet", 0.5, 300, "max")
    assert from_keywords({"preset": "fast"}).model == "vgg16"  # the other presets change nothing


def test_classic_schedule_is_one_scale_of_1000_and_single_keeps_the_engines_500():
    assert scale_plan((512, 384), 16, preset="classic") == [((512, 384), 1000)]
    assert scale_plan((512, 384), 16, preset="classic", from_noise=True) == [((512, 384), 1000)]
    assert scale_plan((512, 384), 16, preset="single") == [((512, 384), 500)]


def test_neural_style_start_is_the_mean_pixel_with_caffe_sized_noise():
    image = start_image("neural-style", (40, 30), None, None, torch.Generator().manual_seed(0))
    mean = image.mean((0, 2, 3))
    assert torch.allclose(mean, torch.tensor([123.68, 116.779, 103.939]) / 255, atol=1e-6)
    assert image.std((0, 2, 3)).mul(255).sub(0.001).abs().max() < 2e-4  # randn x 0.001 in 0..255


def test_region_masks_are_refused_under_the_squared_terms():
    net = FeatureExtractor("vgg16")
    region = Region(torch.ones(1, 1, 8, 8), {"relu1_1": LayerTarget(1.0, torch.eye(64))})
    with pytest.raises(InputError, match="classic"):
        GatysObjective(net, LossWeights(1.0, 1.0), regions=[region], form=SQUARED)


@pytest.mark.weights
@pytest.mark.slow
def test_classic_transfer_is_neural_styles_recipe_and_its_objective_falls():
    out = stylesynth.transfer(CONTENT, STYLE, preset="classic", size=64, iterations=40, seed=0,
                              threads=2, progress=False)
    record = out.info["stylesynth"]
    assert (record["model"], record["pooling"], record["precision"]) == ("vgg19", "max", "float32")
    assert record["content_layers"] == {"relu4_2": 1.0}
    assert record["style_layers"] == {f"relu{b}_1": 1.0 for b in range(1, 6)}
    assert (record["content_weight"], record["style_weight"], record["tv_weight"]) == (5.0, 100.0, 1e-3)
    assert record["init"] == "neural-style" and record["losses_form"] == "squared"
    assert record["schedule"] == [[[64, 48], 40]]
    # The objective is in Caffe's units (millions here): the loop's scaling lets L-BFGS keep its
    # curvature pairs, and it falls. Measured: x37 in 40 iterations at 96 px, x? at 64 px.
    history = out.info["stylesynth_history"]
    assert history[0]["loss"] > 1e6
    assert history[-1]["loss"] < history[0]["loss"] / 10, (history[0]["loss"], history[-1]["loss"])
    # neural-style's other options, given, are kept (its Picasso curve: -content_weight 1
    # -style_weight 10), and so are layers other than the engine's defaults
    out = stylesynth.transfer(CONTENT, STYLE, preset="classic", size=64, iterations=1, seed=0,
                              content_weight=1, style_weight=10, style_layers="relu2_1",
                              threads=2, progress=False)
    record = out.info["stylesynth"]
    assert (record["content_weight"], record["style_weight"]) == (1, 10)
    assert record["style_layers"] == {"relu2_1": 1.0} and record["model"] == "vgg19"
