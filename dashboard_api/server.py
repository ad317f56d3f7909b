"""Running the API with uvicorn, in the foreground or in a thread of ``campus up``."""

from __future__ import annotations

import threading

import uvicorn

from campus.settings import Settings
from dashboard_api.app import create_app

__all__ = ["ApiServer"]


class ApiServer:
    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (foreground)."""
        self._server.run()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
