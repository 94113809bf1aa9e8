"""Localized passes: the exact gradient of the whole-image objective, one tile at a time.

A Gram matrix is a sum over positions and the content and TV terms are sums of local terms,
so the objective of an image too large for memory can be differentiated region by region
(Galerne et al. 2024, "Scaling Painting Style Transfer"):

1. statistics: for each tile, the network runs on the tile with a halo around it (wide enough
   for the deepest layer's reach), and the activations of the tile's interior add to each
   layer's Gram matrix and content error. No activation outlives its tile.
2. the loss and its derivative with respect to every Gram matrix follow from the sums;
3. gradient: for each tile again, a surrogate whose gradient is the tile's exact share -
   <dL/dG, the tile's part of G> plus its part of the content error - is back-propagated into
   the tile's pixels (halo included) and added up.

The result is the gradient of the untiled objective, up to the order of floating-point sums:
no seams and no drift between tiles, by construction. Tiles and halos are multiples of the
network's total stride (16 for VGG), so every pooling window falls the same way as on the whole
image. Only the VGG networks (3x3 convolutions, 2x2 pooling) can be tiled this way.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from .losses import gram_product

STRIDE = 16  # 2**4 poolings before the deepest layer used (relu5_1): tiles align to it


def layer_geometry(net, layers: list[str]) -> tuple[dict[str, int], int]:
    """Each layer's stride (input pixels per feature position) and the reach of the deepest:
    how far (in input pixels) an activation depends on pixels beyond its own footprint."""
    if net.arch == "alexnet":
        raise InputError("localized passes (--tile) need a VGG network: AlexNet's 11x11 stride-4 "
                         "convolution and overlapping pools do not tile exactly")
    strides, stride, reach, deepest = {}, 1, 0, max(net.layer_names.index(n) for n in layers)
    for name in net.layer_names[:deepest + 1]:
        if name.startswith("conv"):
            reach += stride  # a 3x3 convolution sees one position further on each side
        elif name.startswith("pool"):
            reach += stride  # a 2x2 window reaches one position to one side
            stride *= 2
        strides[name] = stride
    return {name: strides[name] for name in layers}, reach


def tiles(height: int, width: int, tile: int, halo: int) -> list[tuple[slice, slice, slice, slice]]:
    """[(rows, cols) of the crop with its halo, (rows, cols) of the interior), ...] in pixels;
    the interiors partition the image."""
    out = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            out.append((slice(max(0, y0 - halo), min(height, y1 + halo)),
                        slice(max(0, x0 - halo), min(width, x1 + halo)), slice(y0, y1), slice(x0, x1)))
    return out


def _feature_slice(inner: slice, crop: slice, stride: int, full: int) -> tuple[slice, slice]:
    """The interior's rows (or columns) at a layer of `stride`: in the crop's map and the image's."""
    start = inner.start // stride
    stop = full if inner.stop % stride else inner.stop // stride  # the image's last, floored edge
    stop = min(stop, full)
    offset = crop.start // stride
    return slice(start - offset, stop - offset), slice(start, stop)


def map_sizes(strides: dict[str, int], height: int, width: int) -> dict[str, tuple[int, int]]:
    """Each layer's map size for the whole image (every 2x2 pooling floors)."""
    return {name: (height >> (s.bit_length() - 1), width >> (s.bit_length() - 1)) for name, s in strides.items()}


def interiors(features: dict[str, torch.Tensor], strides: dict[str, int], sizes: dict[str, tuple[int, int]],
              crop_rows: slice, crop_cols: slice, rows: slice, cols: slice):
    """{layer: (the tile interior's activations, their (rows, cols) in the whole image's map)}."""
    out = {}
    for name, f in features.items():
        fr, ir = _feature_slice(rows, crop_rows, strides[name], sizes[name][0])
        fc, ic = _feature_slice(cols, crop_cols, strides[name], sizes[name][1])
        out[name] = (f[..., fr, fc], (ir, ic))
    return out


def _tile_features(net, image: torch.Tensor, layers: list[str], tile: int):
    """Each tile's interior activations of `layers`, with where they go in the whole map:
    yields the whole maps' sizes, then (name, features, (rows, cols)) (run it under no_grad)."""
    strides, reach = layer_geometry(net, layers)
    tile, halo = _round(tile), _round(reach)
    height, width = image.shape[-2:]
    sizes = map_sizes(strides, height, width)
    yield sizes
    for crop_rows, crop_cols, rows, cols in tiles(height, width, tile, halo):
        features = net(image[..., crop_rows, crop_cols], layers)
        for name, (f, where) in interiors(features, strides, sizes, crop_rows, crop_cols, rows, cols).items():
            yield name, f, where


@torch.no_grad()
def tiled_maps(net, image: torch.Tensor, layers: list[str], tile: int) -> dict[str, torch.Tensor]:
    """The whole image's activations of `layers` (content targets), computed tile by tile
    without the other layers' whole-image activations in memory."""
    parts = _tile_features(net, image, layers, tile)
    sizes = next(parts)
    maps: dict[str, torch.Tensor] = {}
    for name, f, (rows, cols) in parts:
        if name not in maps:
            maps[name] = f.new_zeros((1, f.shape[1], *sizes[name]))
        maps[name][..., rows, cols] = f
    return maps


@torch.no_grad()
def tiled_grams(net, image: torch.Tensor, layers: list[str], tile: int) -> dict[str, torch.Tensor]:
    """The whole image's Gram matrices of `layers` (style targets), tile by tile: only one tile's
    activations are ever in memory (a 4096 px painting's relu1_1 alone would be 3.4 GB)."""
    parts = _tile_features(net, image, layers, tile)
    sizes = next(parts)
    grams = {name: 0.0 for name in layers}
    for name, f, _ in parts:
        grams[name] = grams[name] + _gram_sum(f.float())
    return {name: grams[name] / (sizes[name][0] * sizes[name][1]) for name in layers}


def _round(pixels: int) -> int:
    """Up to a multiple of STRIDE (and at least one)."""
    return max(STRIDE, -(-int(pixels) // STRIDE) * STRIDE)


class LocalizedObjective:
    """A GatysObjective evaluated tile by tile: the same value and gradient, bounded memory.

    `tile` is the interior's side in pixels (rounded up to a multiple of 16). Called like the
    objective, it returns (loss, parts) where loss.backward() delivers the exact gradient."""

    def __init__(self, objective, tile: int, on_tile=None):
        """`on_tile(done, total)`: called after each tile of the gradient pass (progress)."""
        self.objective, self.net, self.on_tile = objective, objective.net, on_tile
        self.tile = _round(tile)
        self.strides, reach = layer_geometry(self.net, objective.layers)
        self.halo = _round(reach)
        self.tiles_done = 0  # tiles of the current call's gradient pass

    def _interiors(self, features, crop_rows, crop_cols, rows, cols, full_sizes):
        return interiors(features, self.strides, full_sizes, crop_rows, crop_cols, rows, cols)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        obj, net = self.objective, self.net
        height, width = image.shape[-2:]
        full_sizes = map_sizes(self.strides, height, width)
        plan = tiles(height, width, self.tile, self.halo)
        x = image.detach()

        # 1. statistics: Gram sums (plain and per region) and content errors, tile by tile
        sums = {name: 0.0 for name in obj.style}
        region_sums = [{name: 0.0 for name in region} for region in obj.regions]
        content = {name: x.new_zeros(()) for name in obj.content}
        with torch.no_grad():
            for crop_rows, crop_cols, rows, cols in plan:
                features = net(x[..., crop_rows, crop_cols], obj.layers, dtype=obj.dtype)
                for name, (f, (ir, ic)) in self._interiors(features, crop_rows, crop_cols, rows, cols,
                                                           full_sizes).items():
                    f = f.float()
                    if name in obj.content:
                        loss = obj.content[name][1]
                        content[name] += (f - loss.target[..., ir, ic]).pow(2).sum() / loss.energy
                    if name in obj.style:
                        sums[name] = sums[name] + _gram_sum(f)
                    for k, region in enumerate(obj.regions):
                        if name in region:
                            m = _mask_at(region[name][1], full_sizes[name])[..., ir, ic]
                            region_sums[k][name] = region_sums[k][name] + _gram_sum(f * m)

        # 2. the loss from the sums, and its derivative with respect to each sum (autograd on
        # the objective's own combination of its terms, so the weighting is written once)
        content = {name: v.requires_grad_() for name, v in content.items()}
        grams = {name: g.requires_grad_() for name, g in sums.items()}
        region_grams = [{name: g.requires_grad_() for name, g in r.items()} for r in region_sums]
        style_values = {name: obj.style[name][1].from_gram(g / _positions(full_sizes[name]))
                        for name, g in grams.items()}
        region_values = [{name: region[name][1].from_gram(g / _mask_at(region[name][1], full_sizes[name])
                                                            .pow(2).sum().clamp_min(1e-8))
                          for name, g in rg.items()} for region, rg in zip(obj.regions, region_grams)]
        image_leaf = image.detach().requires_grad_()
        total, parts = obj.combine(content, style_values, region_values, image_leaf)
        keys = ([("content", n) for n in content] + [("style", n) for n in grams]
                + [(k, n) for k, r in enumerate(region_grams) for n in r])
        leaves = list(content.values()) + list(grams.values()) + [g for r in region_grams for g in r.values()]
        *derivatives, gradient = torch.autograd.grad(total, leaves + [image_leaf], allow_unused=True)
        d = dict(zip(keys, derivatives))
        gradient = torch.zeros_like(image) if gradient is None else gradient.detach().clone()

        # 3. gradient: each tile's exact share, back-propagated into its pixels (halo included)
        self.tiles_done = 0
        for crop_rows, crop_cols, rows, cols in plan:
            crop = x[..., crop_rows, crop_cols].clone().requires_grad_()
            features = net(crop, obj.layers, dtype=obj.dtype)
            surrogate = crop.new_zeros(())
            for name, (f, (ir, ic)) in self._interiors(features, crop_rows, crop_cols, rows, cols,
                                                       full_sizes).items():
                f = f.float()
                if name in obj.content:
                    loss = obj.content[name][1]
                    share = (f - loss.target[..., ir, ic]).pow(2).sum() / loss.energy
                    surrogate = surrogate + d[("content", name)] * share
                if name in obj.style and d[("style", name)] is not None:
                    surrogate = surrogate + (d[("style", name)] * _gram_sum(f)).sum()
                for k, region in enumerate(obj.regions):
                    if name in region and d[(k, name)] is not None:
                        m = _mask_at(region[name][1], full_sizes[name])[..., ir, ic]
                        surrogate = surrogate + (d[(k, name)] * _gram_sum(f * m)).sum()
            if surrogate.requires_grad:
                surrogate.backward()
                gradient[..., crop_rows, crop_cols] += crop.grad
            self.tiles_done += 1
            if self.on_tile is not None:
                self.on_tile(self.tiles_done, len(plan))
        value = total.detach()
        # A scalar with the objective's value whose gradient with respect to `image` is `gradient`.
        return value + (image * gradient).sum() - (image * gradient).sum().detach(), parts


def _gram_sum(features: torch.Tensor) -> torch.Tensor:
    """F F^T summed (not averaged) over the positions given (none at a floored edge: zeros)."""
    return gram_product(features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]))


def _mask_at(loss, size: tuple[int, int]) -> torch.Tensor:
    """A guided loss's mask at a layer's full map size (as GuidedStyleLoss resizes it)."""
    if size not in loss._resized:
        loss._resized[size] = torch.nn.functional.interpolate(loss.mask, size=size, mode="area")
    return loss._resized[size]


def _positions(size: tuple[int, int]) -> int:
    return size[0] * size[1]
