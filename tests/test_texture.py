"""A texture is a texture (issue 36): no copy of the painting's arrangement, seamless, any shape.

The layout correlation (evaluate.layout_correlation) is the Pearson correlation of two images'
8 x 8 luminance cells: a copy scores 1, a stationary texture near 0. Thresholds are the issue's.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import stylesynth
from stylesynth.evaluate import layout_correlation
from stylesynth.imageio import load_image
from stylesynth.nets import FeatureExtractor
from stylesynth.objective import DEFAULT_STYLE_LAYERS, MIN_STYLE_POSITIONS, parse_layers, style_layers_for

from conftest import EXAMPLES


def test_wrapped_network_is_equivariant_to_circular_shifts():
    torch.manual_seed(0)
    net = FeatureExtractor("vgg16", "avg")
    for p in net.parameters():
        p.data.normal_(0, 0.1)
    image = torch.rand(1, 3, 64, 48)
    shifted = image.roll((8, -16), (2, 3))  # a multiple of relu3_1's stride (4) both ways
    plain, wrapped = net(image, ["relu3_1"])["relu3_1"], net(image, ["relu3_1"], wrap=True)["relu3_1"]
    wrapped_shifted = net(shifted, ["relu3_1"], wrap=True)["relu3_1"]
    assert torch.allclose(wrapped_shifted, wrapped.roll((2, -4), (2, 3)), atol=1e-5)
    # with zero padding the border tells a position: the same shift changes the features
    assert not torch.allclose(net(shifted, ["relu3_1"])["relu3_1"], plain.roll((2, -4), (2, 3)), atol=1e-3)


def test_style_layers_need_enough_positions_and_keep_their_weight():
    net = FeatureExtractor("vgg16", "avg")
    layers = parse_layers(DEFAULT_STYLE_LAYERS)
    at_256 = style_layers_for(net, layers, (256, 256))  # relu5_1: 16 x 16 positions, too few
    assert "relu5_1" not in at_256 and "relu4_3" in at_256
    assert sum(at_256.values()) == pytest.approx(sum(layers.values()))
    assert set(style_layers_for(net, layers, (512, 400))) == set(layers)  # relu5_1: 32 x 25
    assert set(style_layers_for(net, layers, (64, 64))) == {"relu1_1", "relu1_2", "relu2_1", "relu2_2"}
    assert list(style_layers_for(net, {"relu5_1": 1.0}, (64, 64))) == ["relu5_1"]  # nothing else asked
    assert (64 // net.stride("relu2_2")) ** 2 >= MIN_STYLE_POSITIONS > (64 // net.stride("relu3_1")) ** 2


@pytest.mark.usefixtures("vgg16_weights")
@pytest.mark.slow
@pytest.mark.parametrize("painting", [
    "starry_night.jpg", "shipwreck.jpg",
    # One wide orange band: on some seeds it lands at the top again (0.15, 0.61, 0.21 at 128 px)
    pytest.param("the_scream.jpg", marks=pytest.mark.xfail(strict=True, reason="issue 36: open")),
])
def test_texture_does_not_copy_the_painting_layout(painting):
    style = load_image(EXAMPLES / painting)
    results = [stylesynth.texture(EXAMPLES / painting, size=128, seed=seed, progress=False)
               for seed in (0, 1, 2)]
    against_painting = [abs(layout_correlation(r, style)) for r in results]
    between_seeds = [layout_correlation(a, b) for a, b in itertools.combinations(results, 2)]
    assert np.mean(against_painting) <= 0.25 and max(against_painting) <= 0.4, against_painting
    assert np.mean(between_seeds) <= 0.3, between_seeds
