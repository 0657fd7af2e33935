"""User actions and long reads as operations: run off the UI thread, report on it (anki style).

`OperationRunner.run(work, ...)` runs `work()` on a thread pool. Its result (or failure) comes
back on the UI thread through a queued signal; a successful operation then broadcasts its one
`Change` on the `ChangeBus`. Failures the user can act on (a store that is locked, Stripe
unreachable, a refused correction) reach `on_failure` as one plain sentence; anything else is a
bug and goes to the crash reporter, never to a dialog with a traceback.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from billing_desk.ui.bus import Change, ChangeBus
from billing_desk.ui.messages import plain_error

T = TypeVar("T")


class _Relay(QObject):
    """Lives on the UI thread, so signals emitted from a pool thread arrive there queued."""

    succeeded = Signal(int, object)
    failed = Signal(int, object)


class _Job(QRunnable, Generic[T]):
    def __init__(self, ticket: int, work: Callable[[], T], relay: _Relay) -> None:
        super().__init__()
        self._ticket = ticket
        self._work = work
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._work()
        except BaseException as exc:  # everything crosses to the UI thread to be judged there
            self._relay.failed.emit(self._ticket, exc)
        else:
            self._relay.succeeded.emit(self._ticket, result)


@dataclass(frozen=True)
class _Pending:
    on_success: Callable[[Any], None] | None
    on_failure: Callable[[str], None] | None
    change: Change | Callable[[Any], Change | None] | None


class OperationRunner(QObject):
    """Owns the worker threads of operations; `shutdown()` waits for the ones under way."""

    # A plain message for failures whose caller gave no `on_failure` (shown in the status bar).
    operation_failed = Signal(str)
    # An unexpected exception: the application shows the crash dialog.
    bug_found = Signal(object)

    def __init__(self, bus: ChangeBus, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self._bus = bus
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        # One relay for every job: results are matched to their callbacks by ticket.
        self._relay = _Relay(self)
        self._relay.succeeded.connect(self._on_relay_succeeded)
        self._relay.failed.connect(self._on_relay_failed)
        self._pending: dict[int, _Pending] = {}
        self._tickets = itertools.count(1)

    def run(
        self,
        work: Callable[[], T],
        *,
        on_success: Callable[[T], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        change: Change | Callable[[T], Change | None] | None = None,
    ) -> None:
        ticket = next(self._tickets)
        self._pending[ticket] = _Pending(on_success, on_failure, change)
        self._pool.start(_Job(ticket, work, self._relay))

    def _on_relay_succeeded(self, ticket: int, result: Any) -> None:
        pending = self._pending.pop(ticket)
        if pending.on_success is not None:
            pending.on_success(result)
        change = pending.change
        notice = change(result) if callable(change) else change
        if notice is not None:
            self._bus.notify(notice)

    def _on_relay_failed(self, ticket: int, exc: BaseException) -> None:
        pending = self._pending.pop(ticket)
        message = plain_error(exc)
        if message is None:
            self.bug_found.emit(exc)
        elif pending.on_failure is not None:
            pending.on_failure(message)
        else:
            self.operation_failed.emit(message)

    @property
    def busy(self) -> bool:
        return self._pool.activeThreadCount() > 0

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Drop queued work and wait for running work; True when every thread is idle."""
        self._pool.clear()
        return self._pool.waitForDone(timeout_ms)
