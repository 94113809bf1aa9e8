"""stylesynth: image synthesis from the representations of deep convolutional networks.

The Python API: `transfer(content, style, **options)`, `texture(style, **options)` and
`reconstruct(image, **options)` return a PIL image whose `info["stylesynth"]` records every
parameter and the final losses; `save_image(image, path, image.info["stylesynth"])` keeps them.
`evaluate(content, style, *results)` scores results with the neutral judge (a `Score` each).
`video(input, style, output, **options)` stylizes a clip without flicker (needs the `video` extra).
`batch(contents, styles, output_dir, **options)` runs many transfers, here or on a Ray cluster.
"""

import os as _os
import signal as _signal
import sys as _sys


def _interrupted_while_starting(signum, frame) -> None:
    # Ctrl-C while the command line is still loading its modules (torch: about 2 s): nothing has
    # started, so stop at once with the shell's status for it, one line and no traceback.
    _sys.stderr.write("stylesynth: interrupted\n")
    _sys.stderr.flush()
    _os._exit(128 + signum)


# Only for the command line (`stylesynth ...`, `python -m stylesynth.cli`), never for a program
# importing the library, and only where Ctrl-C is not ignored (a background job).
_starting = (_os.path.basename(_sys.argv[0] if _sys.argv else "") in ("stylesynth", "-m")
             and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler)
if _starting:
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

from .version import __version__  # noqa: E402
from .errors import InputError, StylesynthError  # noqa: E402
from .evaluate import Score, evaluate  # noqa: E402
from .imageio import load_image, open_image, read_params, save_image  # noqa: E402
from .modes import dream, figure, reconstruct, texture, transfer  # noqa: E402
from .modes.video import video  # noqa: E402
from .nets import FeatureExtractor  # noqa: E402
from .options import RunOptions  # noqa: E402
from .pretrained import load_network  # noqa: E402
from .batch import batch  # noqa: E402  the function (the package's modules: stylesynth.batch.plan, ...)

if _starting:  # loaded: Ctrl-C is the commands' own business again (signals.py)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)

__all__ = ["__version__", "InputError", "StylesynthError", "load_image", "open_image", "read_params",
           "save_image", "dream", "figure", "reconstruct", "texture", "transfer", "FeatureExtractor", "load_network",
           "RunOptions", "Score", "evaluate", "video", "batch"]
