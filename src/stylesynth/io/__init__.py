"""Files in and out: images with their recorded parameters (images.py), video (video.py), output
paths that never clobber a user's files (outputs.py), loss plots (plot.py).

Its public names are imported on first use (lazy.py)."""

from ..lazy import exports

_EXPORTS = {
    "open_image": "images",
    "load_image": "images",
    "save_image": "images",
    "read_params": "images",
    "to_tensor": "images",
    "to_pil": "images",
    "write_json": "images",
    "check_output_path": "images",
    "one_line": "images",
    "resize_long_side": "images",
    "header_pixels": "images",
    "SAVE_FORMATS": "images",
    "input_paths": "outputs",
    "inside": "outputs",
    "refuse_overwriting": "outputs",
    "resolved": "outputs",
    "loss_plot": "plot",
    "open_source": "video",
    "write_video": "video",
    "VIDEO_SUFFIXES": "video",
}
__all__ = list(_EXPORTS)
__getattr__ = exports(__name__, _EXPORTS)
