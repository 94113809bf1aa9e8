"""Artist controls (Gatys et al. 2017): colour preservation, style scale, region masks, sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import stylesynth
from stylesynth.engine import colors
from stylesynth.io.images import load_image, to_tensor
from stylesynth.engine.losses import GuidedStyleLoss
from stylesynth.engine.objective import DEFAULT_STYLE_LAYERS, parse_layers, style_targets
from stylesynth.options import RunOptions
from stylesynth.nets.pretrained import shared_network

from conftest import CONTENT, EXAMPLES, STYLE, run_cli

pytestmark = pytest.mark.usefixtures("vgg16_weights")
SMALL = dict(size=96, scales=1, iterations=40, seed=0, progress=False)
SCREAM = EXAMPLES / "the_scream.jpg"


def test_luminance_mode_keeps_the_content_chrominance():
    out = stylesynth.transfer(CONTENT, STYLE, preserve_colors="luminance", **SMALL)
    photo = load_image(CONTENT, 96)
    a, b = colors.to_ycbcr(out), colors.to_ycbcr(photo)
    assert np.abs(a[..., 1:] - b[..., 1:]).mean() < 1.0
    assert np.abs(a[..., 0] - b[..., 0]).mean() > 2.0  # the luminance did change


def test_histogram_mode_keeps_the_content_colour_statistics():
    out = np.asarray(stylesynth.transfer(CONTENT, SCREAM, preserve_colors="histogram", **SMALL),
                     dtype=np.float64).reshape(-1, 3)
    photo = np.asarray(load_image(CONTENT, 96), dtype=np.float64).reshape(-1, 3)
    assert np.all(np.abs(out.mean(0) / photo.mean(0) - 1) < 0.05)
    assert np.all(np.abs(out.std(0) / photo.std(0) - 1) < 0.05)
    # the orange painting is what gets recoloured: its statistics move onto the photo's
    scream = load_image(SCREAM, 96)
    raw = np.asarray(scream, dtype=np.float64).reshape(-1, 3)
    matched = np.asarray(colors.match_histogram(scream, load_image(CONTENT, 96)), dtype=np.float64).reshape(-1, 3)
    assert np.abs(raw.mean(0) / photo.mean(0) - 1).max() > 0.2
    assert np.all(np.abs(matched.mean(0) / photo.mean(0) - 1) < 0.02)


def test_the_palette_start_has_the_paintings_colour_distribution_and_the_photos_layout():
    # match_distribution (the default start's recolouring) matches the painting's whole colour
    # distribution; the mean-and-covariance map leaves The Scream's oranges short.
    photo, scream = load_image(CONTENT, 96), load_image(SCREAM, 120)
    painting = np.asarray(scream, dtype=np.float64).reshape(-1, 3)
    quantiles = np.linspace(0.02, 0.98, 25)

    def worst_quantile_error(image: Image.Image) -> float:
        pixels = np.asarray(image, dtype=np.float64).reshape(-1, 3)
        return np.abs(np.quantile(pixels, quantiles, axis=0) - np.quantile(painting, quantiles, axis=0)).max()

    start = colors.match_distribution(photo, scream)
    assert start.size == photo.size
    assert worst_quantile_error(start) <= 4 and worst_quantile_error(colors.match_histogram(photo, scream)) > 20

    def luminance_ranks(image: Image.Image) -> np.ndarray:
        y = np.asarray(image, dtype=np.float64).reshape(-1, 3) @ np.array([0.299, 0.587, 0.114])
        return np.argsort(np.argsort(y, kind="stable"), kind="stable")

    assert np.corrcoef(luminance_ranks(start), luminance_ranks(photo))[0, 1] > 0.9
    assert start.tobytes() == colors.match_distribution(photo, scream).tobytes()


def _autocorrelation_width(image: Image.Image) -> int:
    """Radius (px) at which the luminance autocorrelation falls below 1/2: the typical size of
    the image's structures (brush strokes, here)."""
    y = colors.to_ycbcr(image)[..., 0]
    y = y - y.mean()
    spectrum = np.fft.fft2(y)
    auto = np.real(np.fft.ifft2(spectrum * np.conj(spectrum)))
    auto /= auto[0, 0]
    fy, fx = np.meshgrid(np.fft.fftfreq(y.shape[0]) * y.shape[0], np.fft.fftfreq(y.shape[1]) * y.shape[1],
                         indexing="ij")
    radius = np.hypot(fy, fx)
    for d in range(1, min(y.shape) // 2):
        if auto[(radius >= d - 0.5) & (radius < d + 0.5)].mean() < 0.5:
            return d
    return min(y.shape) // 2


def test_style_scale_changes_the_stroke_size():
    kwargs = dict(size=128, seed=0, progress=False, iterations="50,12")  # coarse to fine
    small = stylesynth.transfer(CONTENT, STYLE, style_scale=0.5, **kwargs)
    large = stylesynth.transfer(CONTENT, STYLE, style_scale=2.0, **kwargs)
    assert _autocorrelation_width(large) >= _autocorrelation_width(small) + 2
    assert small.info["stylesynth"]["style_scale"] == 0.5


def test_mask_gives_each_region_its_own_style(tmp_path):
    mask = Image.new("RGB", (128, 96), "black")
    mask.paste((255, 255, 255), (0, 0, 64, 96))  # left: first style, right: second
    mask.save(tmp_path / "mask.png")
    out = stylesynth.transfer(CONTENT, [STYLE, SCREAM], mask=tmp_path / "mask.png", **SMALL)
    net = shared_network("vgg16", RunOptions.pooling, "auto", None)
    layers = parse_layers(DEFAULT_STYLE_LAYERS)
    x = to_tensor(out)
    w = x.shape[-1]
    halves = {"left": torch.zeros(1, 1, *x.shape[-2:]), "right": torch.zeros(1, 1, *x.shape[-2:])}
    halves["left"][..., : w // 2 - 4] = 1  # away from the soft seam
    halves["right"][..., w // 2 + 4:] = 1
    targets = {name: style_targets(net, [(to_tensor(load_image(p, 96)), 1.0)], layers)
               for name, p in (("starry", STYLE), ("scream", SCREAM))}
    with torch.no_grad():
        features = net(x, list(layers))

    def distance(region, style):
        return sum(w_l * GuidedStyleLoss(g, halves[region])(features[l]).item()
                   for l, (w_l, g) in targets[style].items())

    assert distance("left", "starry") < distance("left", "scream")
    assert distance("right", "scream") < distance("right", "starry")


def test_mask_protected_region_keeps_the_photo(tmp_path):
    mask = Image.new("RGB", (128, 96), "black")  # darkest colour: protected
    mask.paste((255, 255, 255), (0, 0, 64, 96))
    mask.paste((128, 128, 128), (64, 0, 96, 96))
    mask.save(tmp_path / "mask.png")
    out = np.asarray(stylesynth.transfer(CONTENT, [STYLE, SCREAM], mask=tmp_path / "mask.png", **SMALL),
                     dtype=np.float64)
    photo = np.asarray(load_image(CONTENT, 96), dtype=np.float64)
    w = out.shape[1]  # the mask's right quarter is protected, its left half styled
    kept = np.abs(out[:, w * 13 // 16:] - photo[:, w * 13 // 16:]).mean()
    styled = np.abs(out[:, : w * 7 // 16] - photo[:, : w * 7 // 16]).mean()
    assert kept < 2.0 < styled


def test_mask_with_wrong_colours_or_shape_is_refused(tmp_path, capsys):
    Image.new("RGB", (128, 96), "white").save(tmp_path / "one.png")
    Image.new("RGB", (50, 200), "white").save(tmp_path / "tall.png")
    for mask in ("one.png", "tall.png"):
        out = tmp_path / "out.png"
        code = run_cli(["transfer", CONTENT, "--style", STYLE, "--style", SCREAM, "--mask",
                        tmp_path / mask, "-o", out, "--size", "64"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "mask" in err and not out.exists()


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_exact_output_size_by_crop_or_pad(tmp_path, fit):
    out = stylesynth.transfer(CONTENT, STYLE, out_size="80x80", fit=fit, size=64, scales=1,
                              iterations=2, seed=0, progress=False)
    assert out.size == (80, 80) and out.info["stylesynth"]["fit"] == fit


def test_size_original_keeps_the_content_resolution(tmp_path):
    photo = load_image(CONTENT, 100)
    photo.save(tmp_path / "small.png")
    out = stylesynth.transfer(tmp_path / "small.png", STYLE, size="original", scales=1, iterations=2,
                              seed=0, progress=False)
    assert out.size == photo.size
