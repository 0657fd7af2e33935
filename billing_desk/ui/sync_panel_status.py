"""The sync summary shown in the status bar on every screen, and desktop notifications.

`SyncStatusWidget` is a compact icon + text (click or Enter: open the sync panel).
`SyncNotifier` turns summary changes into tray messages (QSystemTrayIcon) when the worker stops
or something needs attention; where no tray exists it still emits `notified`, so the window can
say it another way.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSystemTrayIcon, QWidget

from billing_desk.ui.icons import glyph_icon, glyph_pixmap
from billing_desk.ui.sync_panel_model import SyncSummary, WorkerState, notification_for
from billing_desk.ui.theme import accent


class SyncStatusWidget(QWidget):
    """`show_summary(summary)`; emits `activated` when clicked (or Enter/Space when focused)."""

    activated = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._icon = QLabel()
        self._text = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(4)
        layout.addWidget(self._icon)
        layout.addWidget(self._text)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName("Sync status")
        self.show_summary(SyncSummary())

    def text(self) -> str:
        return self._text.text()

    def show_summary(self, summary: SyncSummary) -> None:
        state = summary.state
        colour = accent("danger" if summary.attention else state.accent)
        glyph = "bolt" if summary.attention and state is not WorkerState.STOPPED else state.glyph
        self._icon.setPixmap(glyph_pixmap(glyph, colour, 14))
        self._text.setText(summary.text())
        self.setToolTip(summary.detail() + "\nClick to open the Sync panel.")
        self.setAccessibleDescription(summary.detail())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.activated.emit()
            return
        super().keyPressEvent(event)


class SyncNotifier(QObject):
    """Connect `SyncPanel.summary_changed` to `on_summary`; one message per thing to act on."""

    notified = Signal(str, str)  # title, message

    def __init__(self, tray: QSystemTrayIcon | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tray = tray
        self._last: SyncSummary | None = None

    @classmethod
    def with_system_tray(cls, parent: QObject | None = None) -> SyncNotifier:
        """A notifier with its own tray icon when the desktop has a tray, else without one."""
        tray = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            tray = QSystemTrayIcon(glyph_icon("check", accent("ok"), 16), parent)
            tray.setToolTip("Billing Desk")
            tray.show()
        return cls(tray, parent)

    @property
    def tray(self) -> QSystemTrayIcon | None:
        return self._tray

    def on_summary(self, summary: SyncSummary) -> None:
        message = notification_for(self._last, summary)
        self._last = summary
        if self._tray is not None:
            self._tray.setToolTip(f"Billing Desk — {summary.text()}")
            glyph = summary.state.glyph if not summary.attention else "bolt"
            colour = accent("danger" if summary.attention else summary.state.accent)
            self._tray.setIcon(QIcon(glyph_icon(glyph, colour, 16)))
        if message is None:
            return
        title, text = message
        if self._tray is not None and QSystemTrayIcon.supportsMessages():
            self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 10_000)
        self.notified.emit(title, text)
