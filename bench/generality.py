"""Generality check: the default transfer on photos it was never tuned on, beside a classic recipe.

    python bench/generality.py [--pairs astronaut:starry_night,...] [--iterations 300,150,60]

The photos are scikit-image's sample images (astronaut, camera, chelsea, coffee, motorcycle_left,
rocket), taken from its wheel on the package index (`pip download`, never installed) into the
cache; the paintings are those of ../shared/images. For each pair it runs the default
`stylesynth.transfer` (seed 0) and a *classic proxy*: jcjohnson/neural-style's loss form on the
same VGG16 weights (max pooling; content relu4_2 by mean squared error; style relu1_1 .. relu5_1,
Gram / (C·H·W) by mean squared error, style weighed 2e5 against the content; L-BFGS from white
noise around the painting's mean colour, coarse to fine at 128 / 256 / 512 px). It is written
here, outside the engine, on purpose: a second recipe to hold the engine against, not a mode.
Both are scored by `stylesynth evaluate`; the table says where the default beats the proxy on
both numbers. The proxy is not the anchors' program: on the bundled pairs it lands elsewhere
(docs/normalization.md, "Other photos"), so read its column as one classic result, not as
the bar. Results go to bench/results/generality-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PAINTINGS = ROOT.parent / "shared" / "images"
PHOTOS = {"astronaut": "astronaut.png", "camera": "camera.png", "chelsea": "chelsea.png",
          "coffee": "coffee.png", "motorcycle_left": "motorcycle_left.png", "rocket": "rocket.jpg"}
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT_LAYER = "relu4_2"
STYLE_OVER_CONTENT = 2e5


def sample_photos(cache: Path) -> dict[str, Path]:
    """scikit-image's sample photos, extracted once from its wheel into `cache`."""
    folder = cache / "generality-photos"
    if not all((folder / name).exists() for name in PHOTOS.values()):
        folder.mkdir(parents=True, exist_ok=True)
        wheels = cache / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "-d", str(wheels), "scikit-image"], check=True)
        with zipfile.ZipFile(next(wheels.glob("scikit_image-*.whl"))) as wheel:
            for name in PHOTOS.values():
                (folder / name).write_bytes(wheel.read(f"skimage/data/{name}"))
    return {key: folder / name for key, name in PHOTOS.items()}


def load(path: Path, side: int) -> torch.Tensor:
    image = Image.open(path).convert("RGB")
    scale = side / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    return torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)[None]


def classic_proxy(net, photo: Path, painting: Path, iterations: list[int], seed: int = 0) -> Image.Image:
    """jcjohnson/neural-style's objective, coarse to fine (see the module's docstring)."""
    torch.manual_seed(seed)

    def features(x, layers):
        return {k: v.float() for k, v in net(x, layers, dtype=torch.bfloat16).items()}

    def gram(f):
        _, c, h, w = f.shape
        f = f.reshape(c, h * w)
        return f @ f.T / (c * h * w)

    x = None
    for side, count in zip((128, 256, 512), iterations):
        content, style = load(photo, side), load(painting, side)
        with torch.no_grad():
            target = features(content, [CONTENT_LAYER])[CONTENT_LAYER]
            grams = {k: gram(v) for k, v in features(style, STYLE_LAYERS).items()}
        if x is None:
            x = style.mean((2, 3), keepdim=True).expand_as(content) + 0.01 * torch.randn_like(content)
        else:
            x = F.interpolate(x, size=content.shape[2:], mode="bicubic", align_corners=False).clamp(0, 1)
        x = x.contiguous().requires_grad_(True)
        x.register_hook(lambda g: g.contiguous())  # the network's NHWC gradient; L-BFGS flattens it

        def loss():
            f = features(x, STYLE_LAYERS + [CONTENT_LAYER])
            return F.mse_loss(f[CONTENT_LAYER], target) + STYLE_OVER_CONTENT * sum(
                F.mse_loss(gram(f[k]), grams[k]) for k in STYLE_LAYERS)

        with torch.no_grad():
            scale = 1.0 / loss().item()  # O(1), or L-BFGS skips its curvature updates
        opt = torch.optim.LBFGS([x], lr=1, max_iter=count, history_size=100, tolerance_grad=-1, tolerance_change=-1)

        def closure():
            opt.zero_grad()
            value = loss() * scale
            value.backward()
            return value

        opt.step(closure)
        x = x.detach().clamp(0, 1)
    return Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=None, help="photo:painting,... (default: every photo with every painting)")
    parser.add_argument("--iterations", default="300,150,60", help="the proxy's iterations at 128,256,512 px")
    parser.add_argument("--keep", default=None, help="keep both results of every pair in this folder")
    args = parser.parse_args()
    import stylesynth
    from stylesynth.evaluate import score
    from stylesynth.pretrained import load_network

    photos = sample_photos(Path(os.environ.get("STYLESYNTH_CACHE", Path.home() / ".cache" / "stylesynth")))
    paintings = {p.stem: p for p in sorted(PAINTINGS.glob("*.jpg")) if p.stem != "tubingen"}
    pairs = ([tuple(pair.split(":")) for pair in args.pairs.split(",")] if args.pairs else
             [(photo, painting) for photo in photos for painting in paintings])
    net = load_network("vgg16", "max", "cpu").eval().requires_grad_(False)
    iterations = [int(n) for n in args.iterations.split(",")]
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    rows = []
    print("| photo | painting | default (content / style) | s | classic proxy | s | default beats it |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for photo_name, painting_name in pairs:
        photo, painting = photos[photo_name], paintings[painting_name]
        start = time.perf_counter()
        ours = stylesynth.transfer(photo, painting, seed=0, progress=False)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        proxy = classic_proxy(net, photo, painting, iterations)
        proxy_s = time.perf_counter() - start
        a, b = score(photo, painting, ours), score(photo, painting, proxy)
        if keep:
            ours.save(keep / f"{photo_name}__{painting_name}.default.png")
            proxy.save(keep / f"{photo_name}__{painting_name}.proxy.png")
        rows.append({"photo": photo_name, "painting": painting_name, "default": [a.content, a.style],
                     "default_seconds": round(ours_s, 1), "proxy": [b.content, b.style],
                     "proxy_seconds": round(proxy_s, 1), "beats": a.beats(b)})
        print(f"| {photo_name} | {painting_name} | {a.content:.3f} / {a.style:.3f} | {ours_s:.1f} | "
              f"{b.content:.3f} / {b.style:.3f} | {proxy_s:.1f} | {'**yes**' if a.beats(b) else 'no'} |", flush=True)
    print(f"\nthe default beats the proxy on both numbers on {sum(r['beats'] for r in rows)} of {len(rows)} pairs")
    out = ROOT / "bench" / "results" / f"generality-{time.strftime('%Y%m%d-%H%M')}.json"
    out.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                               "proxy_iterations": iterations, "rows": rows}, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
