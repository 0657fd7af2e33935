"""Re-read a view's data only while someone can see it.

    self._refresher = RefreshWhileShown(self, self.refresh, every_ms=5000)
    def showEvent(self, event): self._refresher.shown(); super().showEvent(event)
    def hideEvent(self, event): self._refresher.hidden(); super().hideEvent(event)
    ... self._refresher.changed()   # what it shows changed: now if shown, else on the next show

A view with `every_ms` is re-read on every show and then every `every_ms` while it stays shown
(other desks write the same store); one without is read on its first show and again on a show
after `changed()`. A hidden view reads nothing: during a close-out the worker keeps the GIL
busy, and every read's result the UI thread takes in is time the window cannot answer.

The view calls `shown()` and `hidden()` from its own show and hide events (an event filter
would call into Python for every event the widget gets).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget


class RefreshWhileShown(QObject):
    def __init__(
        self, view: QWidget, refresh: Callable[[], object], every_ms: int | None = None
    ) -> None:
        super().__init__(view)
        self._view = view
        self._refresh = refresh
        self._stale = True  # never read yet
        self._timer: QTimer | None = None
        if every_ms is not None:
            self._timer = QTimer(self)
            self._timer.setInterval(every_ms)
            self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def periodic(self) -> bool:
        """True while the timer runs (the view is shown and re-read every few seconds)."""
        return self._timer is not None and self._timer.isActive()

    def shown(self) -> None:
        if self._timer is not None:
            self._timer.start()
        if self._stale or self._timer is not None:
            self._read()

    def hidden(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    def changed(self) -> None:
        """What the view shows has changed: re-read it now if it is shown, else when it is."""
        if self._view.isVisible():
            self._read()
        else:
            self._stale = True

    def _read(self) -> None:
        self._stale = False
        self._refresh()

    def _on_timer_timeout(self) -> None:
        self._read()
