"""The image-optimization engine every mode runs: the objective and its loss terms (objective.py,
losses.py, localized.py for tiles), the optimization loop (optimize.py), start images (start.py),
colour transfers (colors.py), region masks (masks.py), the memory plan (memory.py), a run's
network and progress (run.py), checkpoints (checkpoint.py), the style targets' cache
(target_cache.py), and `synthesize()`, which puts them together scale by scale (synthesis.py).

Its public names are imported on first use (lazy.py)."""

from ..lazy import exports

_EXPORTS = {
    "synthesize": "synthesis",
    "GatysObjective": "objective",
    "LossWeights": "objective",
    "parse_layers": "objective",
    "normalize_blend": "objective",
    "ContentLoss": "losses",
    "StyleLoss": "losses",
    "TVLoss": "losses",
    "gram_matrix": "losses",
    "optimize": "optimize",
    "Step": "optimize",
    "Result": "optimize",
    "start_image": "start",
    "output_size": "start",
    "resize": "start",
    "match_distribution": "colors",
    "match_histogram": "colors",
    "luminance_image": "colors",
    "with_chrominance": "colors",
    "region_masks": "masks",
    "plan_memory": "memory",
    "estimate_memory": "memory",
    "release_freed_memory": "memory",
    "start_run": "run",
    "Progress": "run",
    "Reporter": "run",
    "clock": "run",
}
__all__ = list(_EXPORTS)
__getattr__ = exports(__name__, _EXPORTS)
