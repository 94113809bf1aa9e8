"""The `classic` preset: jcjohnson/neural-style's recipe, neural_style.lua's defaults (master).
The published results this project is held against were made by its 2015-09-01 version, whose
layers and weights bench/anchors.py gives as options (docs/classic.md, "Which recipe made the anchors").

docs/classic.md sets it against neural_style.lua option by option, with where it differs. The
recipe replaces the engine's defaults only: a value the caller gives that differs from the
engine's default (say --content-weight 1, a point of neural-style's Picasso curve) is kept.
"""

from __future__ import annotations

from .names import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS

PRESET = "classic"
# RunOptions fields (neural-style: -model_file VGG19, -pooling max, -tv_weight 1e-3,
# -image_size 512; Torch7's float32 arithmetic).
OPTIONS = {"model": "vgg19", "pooling": "max", "precision": "float32", "tv_weight": 1e-3, "size": 512}
# transfer()'s own: -content_layers relu4_2, -style_layers relu1_1,...,relu5_1 (each layer's
# term at full -style_weight, not a share of it), -content_weight 5, -style_weight 100, -init random.
TRANSFER = {"content_layers": "relu4_2",
            "style_layers": "relu1_1:1,relu2_1:1,relu3_1:1,relu4_1:1,relu5_1:1",
            "content_weight": 5.0, "style_weight": 100.0, "init": "neural-style"}
ITERATIONS = 1000  # -num_iterations, at one scale


def fill(values: dict, recipe: dict, defaults: dict) -> dict:
    """`values` with the recipe's entry wherever a value is left out or at the engine's default."""
    filled = dict(values)
    for name, value in recipe.items():
        if name not in filled or filled[name] == defaults.get(name):
            filled[name] = value
    return filled


def transfer_settings(content_layers, style_layers, init) -> tuple:
    """transfer()'s layers and start under the recipe: those left at transfer()'s defaults become
    neural-style's. Its weights: engine/objective.py, LossWeights.from_options."""
    given = fill({"content_layers": content_layers, "style_layers": style_layers, "init": init}, TRANSFER,
                 {"content_layers": DEFAULT_CONTENT_LAYERS, "style_layers": DEFAULT_STYLE_LAYERS, "init": "palette"})
    return given["content_layers"], given["style_layers"], given["init"]
