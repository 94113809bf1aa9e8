"""Networks and their weights: the feature extractors (VGG16, VGG19, AlexNet) with named layers
(networks.py), the pretrained weights' sources, checks and conversions (weights.py), and one
shared network per process (pretrained.py).

Its public names are imported on first use (lazy.py)."""

from ..lazy import exports

_EXPORTS = {
    "FeatureExtractor": "networks",
    "pick_device": "networks",
    "pick_dtype": "networks",
    "set_threads": "networks",
    "min_side": "networks",
    "CAFFE_MEAN_BGR": "networks",
    "CAFFE_RANGE": "networks",
    "IMAGENET_MEAN": "networks",
    "load_network": "pretrained",
    "shared_network": "pretrained",
    "weights_id": "pretrained",
    "fetch": "weights",
    "load_state_dict": "weights",
    "sources": "weights",
    "cache_dir": "weights",
    "cache_unwritable": "weights",
    "env_var": "weights",
    "lpips_layers": "weights",
}
__all__ = list(_EXPORTS)
__getattr__ = exports(__name__, _EXPORTS)
