"""Graceful shutdown: what a server process does between SIGTERM and its exit.

uvicorn alone, on SIGTERM, stops listening, closes every websocket with 1012 ("service
restart") at once, waits for the requests in flight, and only then runs the app's lifespan
shutdown, so the background loops go on claiming work (dispatch offers, webhook deliveries)
while the requests drain. :class:`GracefulServer`, which ``logistics serve`` runs, puts a
drain between the first step and the rest:

1. stop accepting connections;
2. drain: every hook the app registered with :func:`on_drain` runs (the background workers stop
   claiming work; every GraphQL websocket is closed with 1001, "going away", on which clients
   reconnect, to another replica);
3. uvicorn's own shutdown: requests in flight get up to ``LOGISTICS_SHUTDOWN_GRACE_S`` to
   finish, then the lifespan shutdown flushes what is buffered and closes the pools.

The hooks live in one registry per process: a process serves one app.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from contextlib import suppress
from types import FrameType
from typing import Protocol

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

log = logging.getLogger("logistics")

DrainHook = Callable[[], Awaitable[None]]
_hooks: list[DrainHook] = []


class Worker(Protocol):
    """A background worker of the app: started with it, stopped (it claims nothing more) by the drain."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


def on_drain(hook: DrainHook) -> Callable[[], None]:
    """Run ``hook`` when the server starts to shut down; returns what unregisters it."""
    _hooks.append(hook)

    def unregister() -> None:
        if hook in _hooks:
            _hooks.remove(hook)

    return unregister


async def drain() -> None:
    """Run every registered hook, in order; one that fails is logged and the rest still run."""
    for hook in list(_hooks):
        try:
            await hook()
        except Exception:
            log.exception("shutdown: a drain hook failed")


class GracefulServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Nothing new may arrive while the app drains: uvicorn would close the listeners only
        # after it, and a request accepted meanwhile would find its workers stopping.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        log.info("Draining: background workers stop, websockets close with 1001")
        await drain()
        await super().shutdown(sockets=sockets)


class _GracefulWorker(multiprocess.Process):
    """A worker process of ``--workers`` N, serving with :class:`GracefulServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GracefulServer(config=self.config)
        return self._server


def serve(config: uvicorn.Config) -> int:
    """What ``uvicorn.run`` does with ``config``, every server process a :class:`GracefulServer`;
    returns the exit status."""
    # uvicorn raises the stopping signal again once the server stopped, so that the process
    # ends as that signal would have ended it. The stop it asked for is done by then: the
    # process exits 0, as a service manager expects of a clean stop.
    signal.signal(signal.SIGTERM, _stopped)
    if config.workers > 1:
        sock = config.bind_socket()
        # uvicorn's supervisor creates its workers (at start, after a crash, on SIGHUP and
        # SIGTTIN) by the module's name ``Process``, with no other way to choose their server.
        plain = multiprocess.Process
        multiprocess.Process = _GracefulWorker  # type: ignore[misc]
        try:
            multiprocess.Multiprocess(config, sockets=[sock]).run()
        finally:
            multiprocess.Process = plain  # type: ignore[misc]
            sock.close()
        return 0
    server = GracefulServer(config=config)
    # Ctrl-C's KeyboardInterrupt arrives once uvicorn has shut down: the stop it asked for.
    with suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started else STARTUP_FAILURE


def _stopped(_signal: int, _frame: FrameType | None) -> None:
    return None
