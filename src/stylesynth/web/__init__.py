"""The web studio: `stylesynth serve`, a local page over the same engine (see app.py for the API).

Only the settings are imported with the package: the app and the server (Starlette, uvicorn)
load when first named, so that reading the settings does not start the web stack.
"""

from ..lazy import exports
from .settings import PRESET_ITERATIONS, WebSettings

__all__ = ["PRESET_ITERATIONS", "WebSettings", "create_app", "default_examples_dir",
           "BackgroundServer", "serve"]
_LATER = {"create_app": "app", "default_examples_dir": "examples", "BackgroundServer": "server", "serve": "server"}

__getattr__ = exports(__name__, _LATER)
