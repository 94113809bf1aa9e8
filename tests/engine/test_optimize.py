"""The optimization loop: it moves whatever the objective's scale, keeps pixels valid, keeps the best."""

import math

import pytest
import torch

from stylesynth import InputError, StylesynthError
from stylesynth.engine.optimize import LBFGS_FIRST_STEP, optimize


def quadratic(target, scale=1.0):
    def objective(x):
        loss = scale * (x - target).pow(2).sum()
        return loss, {"distance": loss.item()}
    return objective


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_lbfgs_moves_whatever_the_magnitude(scale):
    # Unscaled, torch's L-BFGS skips curvature updates below y.s = 1e-10 and a 1e-6 objective
    # barely moves; the loop normalizes the objective, so all three converge alike.
    torch.manual_seed(0)
    target = torch.rand(1, 3, 8, 8)
    start = torch.rand(1, 3, 8, 8)
    first = quadratic(target, scale)(start)[0].item()
    result = optimize(start, quadratic(target, scale), iterations=20)
    assert result.loss < first * 1e-4


def test_lbfgs_first_step_moves_pixels_by_the_set_mean():
    # torch scales L-BFGS's first step to a total (L1) change of lr: 1e-6 per pixel on a
    # 512 px image. lbfgs_step scales it to LBFGS_FIRST_STEP per pixel, whatever the size.
    torch.manual_seed(0)
    for side in (8, 256):
        target, start = torch.rand(1, 3, side, side), torch.full((1, 3, side, side), 0.5)
        seen = []
        optimize(start, quadratic(target), iterations=1, on_step=lambda s: seen.append(s.image.clone()))
        moved = (seen[0] - start).abs().mean().item()
        assert moved == pytest.approx(LBFGS_FIRST_STEP, rel=0.02), side


def test_lbfgs_keeps_moving_where_the_objective_is_concave():
    # A distance to a target from below, |a - mean(x^2)| (smoothed), is concave along every
    # descent step, like a Gram distance from white noise: torch's L-BFGS rejects every
    # curvature pair (y.s < 0) and, left at its initial scale, takes gradient steps of about
    # 2e-4 per pixel here (measured: 0.090 -> 0.085 in 20 iterations). Searching the line
    # until a pair is accepted, it reaches the smoothing's floor, 0.001, in 3 iterations.
    start = torch.full((1, 3, 128, 128), 0.4)

    def objective(x):
        loss = ((0.25 - x.pow(2).mean()).pow(2) + 1e-6).sqrt()
        return loss, {"gap": loss.item()}

    first = objective(start)[0].item()
    result = optimize(start, objective, iterations=20)
    assert result.loss < first / 50
    assert 0 <= result.image.min() and result.image.max() <= 1  # trial points are clamped too


def test_lbfgs_searches_no_line_when_its_first_curvature_pair_is_accepted():
    # A convex objective: one evaluation per iteration, as without the search.
    torch.manual_seed(0)
    result = optimize(torch.rand(1, 3, 32, 32), quadratic(torch.rand(1, 3, 32, 32)), iterations=20)
    assert result.evaluations == 20


@pytest.mark.parametrize("name", ["adam", "gd"])
def test_other_optimizers_reduce_the_loss(name):
    torch.manual_seed(0)
    target, start = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    first = quadratic(target)(start)[0].item()
    result = optimize(start, quadratic(target), iterations=100, optimizer=name)
    assert result.loss < first * 0.1


def test_pixels_stay_in_range_and_best_is_returned():
    target = torch.full((1, 3, 4, 4), 2.0)  # unreachable: the valid range stops at 1
    history = []
    result = optimize(torch.zeros(1, 3, 4, 4), quadratic(target), iterations=15,
                      on_step=lambda s: history.append((s.image.min().item(), s.image.max().item())))
    assert all(0.0 <= lo and hi <= 1.0 for lo, hi in history)
    assert result.image.max().item() == pytest.approx(1.0)
    assert result.loss == pytest.approx(48 * 1.0, rel=1e-4)


def test_interrupt_keeps_best_so_far():
    torch.manual_seed(0)
    target, start = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)

    def stop_at_five(step):
        if step.iteration == 5:
            raise KeyboardInterrupt

    result = optimize(start, quadratic(target), iterations=100, on_step=stop_at_five)
    assert result.interrupted and result.iterations == 5
    assert result.loss == min(h["loss"] for h in result.history)
    assert quadratic(target)(result.image)[0].item() == pytest.approx(result.loss, rel=1e-5)


def test_non_finite_loss_steps_back_and_continues():
    # The objective is NaN far from the start: a huge step lands there, the loop steps back to
    # the best image, halves the step, and still finishes with a finite, lower loss.
    torch.manual_seed(0)
    target, start = torch.full((1, 1, 4, 4), 0.6), torch.full((1, 1, 4, 4), 0.5)

    def objective(x):
        loss = (x - target).pow(2).sum()
        if x.max() > 0.7:
            loss = loss * math.nan
        return loss, {}

    result = optimize(start, objective, iterations=30, optimizer="gd", lr=1e4)
    assert math.isfinite(result.loss) and result.loss < objective(start)[0].item()


def test_a_blown_up_loss_steps_back_to_the_best_image():
    # Adam's first step (about lr per pixel) overshoots from 0.55 to 0.25: the loss there is 25x
    # the best (the start), so the next iterate is the start again, with a fresh optimizer.
    start, target = torch.full((1, 1, 4, 4), 0.55), torch.full((1, 1, 4, 4), 0.5)
    images = []
    result = optimize(start, quadratic(target), iterations=3, optimizer="adam", lr=0.3,
                      on_step=lambda s: images.append(s.image.clone()))
    assert [round(h["loss"], 4) for h in result.history] == [0.04, 1.0, 0.04]
    assert not torch.allclose(images[0], start) and torch.equal(images[1], start)
    assert torch.equal(result.image, start)


def test_a_loss_that_rises_less_than_blowup_keeps_its_path():
    # the same overshoot, from 0.38 to 0.68: the loss rises 2.25x, less than BLOWUP: no step back
    start, target = torch.full((1, 1, 4, 4), 0.38), torch.full((1, 1, 4, 4), 0.5)
    images = []
    optimize(start, quadratic(target), iterations=2, optimizer="adam", lr=0.3,
             on_step=lambda s: images.append(s.image.clone()))
    assert not torch.allclose(images[1], start)


def test_non_finite_from_the_start_is_a_clear_error():
    def objective(x):
        return (x.sum() * math.nan), {}

    with pytest.raises(StylesynthError, match="not finite"):
        optimize(torch.rand(1, 3, 4, 4), objective, iterations=5)


def test_non_finite_that_persists_stops_with_the_last_good_image():
    start = torch.full((1, 1, 4, 4), 0.5)

    def objective(x):  # finite only at the start image itself
        loss = (x - 0.2).pow(2).sum()
        return (loss if torch.equal(x, start) else loss * math.nan), {}

    result = optimize(start, objective, iterations=100, optimizer="adam")
    assert result.warning and "non-finite" in result.warning
    assert torch.equal(result.image, start) and result.loss == pytest.approx(16 * 0.09)


def test_bad_settings_are_input_errors():
    with pytest.raises(InputError):
        optimize(torch.rand(1, 3, 4, 4), quadratic(0), iterations=0)
    with pytest.raises(InputError):
        optimize(torch.rand(1, 3, 4, 4), quadratic(0), iterations=5, lr=-1)
    with pytest.raises(InputError):
        optimize(torch.rand(1, 3, 4, 4), quadratic(0), iterations=5, optimizer="sgdx")
