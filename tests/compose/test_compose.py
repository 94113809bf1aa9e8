"""Pixel-level models (stylesynth.compose), mostly driven through the CLI.

Every expected image is computed here independently and plainly (explicit
loops, lookup tables, textbook formulas) rather than by calling the code under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylesynth.cli import main
from stylesynth.compose.automata import elementary_ca, render_ca
from stylesynth.compose.filters import KERNELS, convolve, parse_kernel, pencil_sketch
from stylesynth.compose.patterns import PATTERNS, evaluate_formula, render_preset
from stylesynth.errors import InputError
from stylesynth.io.images import read_params

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usage_error(code: int, err: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stylesynth: error: ")


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)


def write(path, arr) -> Path:
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)
    return Path(path)


def round_half_up(v):
    return np.clip(np.floor(np.asarray(v, dtype=np.float64) + 0.5), 0, 255)


@pytest.fixture
def pair(tmp_path):
    """Two same-size RGB images: crops of real photos mixed with noise, as PNG files."""
    rng = np.random.default_rng(0)
    a = np.asarray(Image.open(EXAMPLES / "tubingen.jpg").convert("RGB"))[100:148, 200:264]
    b = np.asarray(Image.open(EXAMPLES / "starry_night.jpg").convert("RGB"))[50:98, 80:144]
    a = a.copy()
    a[:8] = rng.integers(0, 256, a[:8].shape)  # a strip of noise covers every level
    return write(tmp_path / "a.png", a), write(tmp_path / "b.png", b), a.astype(np.int64), b.astype(np.int64)


# --------------------------------------------------------------------------- blend


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.75, 1.0])
def test_blend_normal_is_eq2(capsys, tmp_path, pair, alpha):
    pa, pb, a, b = pair
    out = tmp_path / "out.png"
    code, stdout, _ = run(capsys, "blend", pa, pb, "-o", out, "--alpha", alpha)
    assert code == 0 and stdout.strip() == str(out)
    expected = round_half_up(alpha * a + (1 - alpha) * b)
    assert np.abs(read(out) - expected).max() <= 1


@pytest.mark.parametrize("mode", ["multiply", "screen", "overlay"])
def test_blend_modes_follow_their_formulas(capsys, tmp_path, pair, mode):
    pa, pb, a, b = pair
    A, B = a / 255.0, b / 255.0
    m = {
        "multiply": A * B,
        "screen": 1 - (1 - A) * (1 - B),
        "overlay": np.where(B < 0.5, 2 * A * B, 1 - 2 * (1 - A) * (1 - B)),
    }[mode]
    alpha = 0.6
    out = tmp_path / "out.png"
    code, _, _ = run(capsys, "blend", pa, pb, "-o", out, "--mode", mode, "--alpha", alpha)
    assert code == 0
    expected = round_half_up(255 * (alpha * m + (1 - alpha) * B))
    assert np.abs(read(out) - expected).max() <= 1


def test_blend_mask_is_per_pixel_alpha(capsys, tmp_path, pair):
    pa, pb, a, b = pair
    h, w = a.shape[:2]
    mask = np.tile(np.linspace(0, 255, w).round().astype(np.uint8), (h, 1))
    pm = write(tmp_path / "mask.png", mask)
    out = tmp_path / "out.png"
    code, _, _ = run(capsys, "blend", pa, pb, "-o", out, "--mask", pm)
    assert code == 0
    alpha = mask[:, :, None] / 255.0
    expected = round_half_up(alpha * a + (1 - alpha) * b)
    assert np.abs(read(out) - expected).max() <= 1
    # Where the mask is black the result is exactly B, where white exactly A.
    got = read(out)
    assert (got[:, 0] == b[:, 0]).all() and (got[:, -1] == a[:, -1]).all()


def test_blend_resizes_b_to_a_and_records_params(capsys, tmp_path, pair):
    pa, _, a, _ = pair
    small = write(tmp_path / "small.png", np.full((10, 7, 3), 40, np.uint8))
    out = tmp_path / "out.png"
    code, _, _ = run(capsys, "blend", pa, small, "-o", out, "--alpha", "0.25")
    assert code == 0
    assert read(out).shape == a.shape
    params = read_params(out)
    assert params["command"] == "blend" and params["alpha"] == 0.25 and params["mode"] == "normal"


def test_blend_alpha_and_mask_together_is_refused(capsys, tmp_path, pair):
    pa, pb, _, _ = pair
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "blend", pa, pb, "-o", out, "--alpha", "0.5", "--mask", pa)
    assert_usage_error(code, err)
    assert not out.exists()


@pytest.mark.parametrize("alpha", ["1.5", "-0.1", "nan", "x"])
def test_blend_bad_alpha(capsys, tmp_path, pair, alpha):
    pa, pb, _, _ = pair
    code, _, err = run(capsys, "blend", pa, pb, "-o", tmp_path / "o.png", "--alpha", alpha)
    assert_usage_error(code, err)


# --------------------------------------------------------------------------- automata


def reference_rule30(width: int, height: int) -> np.ndarray:
    """Rule 30 by an explicit neighbourhood table built from the bits of 30."""
    table = {}
    for n in range(8):
        table[((n >> 2) & 1, (n >> 1) & 1, n & 1)] = (30 >> n) & 1
    rows = [[0] * width]
    rows[0][width // 2] = 1
    for _ in range(1, height):
        prev = rows[-1]
        cell = lambda i: prev[i] if 0 <= i < width else 0  # noqa: E731
        rows.append([table[(cell(i - 1), cell(i), cell(i + 1))] for i in range(width)])
    return np.array(rows, dtype=bool)


def reference_rule90(width: int, height: int) -> np.ndarray:
    """Rule 90 from one cell is Pascal's triangle mod 2 (while it stays off the edges)."""
    c0 = width // 2
    out = np.zeros((height, width), dtype=bool)
    for t in range(height):
        for c in range(width):
            d = c - c0
            if abs(d) <= t and (t + d) % 2 == 0:
                out[t, c] = math.comb(t, (t + d) // 2) % 2 == 1
    return out


@pytest.mark.parametrize("rule, reference", [(30, reference_rule30), (90, reference_rule90)])
def test_rules_30_and_90_through_the_cli(capsys, tmp_path, rule, reference):
    out = tmp_path / f"rule{rule}.png"
    code, stdout, _ = run(capsys, "automaton", "-o", out, "--rule", rule, "--width", 201, "--height", 100)
    assert code == 0 and stdout.strip() == str(out)
    img = read(out)
    assert img.shape == (100, 201, 3)
    assert set(np.unique(img)) <= {0, 255}
    live = img[:, :, 0] == 0  # live cells are black
    assert (img[:, :, 0] == img[:, :, 1]).all() and (img[:, :, 1] == img[:, :, 2]).all()
    np.testing.assert_array_equal(live, reference(201, 100))
    params = read_params(out)
    assert params["command"] == "automaton" and params["rule"] == rule and params["width"] == 201


def test_rule30_reaches_the_dead_edges():
    # Narrow enough that the pattern hits both edges: exercises the dead-boundary rule.
    np.testing.assert_array_equal(elementary_ca(30, 21, 60), reference_rule30(21, 60))


def test_cell_scaling_is_exact(capsys, tmp_path):
    one, three = tmp_path / "one.png", tmp_path / "three.png"
    common = ["--rule", 30, "--width", 31, "--height", 16]
    assert run(capsys, "automaton", "-o", one, *common)[0] == 0
    assert run(capsys, "automaton", "-o", three, *common, "--cell", 3)[0] == 0
    small, big = read(one), read(three)
    assert big.shape == (48, 93, 3)
    for dy in range(3):
        for dx in range(3):
            np.testing.assert_array_equal(big[dy::3, dx::3], small)


def test_colors_option(capsys, tmp_path):
    out = tmp_path / "c.png"
    code, _, _ = run(capsys, "automaton", "-o", out, "--rule", 90, "--width", 9, "--height", 4,
                     "--colors", "ff0000,#00f")
    assert code == 0
    img = read(out)
    live = reference_rule90(9, 4)
    assert (img[live] == [255, 0, 0]).all() and (img[~live] == [0, 0, 255]).all()


def test_rainbow_colors_by_generation():
    img = render_ca(elementary_ca(90, 9, 4), colormap="rainbow")
    assert img.shape == (4, 9, 3) and (img[0, 0] == 255).all()  # dead cells stay white
    assert not (img[0, 4] == img[3, 1]).all()  # live cells differ by row


def test_random_init_is_seeded():
    a = elementary_ca(30, 50, 5, init="random", seed=7)
    b = elementary_ca(30, 50, 5, init="random", seed=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], np.random.default_rng(7).random(50) < 0.5)


@pytest.mark.parametrize("args", [
    ["--rule", "256"], ["--rule", "-1"], ["--rule", "abc"], ["--rule", "30", "--cell", "0"],
    ["--rule", "30", "--colors", "red"], ["--rule", "30", "--colors", "zzz,fff"],
])
def test_bad_automaton_options(capsys, tmp_path, args):
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "automaton", "-o", out, "--width", 10, "--height", 10, *args)
    assert_usage_error(code, err)
    assert not out.exists()


# --------------------------------------------------------------------------- filters


def loop_convolve(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """True convolution, written out: out[y,x] = Σ K[u,v]·I[y+cy-u, x+cx-v], edges clamped."""
    h, w = img.shape[:2]
    kh, kw = k.shape
    cy, cx = kh // 2, kw // 2
    out = np.zeros(img.shape, dtype=np.float64)
    for y in range(h):
        for x in range(w):
            for u in range(kh):
                for v in range(kw):
                    yy = min(max(y + cy - u, 0), h - 1)
                    xx = min(max(x + cx - v, 0), w - 1)
                    out[y, x] += k[u, v] * img[yy, xx]
    return out


def test_convolve_is_a_true_convolution():
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, (7, 9, 3))
    k = rng.normal(size=(3, 5))  # asymmetric and non-square, so flipping matters
    np.testing.assert_allclose(convolve(img, k), loop_convolve(img, k), atol=1e-9)
    np.testing.assert_allclose(convolve(img[:, :, 0], k), loop_convolve(img[:, :, 0], k), atol=1e-9)
    # A one-hot tap at the top-left: correlation would move content down-right,
    # the flipped (true) convolution moves it up-left.
    shift = np.zeros((3, 3))
    shift[0, 0] = 1
    assert convolve(img, shift)[3, 4, 0] == img[4, 5, 0]


def test_user_kernel_through_the_cli(capsys, tmp_path):
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (12, 10, 3)).astype(np.uint8)
    src = write(tmp_path / "in.png", img)
    text = "0,-1,0.5;-1,4,0;0.25,-1,0"
    out = tmp_path / "out.png"
    code, stdout, _ = run(capsys, "filter", src, "-o", out, "--kernel", text)
    assert code == 0 and stdout.strip() == str(out)
    k = np.array([[0, -1, 0.5], [-1, 4, 0], [0.25, -1, 0]])
    expected = round_half_up(loop_convolve(img.astype(np.float64), k))
    got = read(out)
    assert np.abs(got - expected).max() <= 1
    assert (got == expected).mean() > 0.99
    assert read_params(out)["kernel"] == text


@pytest.mark.parametrize("kind", sorted(KERNELS))
def test_named_kernels(capsys, tmp_path, kind):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (9, 8, 3)).astype(np.uint8)
    out = tmp_path / "out.png"
    code, _, _ = run(capsys, "filter", write(tmp_path / "in.png", img), "-o", out, "--kind", kind)
    assert code == 0
    expected = round_half_up(loop_convolve(img.astype(np.float64), KERNELS[kind]))
    assert np.abs(read(out) - expected).max() <= 1


@pytest.mark.parametrize("text", [
    "1,2;3", "1,2;3,4", "a,b,c", "nan,0,0", "inf", "", ";;", "1,,2", "1e999",
    ";".join([",".join(["1"] * 33)] * 33),
])
def test_bad_kernels(capsys, tmp_path, text):
    src = write(tmp_path / "in.png", np.zeros((4, 4, 3), np.uint8))
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "filter", src, "-o", out, "--kernel", text)
    assert_usage_error(code, err)
    assert not out.exists()


def test_parse_kernel():
    np.testing.assert_array_equal(parse_kernel("0,-1,0;-1,5,-1;0,-1,0"), KERNELS["sharpen"])
    with pytest.raises(InputError, match="row 2 has 2 values"):
        parse_kernel("1,2,3;4,5")


def test_filter_needs_exactly_one_of_kind_and_kernel(capsys, tmp_path):
    src = write(tmp_path / "in.png", np.zeros((4, 4, 3), np.uint8))
    out = tmp_path / "out.png"
    assert_usage_error(*run(capsys, "filter", src, "-o", out)[::2])
    assert_usage_error(*run(capsys, "filter", src, "-o", out, "--kind", "blur", "--kernel", "1")[::2])
    assert not out.exists()


def reference_sketch(channel: np.ndarray, sigma: float) -> np.ndarray:
    """grey → invert → Gaussian blur (explicit loops, clamped edges) → colour dodge."""
    radius = math.ceil(3 * sigma)
    weights = [math.exp(-(k * k) / (2 * sigma * sigma)) for k in range(-radius, radius + 1)]
    total = sum(weights)
    h, w = channel.shape
    inv = 255.0 - channel
    blurred = np.zeros_like(inv)
    for y in range(h):
        for x in range(w):
            acc = 0.0
            for i, wy in enumerate(weights):
                for j, wx in enumerate(weights):
                    yy = min(max(y + i - radius, 0), h - 1)
                    xx = min(max(x + j - radius, 0), w - 1)
                    acc += wy * wx * inv[yy, xx]
            blurred[y, x] = acc / (total * total)
    dodge = np.where(blurred >= 255, 255.0, channel * 255.0 / np.maximum(255.0 - blurred, 1e-12))
    return round_half_up(np.minimum(dodge, 255.0))


def test_pencil_sketch_pixel_formula():
    img = np.array([
        [[10, 20, 30], [200, 180, 160], [90, 90, 90], [255, 255, 255]],
        [[0, 0, 0], [120, 60, 30], [30, 60, 120], [250, 10, 10]],
        [[60, 200, 60], [5, 5, 5], [128, 128, 128], [40, 80, 160]],
    ], dtype=np.uint8)
    grey = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    got = pencil_sketch(img, blur_radius=1.0)
    assert got.shape == (3, 4) and got.dtype == np.uint8
    assert np.abs(got.astype(np.int64) - reference_sketch(grey, 1.0)).max() <= 1
    got_c = pencil_sketch(img, color=True, blur_radius=1.0)
    expected_c = np.stack([reference_sketch(img[:, :, c].astype(np.float64), 1.0) for c in range(3)], axis=2)
    assert np.abs(got_c.astype(np.int64) - expected_c).max() <= 1
    # A flat image has no edges: the sketch is blank paper.
    assert (pencil_sketch(np.full((5, 5, 3), 77, np.uint8)) == 255).all()


@pytest.mark.parametrize("kind", ["sketch", "sketch-color"])
def test_sketch_through_the_cli(capsys, tmp_path, kind):
    img = np.asarray(Image.open(EXAMPLES / "tubingen.jpg").convert("RGB"))[:40, :50]
    out = tmp_path / "out.png"
    code, _, _ = run(capsys, "filter", write(tmp_path / "in.png", img), "-o", out,
                     "--kind", kind, "--blur-radius", "2")
    assert code == 0
    expected = pencil_sketch(img, color=kind == "sketch-color", blur_radius=2.0)
    if expected.ndim == 2:
        expected = np.repeat(expected[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(read(out), expected)
    assert read_params(out)["blur_radius"] == 2.0


# --------------------------------------------------------------------------- patterns


def reference_grid(width: int, height: int):
    s = min(width, height)
    x = np.array([[(2 * j + 1 - width) / s for j in range(width)]] * height)
    y = np.array([[(height - 1 - 2 * i) / s] * width for i in range(height)])
    return x, y


def test_formula_matches_numpy(capsys, tmp_path):
    out = tmp_path / "p.png"
    code, stdout, _ = run(capsys, "pattern", "-o", out, "--formula", "sin(3*x)*cos(2*y)",
                          "--width", 64, "--height", 48)
    assert code == 0 and stdout.strip() == str(out)
    x, y = reference_grid(64, 48)
    expected = round_half_up(np.clip(np.sin(3 * x) * np.cos(2 * y), 0, 1) * 255)
    got = read(out)
    assert np.abs(got[:, :, 0] - expected).max() <= 1
    assert (got[:, :, 0] == got[:, :, 2]).all()
    assert read_params(out)["formula"] == "sin(3*x)*cos(2*y)"


def test_rgb_formula_and_polar_names():
    got = evaluate_formula("r; theta/pi; (x>0)*(y<0.5)", 20, 10)
    assert got.shape == (10, 20, 3)
    x, y = reference_grid(20, 10)
    for c, v in enumerate([np.hypot(x, y), np.arctan2(y, x) / np.pi, (x > 0) * (y < 0.5)]):
        assert np.abs(got[:, :, c].astype(np.int64) - round_half_up(np.clip(v, 0, 1) * 255)).max() <= 1


def test_formula_normalize():
    got = evaluate_formula("10*x - 3", 11, 11, normalize=True)
    assert got.min() == 0 and got.max() == 255
    x, _ = reference_grid(11, 11)
    assert np.abs(got.astype(np.int64) - round_half_up((x - x.min()) / (x.max() - x.min()) * 255)).max() <= 1


@pytest.mark.parametrize("formula", [
    "__import__('os').system('touch PWNED')",
    "__import__('os')",
    "x.__class__",
    "(1).real",
    "9**9**9",
    "x**1e9",
    "2**(1000*x)",
    "[1]",
    "lambda: 1",
    "open('PWNED', 'w')",
    "'a'",
    "sin(x, 2)",
    "sin(x=1)",
    "os",
    "x if y else 1",
    "[c for c in ()]",
    "x[0]",
    "1/(x-x)",
    "log(-1 + 0*x)",
    "1e999",
    "x;y",
    "x" * 1001,
    "-" * 250 + "x",
    "sin(x",
    "x and y",
    "True",
    "1j",
])
def test_malicious_and_bad_formulas_are_refused(capsys, tmp_path, monkeypatch, formula):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "p.png"
    code, stdout, err = run(capsys, "pattern", "-o", out, "--formula", formula, "--width", 8, "--height", 8)
    assert_usage_error(code, err)
    assert stdout == ""
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no PWNED, no temp files


def test_syntax_error_names_the_column(capsys, tmp_path):
    code, _, err = run(capsys, "pattern", "-o", tmp_path / "p.png", "--formula", "x + * 2",
                       "--width", 4, "--height", 4)
    assert_usage_error(code, err)
    assert "formula syntax error at column 5" in err


def test_refusal_names_the_column_in_the_right_channel():
    with pytest.raises(InputError, match="column 9: unknown name 'foo'"):
        evaluate_formula("x; y; 1+foo", 4, 4)


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_presets(capsys, tmp_path, name):
    out = tmp_path / f"{name}.png"
    code, _, _ = run(capsys, "pattern", "-o", out, "--preset", name, "--width", 60, "--height", 40)
    assert code == 0
    img = read(out)
    assert img.shape == (40, 60, 3) and img.std() > 10  # not blank


def test_sunflower_has_seeds_petals_and_sky():
    img = render_preset("sunflower", 200, 200).astype(np.int64)
    assert tuple(img[2, 2]) != tuple(img[100, 100])
    centre = img[70:130, 70:130]
    assert centre[:, :, 0].mean() < 150 and centre[:, :, 2].mean() < 80  # brown seed head
    assert img[100, 190, 2] > img[100, 190, 0]  # sky at the right edge is blue
    assert img[100, 145, 0] > 200 and img[100, 145, 2] < 100  # a yellow petal ring around the head


@pytest.mark.parametrize("args", [
    [], ["--formula", "x", "--preset", "rings"], ["--preset", "nope"], ["--preset", "rings", "--normalize"],
    ["--formula", "x", "--width", "0"],
])
def test_bad_pattern_options(capsys, tmp_path, args):
    out = tmp_path / "p.png"
    size = [] if "--width" in args else ["--width", 8]
    code, _, err = run(capsys, "pattern", "-o", out, *size, "--height", 8, *args)
    assert_usage_error(code, err)
    assert not out.exists()


# --------------------------------------------------------------------------- output paths


@pytest.mark.parametrize("command", [
    ["automaton", "--rule", "30", "--width", "9", "--height", "9"],
    ["pattern", "--formula", "x", "--width", "9", "--height", "9"],
    ["filter", "IN", "--kind", "blur"],
    ["blend", "IN", "IN"],
])
@pytest.mark.parametrize("bad", ["missing_dir/out.png", "out.txt"])
def test_bad_output_path_fails_before_work(capsys, tmp_path, command, bad):
    src = write(tmp_path / "in.png", np.zeros((4, 4, 3), np.uint8))
    args = [str(src) if a == "IN" else a for a in command]
    out = tmp_path / bad
    code, _, err = run(capsys, *args, "-o", out)
    assert_usage_error(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_missing_input_image(capsys, tmp_path):
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "filter", tmp_path / "nope.png", "-o", out, "--kind", "blur")
    assert_usage_error(code, err)
    assert not out.exists()
