"""The loss terms equal the paper's equations (Gatys Eq. 1, 3, 4, 5, 7) under our normalization."""

import math

import pytest
import torch

from stylesynth import InputError
from stylesynth.engine.losses import ContentLoss, StyleLoss, TVLoss, gram_matrix, gram_product
from stylesynth.nets.networks import FeatureExtractor
from stylesynth.engine.objective import CONTENT_SCALE, GatysObjective, LossWeights, parse_layers


def test_content_loss_is_eq1_relative_to_the_targets_energy():
    torch.manual_seed(0)
    p, f = torch.randn(1, 8, 5, 7), torch.randn(1, 8, 5, 7)
    eq1 = 0.5 * sum((f.flatten()[k] - p.flatten()[k]) ** 2 for k in range(f.numel()))
    energy = 0.5 * sum(p.flatten()[k] ** 2 for k in range(p.numel()))
    assert ContentLoss(p)(f).item() == pytest.approx(eq1.item() / energy.item(), rel=1e-5)
    assert ContentLoss(p)(p).item() == 0 and ContentLoss(p)(0 * p).item() == pytest.approx(1.0)


def test_gram_is_eq3_over_m():
    torch.manual_seed(1)
    f = torch.randn(1, 4, 3, 5)
    flat = f.reshape(4, 15)
    expected = torch.tensor([[float((flat[i] * flat[j]).sum()) for j in range(4)] for i in range(4)])
    assert torch.allclose(gram_matrix(f), expected / 15, atol=1e-5)


def test_gram_products_gradient_is_autograds_for_any_upstream_gradient():
    # gram_product's backward is one product, F (dG + dG^T): it must equal autograd's two,
    # also for an upstream gradient that is not symmetric.
    torch.manual_seed(3)
    flat = torch.randn(40, 6, dtype=torch.float64)
    upstream = torch.randn(6, 6, dtype=torch.float64)
    ours = flat.clone().requires_grad_(True)
    (gram_product(ours) * upstream.float()).sum().backward()
    reference = flat.clone().requires_grad_(True)
    ((reference.T @ reference) * upstream).sum().backward()
    assert torch.allclose(ours.grad, reference.grad, atol=1e-4)
    assert gram_product(flat).dtype == torch.float32


def test_style_loss_is_the_square_root_of_eq4_relative_to_the_targets_energy_when_sizes_match():
    torch.manual_seed(2)
    a, f = torch.randn(1, 6, 4, 4), torch.randn(1, 6, 4, 4)
    n, m = 6, 16
    g_raw = f.reshape(n, m) @ f.reshape(n, m).T
    a_raw = a.reshape(n, m) @ a.reshape(n, m).T
    eq4 = ((g_raw - a_raw) ** 2).sum() / (4 * n**2 * m**2)
    energy = (a_raw ** 2).sum() / (4 * n**2 * m**2)  # Eq. 4 of a blank image against A
    assert StyleLoss(gram_matrix(a))(f).item() == pytest.approx((eq4 / energy).sqrt().item(), rel=1e-5)


def test_style_loss_has_a_finite_zero_gradient_at_an_exact_match():
    # The square root's derivative is infinite at 0: the painting against itself must not give NaN.
    torch.manual_seed(4)
    a = torch.randn(1, 6, 4, 4)
    x = a.clone().requires_grad_(True)
    loss = StyleLoss(gram_matrix(a))(x)
    loss.backward()
    assert loss.item() < 1e-5
    assert torch.isfinite(x.grad).all() and x.grad.abs().max().item() == 0.0


def test_style_loss_compares_different_sizes_by_statistics():
    # A periodic pattern tiled 2x2 has (nearly) the same normalized Gram matrix: loss ~ 0.
    torch.manual_seed(3)
    tile = torch.randn(1, 5, 8, 8)
    big = tile.repeat(1, 1, 2, 2)
    other = torch.randn(1, 5, 16, 16)
    same = StyleLoss(gram_matrix(tile))(big).item()
    different = StyleLoss(gram_matrix(tile))(other).item()
    assert same < 1e-5 and different > 0.1  # a distance: the clamp floor is 1e-6


def test_tv_loss_formula():
    image = torch.zeros(1, 3, 4, 4)
    image[..., :, 2:] = 1.0  # one vertical edge: 4 rows x 3 channels of unit jumps
    dx_mean = (4 * 3) / (3 * 4 * 3)
    assert TVLoss()(image).item() == pytest.approx(dx_mean)


def test_objective_is_eq7_with_weighted_layers():
    torch.manual_seed(4)
    net = FeatureExtractor("vgg16")  # random weights suffice for the arithmetic
    content, style, x = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        fc = net(content, ["conv2_2"])
        fs = net(style, ["conv1_1", "conv2_1"])
        fx = net(x, ["conv1_1", "conv2_1", "conv2_2"])
    objective = GatysObjective(
        net, LossWeights(content=0.3, style=2.0),
        {"conv2_2": (1.0, fc["conv2_2"])},
        {"conv1_1": (0.25, gram_matrix(fs["conv1_1"])), "conv2_1": (0.75, gram_matrix(fs["conv2_1"]))})
    total, parts = objective(x)
    e1 = StyleLoss(gram_matrix(fs["conv1_1"]))(fx["conv1_1"]).item()
    e2 = StyleLoss(gram_matrix(fs["conv2_1"]))(fx["conv2_1"]).item()
    lc = ContentLoss(fc["conv2_2"])(fx["conv2_2"]).item()
    assert parts["style"] == pytest.approx(0.25 * e1 + 0.75 * e2, rel=1e-4)
    assert total.item() == pytest.approx(0.3 * CONTENT_SCALE * lc + 2.0 * parts["style"], rel=1e-4)


def test_parse_layers_weights_and_defaults():
    assert parse_layers("conv1_1,conv2_1") == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert parse_layers("conv1_1:0.2, conv4_2:3") == {"conv1_1": 0.2, "conv4_2": 3.0}
    for bad in ["", "conv1_1:x", "conv1_1:-1", "conv1_1:nan"]:
        with pytest.raises(InputError):
            parse_layers(bad)


def test_weights_from_ratio_or_explicit():
    assert LossWeights.from_options(ratio=1e-3) == LossWeights(1e-3, 1.0)
    assert LossWeights.from_options(content_weight=5, style_weight=2) == LossWeights(5, 2)
    for kwargs in [dict(ratio=0), dict(ratio=math.nan), dict(ratio=-1), dict(content_weight=-1)]:
        with pytest.raises(InputError):
            LossWeights.from_options(**kwargs)
