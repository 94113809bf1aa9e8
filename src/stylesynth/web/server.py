"""Running the studio: in the foreground (`stylesynth serve`) or in a background thread."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Any

from ..errors import StylesynthError
from .app import create_app
from .settings import WebSettings


PREVIEW_PATH = re.compile(r"/api/jobs/[^/]+/preview")


class PreviewsAtDebug(logging.Filter):
    """The page fetches a preview every few iterations (about 30 a job): uvicorn's access log
    has those requests at DEBUG, not INFO, so that the log at INFO shows the jobs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) >= 3 and PREVIEW_PATH.fullmatch(str(args[2]).partition("?")[0]):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def uvicorn_config(app, **options: Any):
    """uvicorn's Config for the studio (it sets up uvicorn's loggers), with PreviewsAtDebug."""
    import uvicorn

    config = uvicorn.Config(app, **options)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PreviewsAtDebug) for f in access.filters):
        access.addFilter(PreviewsAtDebug())
    return config


def serve(settings: WebSettings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the studio with uvicorn until interrupted (Ctrl-C)."""
    import uvicorn

    # Open event streams end within this many seconds of Ctrl-C, so shutdown never hangs.
    server = uvicorn.Server(uvicorn_config(create_app(settings), host=host, port=port, log_level="info",
                                           timeout_graceful_shutdown=3))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:  # e.g. the port is taken: uvicorn has logged why
        raise StylesynthError(f"the studio could not listen on {host}:{port}")


class BackgroundServer:
    """The studio on a free local port in a daemon thread: `with BackgroundServer(s) as url: ...`.

    Start-up and shut-down are bounded by `timeout` seconds.
    """

    def __init__(self, settings: WebSettings | None = None, host: str = "127.0.0.1",
                 timeout: float = 30.0, **uvicorn_options: Any):
        import uvicorn

        self.app = create_app(settings)
        self.host, self.timeout = host, timeout
        self.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, 0))
        self.port = self.socket.getsockname()[1]
        options = {"log_level": "warning", "timeout_graceful_shutdown": 2, **uvicorn_options}
        self.server = uvicorn.Server(uvicorn_config(self.app, **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="stylesynth-web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def manager(self):
        return self.app.state.manager

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise StylesynthError("the studio server did not start")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(self.timeout)
        self.socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
