"""The sync engine inside the desktop app: a worker QObject moved to its own QThread.

The worker runs the engine's asyncio loop on that thread and talks to the rest of the app only
through signals (queued to the UI thread). The UI asks for things with the `request_*` methods,
which only post a command to the loop and return at once: the UI thread never waits on Stripe.

    thread = SyncThread(worker)          # owns the QThread
    thread.start()
    worker.request_pull("c-1", "2026-10")   # pull this customer's Stripe state now
    thread.stop()                        # asks the engine to stop; `finished` when it has

Stopping lets operations under way settle (the engine drains them, at most a few seconds) and
leaves nothing half-recorded: what was not sent is sent by the next run under the same key.

The engine, the gateway and the stripe library are imported on the worker thread when it starts,
so they never lengthen the app's start.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import queue
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from sqlalchemy import Engine

from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.messages import plain_error

if TYPE_CHECKING:
    from billing_desk.stripe_gateway import GatewayConfig, StripeGateway
    from billing_desk.sync.context import EngineConfig
    from billing_desk.sync.engine import Progress, SyncEngine

log = logging.getLogger(__name__)

PAUSED = "paused"
STOPPED = "stopped"
GIL_SWITCH_S = 0.001
# At most this often does progress cross to the UI thread: the engine reports every operation
# (dozens a second, in bursts when a group commit lands), and each report the UI thread handles
# is one more wait for the GIL while the worker is busy. The latest figure always follows.
PROGRESS_EVERY_S = 0.1
# Threads for the engine's store work (`asyncio.to_thread`: claims, reads, the group commit).
# SQLite takes one writer at a time and the GIL one Python thread, so more threads add no speed,
# only more contenders that the UI thread waits behind for the GIL (asyncio's default is 6 here).
STORE_THREADS = 2


def keep_ui_responsive() -> None:
    """Tune the interpreter for a UI thread that shares it with a busy worker thread.

    - The worker's Python work holds the GIL between its awaits; by default another thread waits
      5 ms for each hand-over, and one Qt event needs several: a 1 ms interval keeps the UI
      thread's waits short.
    - A full garbage collection stops every thread; walking the app's long-lived objects (Qt
      wrappers, SQLAlchemy, the stripe library) made it last 50-150 ms. `freeze_long_lived()`
      takes them out of the walk once the worker has loaded.
    """
    sys.setswitchinterval(GIL_SWITCH_S)


def freeze_long_lived() -> None:
    """Everything alive now lives as long as the app: keep it out of every later collection.
    (No collection first: that would be one more long pause, for a little start-up garbage.)"""
    gc.freeze()


@dataclass(frozen=True)
class WorkerOptions:
    """The worker's knobs; tests and the demo shorten the times."""

    engine: EngineConfig | None = None  # None: the engine's defaults
    # How often the Events API is polled for changes made in Stripe (the Dashboard, payments).
    events_every_s: float = 30.0
    idle_poll_s: float = 2.0


class SyncWorker(QObject):
    state_changed = Signal(str, str)  # state (running|idle|paused|backing_off|stopped), reason
    progress_changed = Signal(int, int)  # done, total of the pass under way
    customer_pulled = Signal(object)  # billing_desk.sync.pull.PullSummary
    # customer id, period, plain message, whether a later try may succeed (Stripe unreachable)
    pull_failed = Signal(str, str, str, bool)
    bug_found = Signal(object)  # an unexpected exception: the app saves a crash report
    finished = Signal()  # the loop has ended; nothing runs on the thread any more

    def __init__(
        self,
        store: Engine,
        gateway_config: GatewayConfig | Callable[[], GatewayConfig | None],
        options: WorkerOptions | None = None,
    ) -> None:
        """`gateway_config` may be a function making it: it is then called on the worker's
        thread (making one loads the stripe library, which the UI thread should not wait for).
        """
        super().__init__()
        self._store = store
        self._config_source = gateway_config
        self._options = options or WorkerOptions()
        self._commands: queue.SimpleQueue[tuple[str, tuple[Any, ...]]] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._engine_stop: asyncio.Event | None = None
        self._resume: asyncio.Event | None = None
        self._paused = False
        self._gateway: StripeGateway | None = None
        self._engine: SyncEngine | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_events = 0.0
        self._reason = ""
        # Customers to push once the engine's session is up (it drops requests before that).
        self._wanted: list[str] = []
        self._engine_live = False
        self._progress: ProgressThrottle | None = None

    # Requests from the UI thread: post and return.

    def request_pull(self, customer_id: str, period: str | None) -> None:
        """Refresh this customer's Stripe state (and push its changes, an agent is looking)."""
        self._post("pull", customer_id, period)

    def request_push(self, customer_id: str) -> None:
        self._post("push", customer_id)

    def set_paused(self, paused: bool) -> None:
        self._post("pause", paused)

    def request_stop(self) -> None:
        self._post("stop")

    def _post(self, command: str, *args: Any) -> None:
        self._commands.put((command, args))
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to do
                loop.call_soon_threadsafe(self._take_commands)

    # The worker thread

    @Slot()
    def run(self) -> None:
        """Connected to `QThread.started`: runs the loop until asked to stop."""
        try:
            asyncio.run(self._main())
        except Exception as exc:  # a bug: report it, the window stays usable
            self._reason = "the sync worker hit a bug; a crash report was saved"
            self.bug_found.emit(exc)
        finally:
            self._flush_progress()
            self.state_changed.emit(STOPPED, self._reason)
            self.finished.emit()
            thread = QThread.currentThread()
            if thread is not None:
                thread.quit()

    async def _main(self) -> None:
        from billing_desk.stripe_gateway import install_log_redaction, open_gateway
        from billing_desk.sync.engine import SyncEngine

        install_log_redaction()  # before anything could log a request
        source = self._config_source
        config = source() if callable(source) else source
        if config is None:
            self._reason = "no Stripe key is configured"
            return
        freeze_long_lived()  # the engine's modules are loaded: the app's long-lived heap is
        self._loop = asyncio.get_running_loop()
        # asyncio.run shuts it down (joins its threads) when the loop ends.
        self._loop.set_default_executor(
            ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="sync-store")
        )
        self._progress = ProgressThrottle(self._loop, self.progress_changed.emit)
        self._stop = asyncio.Event()
        self._resume = asyncio.Event()
        engine = SyncEngine(
            self._store,
            config,
            config=self._options.engine,
            on_progress=self._on_engine_progress,
            on_status=self._on_engine_status,
            pull=self._poll_events,
        )
        self._engine = engine
        self._take_commands()
        try:
            # A gateway of our own for on-demand pulls, on the engine's budget and statistics.
            async with open_gateway(config, engine.limiter, engine.stats) as gw:
                self._gateway = gw
                await self._serve(engine)
        finally:
            self._gateway = None
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._loop = None

    async def _serve(self, engine: SyncEngine) -> None:
        from billing_desk.stripe_gateway import StripeKeyRejected

        assert self._stop is not None
        assert self._resume is not None
        while not self._stop.is_set():
            if self._paused:
                self.state_changed.emit(PAUSED, "")
                self._resume.clear()
                await _until_either(self._resume, self._stop)
                continue
            self._engine_stop = asyncio.Event()
            try:
                await engine.run_forever(self._engine_stop, self._options.idle_poll_s)
            except StripeKeyRejected as exc:
                self._reason = f"{exc.message}; check the key in Settings"
                return
            # run_forever returned: asked to stop or to pause.

    def _take_commands(self) -> None:
        while True:
            try:
                command, args = self._commands.get_nowait()
            except queue.Empty:
                return
            if command == "pull":
                self._spawn(self._pull(*args))
                self._push(args[0])
            elif command == "push":
                self._push(args[0])
            elif command == "pause":
                self._set_paused(bool(args[0]))
            elif command == "stop" and self._stop is not None:
                self._stop.set()
                if self._engine_stop is not None:
                    self._engine_stop.set()
                if self._resume is not None:
                    self._resume.set()

    def _push(self, customer_id: str) -> None:
        self._wanted.append(customer_id)
        self._flush_pushes()

    def _flush_pushes(self) -> None:
        engine = self._engine
        if engine is None or not self._engine_live:
            return  # kept until the engine's session is up (see _on_engine_status)
        while self._wanted:
            engine.request_customer_push(self._wanted.pop(0))

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        if paused and self._engine_stop is not None:
            self._engine_stop.set()
        if not paused and self._resume is not None:
            self._resume.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pull(self, customer_id: str, period: str | None) -> None:
        from billing_desk.stripe_gateway import StripeFailure, TransientStripeError
        from billing_desk.sync.pull import pull_customer

        gateway = self._gateway
        if gateway is None:
            self.pull_failed.emit(customer_id, period or "", "the sync worker is not running", True)
            return
        try:
            summary = await pull_customer(gateway, self._writer, customer_id, period)
        except TransientStripeError:
            self.pull_failed.emit(customer_id, period or "", "Stripe unreachable", True)
        except StripeFailure as exc:
            self.pull_failed.emit(
                customer_id, period or "", f"Stripe refused: {exc.message}", False
            )
        except Exception as exc:
            message = plain_error(exc)
            if message is None:
                self.bug_found.emit(exc)
                message = "refreshing from Stripe hit a bug (a crash report was saved)"
            self.pull_failed.emit(customer_id, period or "", message.rstrip("."), False)
        else:
            self.customer_pulled.emit(summary)

    def _writer(self) -> UnitOfWork:
        return UnitOfWork(self._store, write=True)

    async def _poll_events(self, gateway: StripeGateway, customer: str | None) -> int:
        """The engine's pull step: the Events API, at most every `events_every_s`."""
        if customer is not None:
            return 0  # an on-demand pass; the pull of that customer is requested on its own
        now = time.monotonic()
        if now - self._last_events < self._options.events_every_s:
            return 0
        self._last_events = now
        from billing_desk.sync.pull import poll_events

        return await poll_events(gateway, self._writer)

    # Engine callbacks (on the worker thread)

    def _on_engine_status(self, state: str, detail: str | None) -> None:
        self._engine_live = state != STOPPED
        if state == STOPPED:
            return  # the worker says when it stops, with the reason
        self._flush_pushes()
        self._flush_progress()  # a state ending a pass must not be followed by its progress
        self.state_changed.emit(state, detail or "")

    def _on_engine_progress(self, progress: Progress) -> None:
        if self._progress is not None:
            self._progress.report(progress.done, progress.total)

    def _flush_progress(self) -> None:
        if self._progress is not None:
            self._progress.flush()


class ProgressThrottle:
    """Passes (done, total) on at most every `every_s`, on the loop's thread; the latest report
    is never lost: it goes at the end of the interval, or at once on `flush()`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[int, int], object],
        every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        self._loop = loop
        self._send = send
        self._every_s = every_s
        self._pending: tuple[int, int] | None = None
        self._sent_at = -math.inf
        self._later: asyncio.TimerHandle | None = None

    def report(self, done: int, total: int) -> None:
        self._pending = (done, total)
        wait = self._sent_at + self._every_s - self._loop.time()
        if wait <= 0:
            self.flush()
        elif self._later is None:
            self._later = self._loop.call_later(wait, self.flush)

    def flush(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
        pending, self._pending = self._pending, None
        if pending is not None:
            self._sent_at = self._loop.time()
            self._send(*pending)


async def _until_either(a: asyncio.Event, b: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


class SyncThread(QObject):
    """Owns the worker's QThread: start it, stop it, and know when it is gone."""

    finished = Signal()

    def __init__(self, worker: SyncWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self._thread = QThread(self)
        self._thread.setObjectName("sync-worker")
        worker.moveToThread(self._thread)
        self._thread.started.connect(worker.run)
        self._thread.finished.connect(self._on_thread_finished)

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def start(self) -> None:
        keep_ui_responsive()
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to stop; `finished` follows once its thread has ended."""
        if self._thread.isRunning():
            self.worker.request_stop()
        else:
            self.finished.emit()

    def wait(self, timeout_ms: int) -> bool:
        """Block until the thread has ended (shutdown paths only, never while in use)."""
        return self._thread.wait(timeout_ms)

    def _on_thread_finished(self) -> None:
        # QThread.finished comes just before the thread ends: join it (it is past its loop, so
        # this is immediate) so that `running` is False for whoever hears `finished`.
        self._thread.wait()
        self.finished.emit()
