"""The loss terms of Gatys et al. (../shared/seeds, Methods), each one short class.

Normalization (so that a ratio alpha/beta means the same at every image size):

* Content, Eq. 1, is 1/2 sum (F - P)^2. That sum grows with the number of feature entries
  N_l * M_l, i.e. with the image area, while the style term does not. We divide it by N_l * M_l:
  ``ContentLoss = 1/2 mean (F - P)^2``.
* Style, Eq. 4, is 1/(4 N_l^2 M_l^2) sum (G - A)^2, already independent of the size. We compute it
  as 1/(4 N_l^2) sum (G/M_x - A/M_a)^2, which equals Eq. 4 when generated and style images have
  the same size and also lets them differ (a texture larger than its swatch).
* Eq. 5 sums E_l with weights w_l; Eq. 7 is alpha * content + beta * style.
"""

from __future__ import annotations

import torch
from torch import nn


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Eq. 3 divided by M: G_ij / M = mean over positions of F_i * F_j, shape (N, N), float32.

    Bfloat16 features (see FeatureExtractor.forward) are multiplied as they are, at twice the
    float32 speed, with float32 accumulation."""
    n = features.shape[1]
    flat = features.permute(0, 2, 3, 1).reshape(-1, n)  # batch of one: (M_l, N_l), a view if NHWC
    return (flat.T @ flat).float() / flat.shape[0]


class ContentLoss(nn.Module):
    """Eq. 1 per feature entry: 1/2 mean (F - P)^2 against the target activations P."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target.detach())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return 0.5 * (features.float() - self.target).pow(2).mean()


class StyleLoss(nn.Module):
    """Eq. 4: 1/(4 N^2) sum (G/M - A/M_a)^2 against the target's normalized Gram matrix A/M_a."""

    def __init__(self, target_gram: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target_gram.detach())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n = features.shape[1]
        return (gram_matrix(features) - self.target).pow(2).sum() / (4 * n * n)


class TVLoss(nn.Module):
    """Total variation: mean squared difference between neighbouring pixels (smoothness prior)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return dx.pow(2).mean() + dy.pow(2).mean()


class GuidedStyleLoss(nn.Module):
    """Eq. 4 restricted to a region (Gatys et al. 2017, guided Gram matrices): the features are
    weighted by the region's soft mask m before the Gram matrix, normalized by sum m^2, so a
    mask of ones gives StyleLoss exactly. The mask is resized to each layer's map once."""

    def __init__(self, target_gram: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target_gram.detach())
        self.register_buffer("mask", mask.detach())  # 1x1xHxW at the image's resolution
        self._resized: dict[tuple[int, int], torch.Tensor] = {}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        size = tuple(features.shape[-2:])
        if size not in self._resized:
            self._resized[size] = nn.functional.interpolate(self.mask, size=size, mode="area")
        m = self._resized[size]
        n = features.shape[1]
        flat = (features * m).reshape(n, -1)
        gram = flat @ flat.T / m.pow(2).sum().clamp_min(1e-8)
        return (gram - self.target).pow(2).sum() / (4 * n * n)
