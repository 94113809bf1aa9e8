"""The loss terms of Gatys, Ecker & Bethge ("A Neural Algorithm of Artistic Style", Methods),
each one short class.

Normalization (docs/normalization.md says why, with the measurements):

* Content, Eq. 1, is 1/2 sum (F - P)^2. We divide it by sum P^2: ``ContentLoss = |F - P|^2 /
  |P|^2``, the relative error of the layer's activations (0 for the photo, about 1 for a blank
  image), the same at every image size and on every network.
* Style, Eq. 4, is 1/(4 N_l^2 M_l^2) sum (G - A)^2. Taken literally on an ImageNet network the
  deep layers' terms are hundreds of times the shallow ones' (their activations are larger),
  so the colour and brush-stroke statistics of the first layers get no say. We divide each
  layer's sum by sum A^2 instead and take the square root: ``StyleLoss = |G - A| / |A|``, the
  relative distance of the layer's Gram matrix, so each layer counts as its weight w_l says.
  Not its square: a squared error's gradient shrinks with the error, so once the first layers
  are close (relative distance 0.07 against the deep layers' 0.27) they got a quarter of the
  push and the strokes stopped improving; the distance pushes every layer by its weight
  until the end (docs/normalization.md). G is F F^T / M (the mean over positions), which
  also lets the generated and style images differ in size.
* Eq. 5 sums E_l with weights w_l; Eq. 7 is alpha * content + beta * style.

The `Squared*` classes are jcjohnson/neural-style's terms instead (the `classic` preset,
docs/classic.md): mean squared errors of the activations and of Gram / (C H W), and TV as half
the sum of squared neighbour differences in Caffe's 0..255 units.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nets.networks import CAFFE_RANGE


class _GramProduct(torch.autograd.Function):
    """F^T F for F of shape (M, N), with a backward pass of one matrix product instead of
    autograd's two: the gradient is F (dG + dG^T). At 512 px the eleven default style layers'
    products are a quarter of an evaluation's arithmetic; this saves a third of that."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat.T @ flat

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return flat @ (grad + grad.T).to(flat.dtype)


def gram_product(flat: torch.Tensor) -> torch.Tensor:
    """F^T F (N x N) of features laid out as (positions M, channels N), as float32."""
    return _GramProduct.apply(flat).float()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Eq. 3 divided by M: G_ij / M = mean over positions of F_i * F_j, shape (N, N), float32.

    Bfloat16 features (see FeatureExtractor.forward) are multiplied as they are, at twice the
    float32 speed, with float32 accumulation."""
    n = features.shape[1]
    flat = features.permute(0, 2, 3, 1).reshape(-1, n)  # batch of one: (M_l, N_l), a view if NHWC
    return gram_product(flat) / flat.shape[0]


def relative_error(x: torch.Tensor, target: torch.Tensor, target_energy: torch.Tensor) -> torch.Tensor:
    """|x - target|^2 / |target|^2, with the target's energy computed once."""
    return (x - target).pow(2).sum() / target_energy


def relative_distance(x: torch.Tensor, target: torch.Tensor, target_energy: torch.Tensor) -> torch.Tensor:
    """|x - target| / |target| (Frobenius norms), relative_error's square root. The clamp keeps
    the gradient finite (zero) at an exact match, where the square root's derivative is infinite."""
    return relative_error(x, target, target_energy).clamp_min(1e-12).sqrt()


class ContentLoss(nn.Module):
    """Eq. 1, relative: |F - P|^2 / |P|^2 against the target activations P."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.register_buffer("energy", self.target.pow(2).sum().clamp_min(1e-12))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return relative_error(features.float(), self.target, self.energy)


class StyleLoss(nn.Module):
    """Eq. 4 as a relative distance: |G/M - A/M_a| / |A/M_a| against the target's Gram matrix A/M_a."""

    def __init__(self, target_gram: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())
        self.register_buffer("energy", self.target.pow(2).sum().clamp_min(1e-12))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.from_gram(gram_matrix(features))

    def from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        """The loss of a Gram matrix computed elsewhere (tile by tile: localized.py)."""
        return relative_distance(gram, self.target, self.energy)


class TVLoss(nn.Module):
    """Total variation: mean squared difference between neighbouring pixels (smoothness prior).
    With `wrap` the last column's neighbour is the first (a periodic texture): otherwise the seam
    would be the one place left unsmoothed, and a step would show there when the image is tiled."""

    def __init__(self, wrap: bool = False):
        super().__init__()
        self.wrap = wrap

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.wrap:
            dx, dy = image - image.roll(1, -1), image - image.roll(1, -2)
        else:
            dx = image[..., :, 1:] - image[..., :, :-1]
            dy = image[..., 1:, :] - image[..., :-1, :]
        return dx.pow(2).mean() + dy.pow(2).mean()


class GuidedStyleLoss(nn.Module):
    """Eq. 4 restricted to a region (Gatys et al. 2017, guided Gram matrices): the features are
    weighted by the region's soft mask m before the Gram matrix, normalized by sum m^2, so a
    mask of ones gives StyleLoss exactly. The mask is resized to each layer's map once."""

    def __init__(self, target_gram: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())
        self.register_buffer("energy", self.target.pow(2).sum().clamp_min(1e-12))
        self.register_buffer("mask", mask.detach())  # 1x1xHxW at the image's resolution
        self._resized: dict[tuple[int, int], torch.Tensor] = {}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        size = tuple(features.shape[-2:])
        if size not in self._resized:
            self._resized[size] = nn.functional.interpolate(self.mask, size=size, mode="area")
        m = self._resized[size]
        n = features.shape[1]
        flat = (features.float() * m).permute(0, 2, 3, 1).reshape(-1, n)
        return self.from_gram(gram_product(flat) / m.pow(2).sum().clamp_min(1e-8))

    def from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        return relative_distance(gram, self.target, self.energy)


class SquaredContentLoss(nn.Module):
    """neural-style's content term (nn.MSECriterion): the mean of (F - P)^2. As ContentLoss it
    divides the sum by `energy`, here the element count (localized.py sums tiles that way)."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.register_buffer("energy", torch.tensor(float(self.target.numel())))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return relative_error(features.float(), self.target, self.energy)


class SquaredStyleLoss(nn.Module):
    """neural-style's style term: the mean of (G - A)^2 over the N x N entries, where G is
    F F^T / (N M) (GramMatrix, then `G:div(input:nElement())`). The target given is this
    project's A / M (gram_matrix, shared with the other terms' target cache): divided by N here."""

    def __init__(self, target_gram: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target_gram.detach().float() / target_gram.shape[0])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.from_gram(gram_matrix(features))

    def from_gram(self, gram: torch.Tensor) -> torch.Tensor:
        """The loss of a Gram matrix (divided by M) computed elsewhere (localized.py)."""
        return (gram / gram.shape[0] - self.target).pow(2).mean()


class SquaredTVLoss(nn.Module):
    """neural-style's TVLoss, whose backward pass is the gradient of half the sum of squared
    differences to the right and lower neighbours over the first H-1 rows and W-1 columns,
    in Caffe's 0..255 pixel units."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        corner = image[..., :-1, :-1]
        dx = corner - image[..., :-1, 1:]
        dy = corner - image[..., 1:, :-1]
        return 0.5 * CAFFE_RANGE ** 2 * (dx.pow(2).sum() + dy.pow(2).sum())
