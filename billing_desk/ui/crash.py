"""Bugs get a crash dialog that saves a report; a traceback is never shown in a dialog.

The report (traceback, versions, platform) is written to a file in the data directory with
anything shaped like a Stripe key or a password in a URL masked, so it can be attached to a
bug ticket as it is.
"""

from __future__ import annotations

import logging
import platform
import re
import sys
import threading
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from billing_desk import __version__ as app_version

log = logging.getLogger(__name__)

_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):([^@\s]+)@")


def redact(text: str) -> str:
    """Stripe keys and bearer tokens (the gateway's rule), and passwords in store URLs."""
    # Imported here: the gateway brings the stripe library, which a start-up need not load.
    from billing_desk.stripe_gateway import redact as redact_keys

    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:***@", redact_keys(text))


def format_report(exc: BaseException) -> str:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        f"Billing Desk {app_version} crash report, {stamp}",
        f"Python {sys.version.split()[0]}, PySide6 {pyside_version}, {platform.platform()}",
        f"thread: {threading.current_thread().name}",
        "",
        *traceback.format_exception(type(exc), exc, exc.__traceback__),
    ]
    return redact("\n".join(line.rstrip("\n") for line in lines)) + "\n"


class CrashReporter(QObject):
    """Saves a report for each bug and shows the crash dialog (non-blocking) on the UI thread."""

    # Emitted from any thread; the connection queues the handling to the UI thread.
    _bug_raised = Signal(object)
    report_saved = Signal(str)

    def __init__(
        self, report_dir: Path, parent_widget: QWidget | None = None, show_dialog: bool = True
    ) -> None:
        super().__init__()
        self._dir = report_dir
        self._parent_widget = parent_widget
        self._show_dialog = show_dialog
        self.reports: list[Path] = []
        self.dialog: CrashDialog | None = None  # kept here: a dialog without parent needs a home
        self._bug_raised.connect(self.report)

    def set_parent_widget(self, widget: QWidget | None) -> None:
        self._parent_widget = widget

    def report(self, exc: BaseException) -> Path:
        text = format_report(exc)
        self._dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self._dir / f"crash-{stamp}.txt"
        path.write_text(text, encoding="utf-8")
        self.reports.append(path)
        log.error("a bug was caught; crash report saved to %s", path)
        self.report_saved.emit(str(path))
        if self._show_dialog:
            self.dialog = CrashDialog(path, self._parent_widget)
            self.dialog.open()
        return path

    def install(self) -> None:
        """Route uncaught exceptions of every thread here (the app's entry point calls this)."""

        def _hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
            if issubclass(kind, KeyboardInterrupt):
                sys.__excepthook__(kind, exc, tb)
                return
            self._bug_raised.emit(exc.with_traceback(tb))

        def _thread_hook(args: threading.ExceptHookArgs) -> None:
            if args.exc_value is not None:
                self._bug_raised.emit(args.exc_value)

        sys.excepthook = _hook
        threading.excepthook = _thread_hook


class CrashDialog(QDialog):
    def __init__(self, report: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Billing Desk hit a bug")
        self.setAccessibleName("Crash report")
        self._report = report
        text = QLabel(
            "<p><b>Something went wrong inside Billing Desk.</b> This is a bug in the app, "
            "not something you did. Your data in the store is safe: nothing half-done was "
            "saved.</p>"
            f"<p>A report was saved to:<br><code>{report}</code></p>"
            "<p>Please attach it to a ticket for the Billing Desk team. It contains no "
            "Stripe key or password.</p>"
        )
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        show = buttons.addButton("Show report folder", QDialogButtonBox.ButtonRole.ActionRole)
        show.clicked.connect(self._on_show_clicked)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)

    def _on_show_clicked(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._report.parent)))
