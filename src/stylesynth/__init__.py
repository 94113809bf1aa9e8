"""stylesynth: image synthesis from the representations of deep convolutional networks.

The Python API: `transfer(content, style, **options)`, `texture(style, **options)` and
`reconstruct(image, **options)` return a PIL image whose `info["stylesynth"]` records every
parameter and the final losses; `save_image(image, path, image.info["stylesynth"])` keeps them.
`evaluate(content, style, *results)` scores results with the neutral judge (a `Score` each).
`video(input, style, output, **options)` stylizes a clip without flicker (needs the `video` extra).
`batch(contents, styles, output_dir, **options)` runs many transfers, here or on a Ray cluster.
"""

from .version import __version__
from .errors import InputError, StylesynthError
from .evaluate import Score, evaluate
from .imageio import load_image, open_image, read_params, save_image
from .modes import dream, figure, reconstruct, texture, transfer
from .modes.video import video
from .nets import FeatureExtractor
from .options import RunOptions
from .pretrained import load_network
from .batch import batch  # the function (the package's modules: stylesynth.batch.plan, ...)

__all__ = ["__version__", "InputError", "StylesynthError", "load_image", "open_image", "read_params",
           "save_image", "dream", "figure", "reconstruct", "texture", "transfer", "FeatureExtractor", "load_network",
           "RunOptions", "Score", "evaluate", "video", "batch"]
