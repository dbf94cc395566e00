"""The intentforge Wyoming service, running in a thread with its own event loop, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

from intentforge.server.wyoming import WyomingService
from servers.ports import reserve_port


def wait_for_port(port: int, timeout_s: float, alive: threading.Thread | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline or (alive is not None and not alive.is_alive()):
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


class WyomingServer:
    """Serves `service` on tcp://127.0.0.1:<port> until stop()."""

    def __init__(self, service: WyomingService) -> None:
        self.service = service
        self.port = reserve_port()
        self.uri = f"tcp://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._task = self._loop.create_task(service.run(self.uri))
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(self._task)
        # Connections and answers still open end with the server, as asyncio.run would end them.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    def start(self) -> WyomingServer:
        self._thread.start()
        wait_for_port(self.port, 30, alive=self._thread)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=30)
