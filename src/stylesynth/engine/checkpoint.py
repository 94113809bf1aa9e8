"""A run's state on disk (`--checkpoint-every`, `--resume`): written atomically, and resumed only
by the very run that wrote it (same inputs and options: its fingerprint)."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import torch
from PIL import Image

from ..errors import InputError
from ..nets.weights import cache_unwritable

# What optimize() saves of its loop and needs back to resume it.
LOOP_KEYS = {"x", "best", "scale", "lr", "evaluations", "iteration", "retries", "optimizer", "history"}
# Options that change how a run is watched or kept, not what it computes.
NOT_IN_FINGERPRINT = ("progress", "on_step", "threads", "checkpoint_path", "checkpoint_every",
                      "resume", "cache_targets", "memory_limit_mb", "extra_loss")


def fingerprint(mode: str, out_size: tuple[int, int], options, settings: tuple,
                content: list[tuple[Image.Image, float]] | None,
                style: list[tuple[Image.Image, float]] | None, init) -> str:
    """What makes two runs the same run: the inputs' pixels, the options, and the mode's
    `settings` (loss weights, layers ...)."""
    digest = hashlib.sha256()
    for img, w in (content or []) + (style or []):
        digest.update(img.tobytes())
        digest.update(repr((img.size, w)).encode())
    if isinstance(init, Image.Image):
        digest.update(init.tobytes())
    chosen = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
              if f.name not in NOT_IN_FINGERPRINT}
    digest.update(repr((mode, out_size, chosen, settings,
                        init if isinstance(init, str) else "image")).encode())
    return digest.hexdigest()


def save_checkpoint(path: str, state: dict) -> None:
    """Write the run's state atomically: a kill during the write keeps the previous one. A
    failure (a full disk) costs only the checkpoint: the run goes on, and says so once."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except Exception as error:  # noqa: BLE001  torch.save raises RuntimeError on a full disk
        cache_unwritable("checkpoint", path, error)
    finally:
        if os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass


def load_checkpoint(path: str | None, fingerprint: str) -> dict | None:
    """The saved state of this very run, or None when there is none to resume."""
    if not path or not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise InputError(f"checkpoint {path} is damaged: delete it to start afresh") from None
    if not isinstance(state, dict) or not isinstance(state.get("fingerprint"), str):
        raise InputError(f"checkpoint {path} is not a stylesynth checkpoint: delete it to start afresh")
    if state.get("fingerprint") != fingerprint:
        raise InputError(f"checkpoint {path} belongs to a different run (other inputs or options): "
                         "run without --resume, or delete it")
    loop = state.get("loop")
    if not (isinstance(state.get("seed"), int) and isinstance(state.get("scale_index"), int)
            and isinstance(loop, dict) and LOOP_KEYS <= set(loop) and isinstance(loop["x"], torch.Tensor)):
        raise InputError(f"checkpoint {path} is damaged: delete it to start afresh")
    return state
