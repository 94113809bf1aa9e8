"""Optical flow, warping and the reliable-pixel mask for video (Ruder, Dosovitskiy & Brox 2016).

Conventions: images are HxWx3 arrays (uint8 or float in [0, 1]), flows HxWx2 float32 arrays of
(dx, dy) in pixels. `flow(a, b)` is the flow *from a to b*: a(x) ~ b(x + flow(x)). So with
`back = flow(current, previous)`, `warp(previous, back)` is the previous frame moved onto the
current one, and `reliable(back, flow(previous, current))` marks the pixels where that move can
be trusted: forward and backward flow agree (not occluded nor disoccluded), no motion boundary,
and the source inside the frame.

`synthetic_clip` makes a clip from photos with motion known exactly (a camera pan and zoom over
one photo, and a disc cut from another moving across it), with its true backward flows and
reliable masks: for the tests and bench/video.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import InputError
from ..names import FLOW_METHODS as METHODS


def _cv2():
    try:
        import cv2
    except ImportError:
        raise InputError("video needs OpenCV and PyAV: pip install 'stylesynth[video]'") from None
    return cv2


def _grey(image: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY) if a.ndim == 3 else a


def flow(a: np.ndarray, b: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense optical flow from frame `a` to frame `b` (same size): a(x) ~ b(x + flow(x))."""
    cv2 = _cv2()
    if method not in METHODS:
        raise InputError(f"unknown flow method '{method}': choose {' or '.join(METHODS)}")
    ga, gb = _grey(a), _grey(b)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        out = dis.calc(ga, gb, None)
    else:
        out = cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=5, winsize=15,
                                           iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    return out.astype(np.float32)


def _coordinates(flow_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow_.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow_[..., 0], ys + flow_[..., 1]


def warp(image: np.ndarray, flow_: np.ndarray) -> np.ndarray:
    """out(x) = image(x + flow(x)), bilinear; outside the frame the nearest edge pixel."""
    cv2 = _cv2()
    mx, my = _coordinates(flow_)
    a = np.asarray(image)
    dtype = a.dtype
    out = cv2.remap(np.ascontiguousarray(a, dtype=np.float32), mx, my, interpolation=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out.round(), 0, 255).astype(np.uint8) if dtype == np.uint8 else out


def reliable(back: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """HxW float32 mask, 1 where the backward flow (current -> previous) can be trusted.

    0 where (a) forward and backward flow disagree: w~ = forward at x + back(x) should be
    -back(x), and |w~ + back|^2 > 0.01 (|w~|^2 + |back|^2) + 0.5 marks an occlusion or
    disocclusion; (b) a motion boundary: |grad back_x|^2 + |grad back_y|^2 > 0.01 |back|^2 + 0.002;
    (c) x + back(x) falls outside the frame. The thresholds are Sundaram et al.'s, as Ruder et al.
    use them.
    """
    h, w = back.shape[:2]
    there = warp(forward, back)  # the forward flow at the point each pixel came from
    total = there + back
    occluded = (total ** 2).sum(-1) > 0.01 * ((there ** 2).sum(-1) + (back ** 2).sum(-1)) + 0.5
    gy_u, gx_u = np.gradient(back[..., 0])
    gy_v, gx_v = np.gradient(back[..., 1])
    boundary = gx_u ** 2 + gy_u ** 2 + gx_v ** 2 + gy_v ** 2 > 0.01 * (back ** 2).sum(-1) + 0.002
    mx, my = _coordinates(back)
    outside = (mx < 0) | (mx > w - 1) | (my < 0) | (my > h - 1)
    return (~(occluded | boundary | outside)).astype(np.float32)


def soften(mask: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """The mask blurred (Gaussian, `sigma` px) and kept at 0 where it was 0: a soft edge inside."""
    cv2 = _cv2()
    return np.minimum(mask, cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma))


def temporal_error(current: np.ndarray, previous: np.ndarray, back: np.ndarray,
                   mask: np.ndarray) -> float:
    """Mean squared difference (pixels in [0, 1], over channels) between `current` and `previous`
    warped onto it by `back`, over the pixels where `mask` is 1."""
    a = np.asarray(current, dtype=np.float32) / 255.0
    b = warp(np.asarray(previous, dtype=np.float32) / 255.0, back)
    weight = mask[..., None] * np.ones(3, np.float32)
    if weight.sum() == 0:
        return 0.0
    return float(((a - b) ** 2 * weight).sum() / weight.sum())


# -- a clip with known motion -------------------------------------------------------------------


@dataclass
class Clip:
    frames: list[np.ndarray]  # HxWx3 uint8
    back: list[np.ndarray | None]  # true flow from frame t to frame t-1 (None for t = 0)
    mask: list[np.ndarray | None]  # 1 where that flow is reliable (None for t = 0)


def synthetic_clip(background: Image.Image, sprite: Image.Image, size: tuple[int, int] = (384, 256),
                   frames: int = 24, pan: float = 4.0, zoom: float = 0.006, speed: tuple[float, float] = (5.0, 1.5),
                   radius: float | None = None) -> Clip:
    """A camera that pans (`pan` px per frame, rightwards) and zooms in (the view shrinks by
    `zoom` per frame) over `background`, and a disc of `sprite` (radius `radius`, default a
    sixth of the height) moving by `speed` px per frame; with the true flows and masks.
    """
    cv2 = _cv2()
    width, height = size
    radius = radius or height / 6
    src = np.asarray(background.convert("RGB"), dtype=np.float32)
    # The view of frame 0 shows 60 % of the photo's height, left-aligned with room to pan.
    scale0 = 0.6 * src.shape[0] / height  # source px per output px
    cx0, cy0 = width * scale0 / 2 + 0.05 * src.shape[1], src.shape[0] / 2
    side = int(np.ceil(2 * radius)) + 1
    patch = np.asarray(sprite.convert("RGB").resize((side, side), Image.LANCZOS), dtype=np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)

    def camera(t: int) -> tuple[float, float, float]:
        """(scale, offset x, offset y): source = scale * output + offset."""
        s = scale0 * (1 - zoom) ** t
        cx = cx0 + pan * scale0 * t
        return s, cx - s * width / 2, cy0 - s * height / 2

    def centre(t: int) -> tuple[float, float]:
        return width * 0.2 + speed[0] * t, height * 0.4 + speed[1] * t

    out = Clip([], [], [])
    for t in range(frames):
        s, ox, oy = camera(t)
        frame = cv2.remap(src, xs * s + ox, ys * s + oy, interpolation=cv2.INTER_AREA if s > 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        px, py = centre(t)
        inside = (xs - px) ** 2 + (ys - py) ** 2 < radius ** 2
        sx = np.clip(xs - px + radius, 0, side - 1)
        sy = np.clip(ys - py + radius, 0, side - 1)
        texture = cv2.remap(patch, sx, sy, interpolation=cv2.INTER_LINEAR)
        frame[inside] = texture[inside]
        out.frames.append(np.clip(frame.round(), 0, 255).astype(np.uint8))
        if t == 0:
            out.back.append(None)
            out.mask.append(None)
            continue
        sp, oxp, oyp = camera(t - 1)
        bx = (xs * s + ox - oxp) / sp - xs
        by = (ys * s + oy - oyp) / sp - ys
        qx, qy = centre(t - 1)
        bx[inside], by[inside] = qx - px, qy - py
        back = np.stack([bx, by], -1).astype(np.float32)
        mx, my = xs + bx, ys + by
        margin = 1.5  # bilinear sampling mixes across the disc's edge
        near_disc_now = np.abs(np.sqrt((xs - px) ** 2 + (ys - py) ** 2) - radius) < margin
        under_disc_before = (~inside) & ((mx - qx) ** 2 + (my - qy) ** 2 < (radius + margin) ** 2)
        outside = (mx < 0) | (mx > width - 1) | (my < 0) | (my > height - 1)
        out.back.append(back)
        out.mask.append((~(near_disc_now | under_disc_before | outside)).astype(np.float32))
    return out
