"""stylesynth: image synthesis from the representations of deep convolutional networks.

The Python API: `transfer(content, style, **options)`, `texture(style, **options)` and
`reconstruct(image, **options)` return a PIL image whose `info["stylesynth"]` records every
parameter and the final losses; `save_image(image, path, image.info["stylesynth"])` keeps them.
`evaluate(content, style, *results)` scores results with the neutral judge (a `Score` each).
`video(input, style, output, **options)` stylizes a clip without flicker (needs the `video` extra).
`batch(contents, styles, output_dir, **options)` runs many transfers, here or on a Ray cluster.
"""

import importlib
import os as _os
import signal as _signal
import sys
import types


def _interrupted_while_starting(signum, frame) -> None:
    # Ctrl-C or SIGTERM while the command line is still loading (torch: about 2 s): nothing has
    # started, so stop at once with the shell's status for it, one line and no traceback.
    sys.stderr.write("stylesynth: interrupted\n")
    sys.stderr.flush()
    _os._exit(128 + signum)


# The signals taken over while the command line loads, each with its usual disposition.
_WHILE_STARTING = {_signal.SIGINT: _signal.default_int_handler, _signal.SIGTERM: _signal.SIG_DFL}


def loaded_for_the_command_line() -> None:
    """The command line has loaded what it needs: the signals are the commands' own business
    (signals.py)."""
    for signum, usual in _WHILE_STARTING.items():
        if _signal.getsignal(signum) is _interrupted_while_starting:
            _signal.signal(signum, usual)


# Only for the command line (`stylesynth ...`, `python -m stylesynth.cli`), never for a program
# importing the library, and only where the signal is not ignored (Ctrl-C in a background job).
if _os.path.basename(sys.argv[0] if sys.argv else "") in ("stylesynth", "-m"):
    for _signum, _usual in _WHILE_STARTING.items():
        if _signal.getsignal(_signum) is _usual:
            _signal.signal(_signum, _interrupted_while_starting)

from .errors import InputError, StylesynthError
from .version import __version__

# The API is imported on first use (PEP 562), so that the command line's help and `stylesynth
# layers` answer without loading torch. Where a name is also a module (`evaluate`, `batch`),
# the function wins, as it did when everything was imported here.
_API = {"Score": "evaluate", "evaluate": "evaluate", "load_image": "io.images", "open_image": "io.images",
        "read_params": "io.images", "save_image": "io.images", "dream": "modes", "figure": "modes",
        "reconstruct": "modes", "texture": "modes", "transfer": "modes", "video": "modes.video",
        "FeatureExtractor": "nets.networks", "RunOptions": "options", "load_network": "nets.pretrained", "batch": "batch"}

__all__ = ["__version__", "InputError", "StylesynthError", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # Importing the module stylesynth.evaluate (or .batch) would bind it over the function.
        if not (name in _API and isinstance(value, types.ModuleType) and _API[name] == name):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
