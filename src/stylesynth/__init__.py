"""stylesynth: image synthesis from the representations of deep convolutional networks.

The Python API: `transfer(content, style, **options)`, `texture(style, **options)` and
`reconstruct(image, **options)` return a PIL image whose `info["stylesynth"]` records every
parameter and the final losses; `save_image(image, path, image.info["stylesynth"])` keeps them.
`evaluate(content, style, *results)` scores results with the neutral judge (a `Score` each).
`video(input, style, output, **options)` stylizes a clip without flicker (needs the `video` extra).
`batch(contents, styles, output_dir, **options)` runs many transfers, here or on a Ray cluster.
"""

__version__ = "0.1.0"

from .errors import InputError, StylesynthError  # noqa: E402
from .evaluate import Score, evaluate  # noqa: E402
from .imageio import load_image, open_image, read_params, save_image  # noqa: E402
from .modes import dream, figure, reconstruct, texture, transfer  # noqa: E402
from .modes.video import video  # noqa: E402
from .nets import FeatureExtractor, load_network  # noqa: E402
from .synthesis import RunOptions  # noqa: E402
from .batch import batch  # noqa: E402  (the function; the package is stylesynth.batch's modules)

__all__ = ["__version__", "InputError", "StylesynthError", "load_image", "open_image", "read_params",
           "save_image", "dream", "figure", "reconstruct", "texture", "transfer", "FeatureExtractor", "load_network",
           "RunOptions", "Score", "evaluate", "video", "batch"]
