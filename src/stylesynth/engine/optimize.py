"""The image-optimization loop every mode uses: optimizers, progress, best-so-far, interrupts.

An objective maps an image tensor (1x3xHxW in [0, 1]) to `(loss, parts)`: a scalar tensor and
a dict of named float components for the progress bar and the record. The loop

* scales the objective by 1/(its value at the start), so that what the optimizer sees is O(1)
  whatever the loss weights: torch's L-BFGS skips curvature updates when y.s < 1e-10, and a
  tiny objective would barely move (reported losses stay unscaled);
* keeps pixels in [0, 1] by clamping after every step;
* remembers the best image evaluated, which is what it returns — also when interrupted, which
  ends the loop early with `interrupted=True`: by a KeyboardInterrupt at once, or, under the
  command line's stop-signal handlers (signals.py), after the current step and its checkpoint;
* steps back to the best image with a 4x smaller step (fresh optimizer state) when a loss or
  gradient is not finite, and after `max_retries` such failures stops with the best image and
  a `warning`;
* steps back to the best image with a fresh optimizer state (the same step size) when the loss
  has risen above the best by (BLOWUP - 1) times its size: L-BFGS without a line search can
  leave the basin, and the climb back took the rest of a run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import signals
from ..errors import InputError, StylesynthError
from ..names import OPTIMIZERS  # noqa: F401 (re-exported)

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]]
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02, "gd": 0.01}
LBFGS_FIRST_STEP = 0.003  # mean change per pixel (in [0, 1] units) of L-BFGS's first step: lbfgs_step
LINE_SEARCH_EVALUATIONS = 10  # at most, for a step that searches its line (lbfgs_step)
# A loss this many times the best so far is a blow-up, not a detour: docs/normalization.md,
# "Blow-ups".
BLOWUP = 4.0


@dataclass
class Step:
    """What the loop reports after each iteration."""

    iteration: int
    iterations: int
    loss: float
    parts: dict[str, float]
    image: torch.Tensor  # the current image (do not modify)
    # Filled in by the run's progress (run.Progress) in every mode, across its scales
    # (iteration/iterations then count over all scales): which scale, and the fraction of the
    # whole run's work done (pixels x iterations).
    scale: int = 1
    scales: int = 1
    fraction: float = 0.0


@dataclass
class Result:
    image: torch.Tensor  # the best image evaluated, detached
    loss: float
    parts: dict[str, float]
    iterations: int  # iterations completed
    evaluations: int
    seconds: float
    interrupted: bool = False
    history: list[dict[str, float]] = field(default_factory=list)
    warning: str | None = None  # why the loop stopped early, if it did (not for Ctrl-C)


class _NonFinite(Exception):
    pass


def make_optimizer(name: str, params: list[torch.Tensor], lr: float, history: int = 50) -> torch.optim.Optimizer:
    if name == "lbfgs":
        # One iteration per step() so that progress, snapshots and Ctrl-C act between
        # iterations; torch keeps the L-BFGS history across step() calls. No tolerances: the
        # loop, not the optimizer, decides when to stop (a tolerance hit would freeze it).
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=history,
                                 tolerance_grad=0, tolerance_change=0)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "gd":
        # Plain gradient descent, Phon-Amnuaisuk Eq. 10: X <- X - lr * G, with G the gradient
        # divided by its mean magnitude (see optimize), so lr is a step in pixel units.
        return torch.optim.SGD(params, lr=lr)
    raise InputError(f"unknown optimizer '{name}': choose one of {', '.join(OPTIMIZERS)}")


def lbfgs_step(opt: torch.optim.LBFGS, closure: Callable[[], torch.Tensor], x: torch.Tensor, lr: float) -> None:
    """One L-BFGS iteration, two departures from torch's (docs/normalization.md, "L-BFGS's first
    step", has the measurements). A run's first step changes each pixel by LBFGS_FIRST_STEP on
    average (torch's changes the whole image by `lr` in total: about 1e-6 a pixel at 512 px, a
    wasted iteration). While torch rejects every curvature pair (y.s <= 0: the objective is
    concave along the steps, as from white noise with little content weight), each step starts
    at the first step's size and searches the line (strong Wolfe), whose step has y.s > 0. Runs
    whose first pair is accepted, as every transfer from the photo or its palette, never search."""
    state, group = opt.state[x], opt.param_groups[0]
    searching = state.get("n_iter", 0) >= 2 and not state["old_dirs"]
    if state.get("n_iter", 0) == 0:
        group["lr"] = lr * LBFGS_FIRST_STEP * x.numel()
    elif searching:  # the step is -H_diag * gradient: H_diag sets its size
        state["H_diag"] = LBFGS_FIRST_STEP * x.numel() / state["prev_flat_grad"].abs().sum().clamp_min(1e-12)
        group.update(line_search_fn="strong_wolfe", max_eval=1 + LINE_SEARCH_EVALUATIONS)
    try:
        opt.step(closure)
    finally:
        group.update(lr=lr, line_search_fn=None, max_eval=1)


def optimize(image: torch.Tensor, objective: Objective, *, iterations: int, optimizer: str = "lbfgs",
             lr: float | None = None, on_step: Callable[[Step], None] | None = None,
             max_retries: int = 10, checkpoint_every: int = 0,
             on_checkpoint: Callable[[dict], None] | None = None, resume: dict | None = None,
             lbfgs_history: int = 50) -> Result:
    """Minimize `objective` over the pixels of `image` for `iterations` iterations.

    Every `checkpoint_every` iterations `on_checkpoint` receives the whole state of the loop
    (image, best so far, optimizer state, counters); passing such a state as `resume` continues
    exactly where it was taken, so a killed run can be resumed to the same result.
    """
    if iterations < 1:
        raise InputError("iterations must be at least 1")
    if optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer '{optimizer}': choose one of {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if not (lr > 0 and math.isfinite(lr)):
        raise InputError(f"learning rate must be a positive number, got {lr}")
    x = image.detach().clone(memory_format=torch.contiguous_format).clamp_(0, 1).requires_grad_(True)
    opt = make_optimizer(optimizer, [x], lr, lbfgs_history)
    best = {"loss": math.inf, "image": x.detach().clone(), "parts": {}}
    scale = None
    evaluations = 0
    current: dict = {}
    history: list[dict[str, float]] = []
    iteration = 0
    retries = 0
    if resume is not None:
        with torch.no_grad():
            x.copy_(resume["x"])
        lr, retries, iteration = resume["lr"], resume["retries"], resume["iteration"]
        scale, evaluations = resume["scale"], resume["evaluations"]
        best, history = dict(resume["best"]), list(resume["history"])
        opt = make_optimizer(optimizer, [x], lr, lbfgs_history)
        opt.load_state_dict(resume["optimizer"])

    def closure() -> torch.Tensor:
        nonlocal scale, evaluations
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():  # a no-op after the loop's clamp; a line search's trial points need it
            x.clamp_(0, 1)
        loss, parts = objective(x)
        evaluations += 1
        value = loss.item()
        if scale is None:
            scale = 1.0 / value if value > 0 and math.isfinite(value) else 1.0
        scaled = loss * scale
        scaled.backward()
        if not (math.isfinite(value) and torch.isfinite(x.grad).all()):
            raise _NonFinite
        current.update(loss=value, parts=parts)
        if value < best["loss"]:  # x is the point just evaluated (already clamped)
            best.update(loss=value, image=x.detach().clone(), parts=parts)
        return scaled

    def back_to_best() -> torch.optim.Optimizer:
        """The best image evaluated, and a fresh optimizer (at the current lr) to go on from it."""
        with torch.no_grad():
            x.copy_(best["image"])
        return make_optimizer(optimizer, [x], lr, lbfgs_history)

    start = time.perf_counter()
    interrupted = False
    warning = None
    try:
        while iteration < iterations:
            try:
                if optimizer == "lbfgs":
                    lbfgs_step(opt, closure, x, lr)
                else:
                    closure()
                    if optimizer == "gd":
                        x.grad /= x.grad.abs().mean().clamp_min(1e-12)
                    opt.step()
            except _NonFinite:
                # Step back to the best image and try again with a 4x smaller step, fresh state.
                retries += 1
                if best["loss"] == math.inf:
                    raise StylesynthError("the loss is not finite at the start image: check the "
                                          "inputs and weights") from None
                if retries > max_retries:
                    warning = (f"stopped at iteration {iteration}: the loss kept becoming non-finite "
                               f"after {max_retries} retries with smaller steps; kept the last good "
                               "image (try a smaller --lr)")
                    break
                lr /= 4
                opt = back_to_best()
                continue
            with torch.no_grad():
                x.clamp_(0, 1)
            iteration += 1
            history.append({"iteration": iteration, "loss": current["loss"], **current["parts"]})
            if current["loss"] - best["loss"] > (BLOWUP - 1) * abs(best["loss"]):  # dream's loss is negative
                opt = back_to_best()
            if on_step is not None:
                on_step(Step(iteration, iterations, current["loss"], current["parts"], x.detach()))
            stop = signals.received() is not None  # SIGINT/SIGTERM: this step was the last
            if checkpoint_every and on_checkpoint is not None and (stop or iteration % checkpoint_every == 0):
                on_checkpoint({"x": x.detach().clone(), "best": dict(best), "scale": scale, "lr": lr,
                               "evaluations": evaluations, "iteration": iteration, "retries": retries,
                               "optimizer": opt.state_dict(), "history": list(history)})
            if stop:
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    if best["loss"] == math.inf:
        raise StylesynthError("interrupted before the first evaluation: nothing to save")
    return Result(image=best["image"], loss=best["loss"], parts=best["parts"], iterations=iteration,
                  evaluations=evaluations, seconds=time.perf_counter() - start,
                  interrupted=interrupted, history=history, warning=warning)
