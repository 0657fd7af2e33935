"""Running the sandbox: on a background thread (tests, the GUI's demo) or in the foreground.

`SandboxServer` owns a thread with its own event loop; `start()` returns once the port is
bound (port 0 picks a free one, see `.url`), `stop()` shuts it down and joins the thread, and
it works as a context manager. `serve_forever()` is the CLI's foreground loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from aiohttp import web

from billing_desk.sandbox.app import build_app
from billing_desk.sandbox.faults import FaultConfig
from billing_desk.sandbox.sandbox import Sandbox

_STOP_TIMEOUT = 10.0


class BindError(OSError):
    """The sandbox could not listen on the address asked for (in use, not local, …)."""


async def _start_site(sandbox: Sandbox, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(build_app(sandbox), access_log=None, handle_signals=False)
    await runner.setup()
    # Bind the socket ourselves so port 0 resolves to a real port before anyone connects.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        await runner.cleanup()
        raise BindError(f"can't listen on {host}:{port}: {exc.strerror or exc}") from exc
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()
    bound = int(sock.getsockname()[1])
    sandbox.open(_url(host, bound))
    return runner, bound


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SandboxServer:
    """The sandbox on a background thread with its own event loop."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: str = "none",
        faults: FaultConfig | None = None,
        random_seed: int | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sandbox = Sandbox(faults, random_seed=random_seed, seed=seed, state_file=state_file)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        if not self._ready.is_set():
            raise RuntimeError("the sandbox server is not running")
        return _url(self.host, self.port)

    def start(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("the sandbox server was already started")
        self._thread = threading.Thread(target=self._run, name="stripe-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(), which re-raises it
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        runner, self.port = await _start_site(self.sandbox, self.host, self.port)
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await runner.cleanup()
            if self.sandbox.state_file is not None:
                self.sandbox.save(self.sandbox.state_file)

    def stop(self) -> None:
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None or loop is None or stopped is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stopped.set)
        thread.join(_STOP_TIMEOUT)
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(sandbox: Sandbox, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve in the foreground until SIGTERM or SIGINT, then save `--state` and return."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner, bound = await _start_site(sandbox, host, port)
        try:
            on_ready(_url(host, bound))
            await stop.wait()
        finally:
            await runner.cleanup()
            if sandbox.state_file is not None:
                sandbox.save(sandbox.state_file)

    asyncio.run(main())
