"""The web studio: `stylesynth serve`, a local page over the same engine (see app.py for the API)."""

from .app import PRESETS, WebSettings, create_app, default_examples_dir
from .server import BackgroundServer, serve

__all__ = ["PRESETS", "WebSettings", "create_app", "default_examples_dir", "BackgroundServer", "serve"]
