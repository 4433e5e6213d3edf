"""Serve the web app from inside the process's own event loop.

uvicorn normally owns the process: it installs signal handlers and configures logging.
Here it is a guest. :class:`WebServer` binds the listening socket itself (so port 0
works and a busy port raises :class:`OSError` instead of exiting the process), starts
uvicorn on it, installs no signal handlers (the process has its own and calls
:meth:`WebServer.stop`) and leaves logging to :func:`~messenger.observability.logging.configure_logging`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["WebServer"]

log = logging.getLogger(__name__)


class _GuestServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers alone."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


class WebServer:
    """``await start()`` returns once the socket listens; ``await stop()`` shuts down gracefully."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        access_log: bool = False,
        graceful_timeout: int = 10,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.access_log = access_log
        self.graceful_timeout = graceful_timeout
        self._server: _GuestServer | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port actually listened on (the one the OS chose, when asked for port 0)."""
        if self._port is None:
            raise RuntimeError("the web server is not running")
        return self._port

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the web server was already started")
        sock = _listening_socket(self.host, self.requested_port)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=self.access_log,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=self.graceful_timeout,
        )
        server = _GuestServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="web-server")
        ready = asyncio.create_task(server.ready.wait())
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not server.started:
            sock.close()
            server.should_exit = True
            try:
                await task  # re-raises what stopped the startup
            except SystemExit as exc:  # uvicorn's way of failing a startup: not ours to exit the process
                raise RuntimeError("the web server did not start") from exc
            raise RuntimeError("the web server did not start")
        self._server, self._socket, self._task = server, sock, task
        self._port = sock.getsockname()[1]
        log.info("web server listening on %s", self.url)

    async def stop(self) -> None:
        """Stop accepting, let requests in progress finish (within ``graceful_timeout``), close."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await task
        except Exception:
            log.exception("web server stopped with an error")
        finally:
            if self._socket is not None:
                self._socket.close()
            self._server = self._task = self._socket = None
            self._port = None
        log.info("web server stopped")


def _listening_socket(host: str, port: int) -> socket.socket:
    """A bound socket for ``host:port`` (uvicorn's loop.create_server starts listening on it)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
