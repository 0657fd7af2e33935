"""The main window: a composition root. It builds the views, wires their signals, owns the
actions and their shortcuts, and starts and stops the sync worker. No view logic lives here.

Keyboard (every action has one; F1 lists them):
  Ctrl+K search · Enter open · F5 refresh from Stripe · Ctrl+Shift+S sync now
  Ctrl+[ / Ctrl+] previous / next period · Ctrl+1..4 tabs · interventions as in dialogs.actions
  Ctrl+Q quit
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from billing_desk.ui.bus import LINES, STRIPE, SYNC, Change, ChangeBus
from billing_desk.ui.crash import CrashReporter
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.persist import UiState
from billing_desk.ui.sync_worker import SyncThread, SyncWorker
from billing_desk.ui.theme import accent
from billing_desk.ui.views.customer_page import CustomerPage
from billing_desk.ui.views.search_panel import SearchPanel
from billing_desk.ui.workspace import Workspace

log = logging.getLogger(__name__)

STOP_TIMEOUT_MS = 5000


class MainWindow(QMainWindow):
    # The window has closed for good: the worker has stopped and the store is released.
    closed = Signal()
    # The worker's progress, re-emitted on the UI thread (done, total).
    sync_progress = Signal(int, int)

    def __init__(
        self,
        workspace: Workspace,
        ui_state: UiState,
        crash_reporter: CrashReporter,
        *,
        start_worker: bool = True,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.ui_state = ui_state
        self.crash_reporter = crash_reporter
        self.setWindowTitle("Billing Desk")
        self.setAccessibleName("Billing Desk")
        self.bus = ChangeBus(self)
        self.runner = OperationRunner(self.bus, self)
        # Searches get a thread of their own so typing never queues behind a slow read.
        self.search_runner = OperationRunner(self.bus, self, threads=1)
        for runner in (self.runner, self.search_runner):
            runner.bug_found.connect(crash_reporter.report)
            runner.operation_failed.connect(self._on_runner_operation_failed)
        crash_reporter.set_parent_widget(self)

        engine = workspace.engine
        self.search = SearchPanel(engine, self.runner, self.search_runner, self.bus)
        self.customer = CustomerPage(engine, self.runner, self.bus, ui_state, workspace.mode)
        self.search.customer_chosen.connect(self._on_search_customer_chosen)
        self.customer.customer_loaded.connect(self._on_customer_customer_loaded)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.search)
        self.splitter.addWidget(self.customer)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 1000])
        ui_state.restore_splitter("main", self.splitter)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Sections")
        self.tabs.addTab(self.splitter, "Customers")

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 4)
        if workspace.banner:
            self.banner = QLabel(workspace.banner)
            self.banner.setAccessibleName("Workspace banner")
            self.banner.setWordWrap(True)
            self.banner.setMargin(6)
            self.banner.setStyleSheet(
                f"background: {accent('banner').name()}; color: {accent('banner_text').name()};"
                "font-weight: bold; border-radius: 4px;"
            )
            layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.message = QLabel()
        self.message.setAccessibleName("Last message")
        self.statusBar().addWidget(self.message, 1)
        self.statusBar().addPermanentWidget(QLabel(f"Signed in as {workspace.user}"))

        self._actions: dict[str, QAction] = {}
        self._build_actions()
        self._sync: SyncThread | None = None
        self._closing = False
        self._closed = False
        self._start_worker = start_worker

        self.resize(1360, 820)
        ui_state.restore_geometry("main", self)
        QTimer.singleShot(0, self._after_shown)

    # Actions and shortcuts

    def _action(
        self, name: str, text: str, keys: str | QKeySequence.StandardKey, slot: Callable[[], object]
    ) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(keys))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        self._actions[name] = action
        return action

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file = menu.addMenu("&File")
        file.addAction(self._action("quit", "&Quit", "Ctrl+Q", self.close))
        view = menu.addMenu("&View")
        view.addAction(self._action("search", "&Search customers", "Ctrl+K", self.focus_search))
        view.addAction(
            self._action("tab_customers", "&Customers", "Ctrl+1", lambda: self.show_tab(0))
        )
        customer = menu.addMenu("&Customer")
        customer.addAction(
            self._action("refresh", "&Refresh from Stripe", "F5", self.customer.refresh_from_stripe)
        )
        customer.addAction(self._action("sync_now", "Sync &now", "Ctrl+Shift+S", self.sync_now))
        customer.addSeparator()
        customer.addAction(
            self._action("previous_period", "&Previous period", "Ctrl+[", lambda: self._step(1))
        )
        customer.addAction(
            self._action("next_period", "&Next period", "Ctrl+]", lambda: self._step(-1))
        )
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(
            self._action("shortcuts", "&Keyboard shortcuts", "F1", self._show_shortcuts)
        )

    def action(self, name: str) -> QAction:
        return self._actions[name]

    def focus_search(self) -> None:
        self.show_tab(0)
        self.search.focus_search()

    def show_tab(self, index: int) -> None:
        if 0 <= index < self.tabs.count():
            self.tabs.setCurrentIndex(index)

    def sync_now(self) -> None:
        customer = self.customer.customer_id
        worker = self.worker
        if worker is None:
            self._say("Syncing is off: no Stripe key is configured.")
            return
        if customer is not None:
            worker.request_push(customer)
            self._say(f"Pushing {customer}'s changes to Stripe now.")

    def _step(self, offset: int) -> None:
        snapshot = self.customer.snapshot
        if snapshot is None:
            return
        periods = snapshot.periods
        at = periods.index(snapshot.view.period) + offset
        if 0 <= at < len(periods):
            self.customer.open_customer(snapshot.view.customer_id, periods[at])

    def _show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td>{a.text().replace('&', '')}</td>"
            f"<td><b>{a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)}</b></td></tr>"
            for a in self._actions.values()
            if not a.shortcut().isEmpty()
        )
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<table cellspacing='6'>{rows}</table>")
        box.open()

    # The sync worker

    @property
    def worker(self) -> SyncWorker | None:
        return None if self._sync is None else self._sync.worker

    @property
    def sync_thread(self) -> SyncThread | None:
        return self._sync

    def _after_shown(self) -> None:
        if self._start_worker and not self._closing:
            self.start_worker()
        if self.workspace.start_customer and self.customer.customer_id is None:
            self.open_customer(self.workspace.start_customer)

    def start_worker(self) -> None:
        config = self.workspace.gateway_config()
        if config is None or self._sync is not None:
            if config is None:
                self._say("No Stripe key: showing the local ledger and cached Stripe data only.")
            return
        worker = SyncWorker(self.workspace.engine, config, self.workspace.worker_options)
        worker.bug_found.connect(self.crash_reporter.report)
        worker.state_changed.connect(self._on_worker_state_changed)
        worker.progress_changed.connect(self._on_worker_progress_changed)
        self._sync = SyncThread(worker, self)
        self._sync.finished.connect(self._on_sync_finished)
        self.customer.attach_worker(worker)
        self._sync.start()

    def _on_worker_progress_changed(self, done: int, total: int) -> None:
        self.sync_progress.emit(done, total)

    def _on_worker_state_changed(self, state: str, reason: str) -> None:
        if state == "stopped" and reason:
            self._say(f"Syncing stopped: {reason}")
        if state in ("idle", "stopped"):
            self.bus.notify(Change.of(SYNC, LINES, STRIPE))

    # Opening customers

    def open_customer(self, customer_id: str, period: str | None = None) -> None:
        self.show_tab(0)
        self.customer.open_customer(customer_id, period)

    def _on_search_customer_chosen(self, customer_id: str) -> None:
        self.open_customer(customer_id)
        self.customer.side_by_side.table.setFocus()

    def _on_customer_customer_loaded(self, customer_id: str) -> None:
        snapshot = self.customer.snapshot
        name = snapshot.view.name if snapshot is not None else customer_id
        self.setWindowTitle(f"{name} — Billing Desk")

    # Messages

    def _say(self, text: str) -> None:
        self.message.setText(text)

    def _on_runner_operation_failed(self, message: str) -> None:
        self._say(message)

    # Closing: stop the worker without blocking the UI thread, then release everything.

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closed:
            event.accept()
            return
        if not self._closing:
            self._closing = True
            self.ui_state.save_geometry("main", self)
            self.ui_state.save_splitter("main", self.splitter)
            self.ui_state.sync()
        if self._sync is not None and self._sync.running:
            event.ignore()
            self._say("Stopping the sync worker…")
            self.setEnabled(False)
            self._sync.stop()
            QTimer.singleShot(STOP_TIMEOUT_MS, self._on_stop_timeout)
            return
        self._finish_close()
        event.accept()

    def _on_sync_finished(self) -> None:
        if self._closing and not self._closed:
            self.close()

    def _on_stop_timeout(self) -> None:
        if self._sync is not None and self._sync.running and not self._closed:
            log.warning("the sync worker did not stop within %d ms", STOP_TIMEOUT_MS)

    def _finish_close(self) -> None:
        self._closed = True
        self.runner.shutdown()
        self.search_runner.shutdown()
        self.workspace.close()
        self.closed.emit()
