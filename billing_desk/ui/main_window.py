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
from functools import partial

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

from billing_desk.services.corrections import Decision
from billing_desk.ui import adapters
from billing_desk.ui.approvals import ApprovalsView, badge_text
from billing_desk.ui.audit_view import AuditView
from billing_desk.ui.bus import LINES, STRIPE, SYNC, Change, ChangeBus
from billing_desk.ui.crash import CrashReporter
from billing_desk.ui.dialogs.actions import Action, disabled_reason, enabled_actions
from billing_desk.ui.dialogs.intervention import InterventionDialog, InterventionTarget
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.persist import UiState
from billing_desk.ui.settings_dialog import SettingsDialog
from billing_desk.ui.sync_panel import SyncPanel
from billing_desk.ui.sync_panel_reads import read_sync_figures
from billing_desk.ui.sync_panel_status import SyncNotifier, SyncStatusWidget
from billing_desk.ui.sync_worker import SyncThread, SyncWorker
from billing_desk.ui.theme import accent, follow_palette
from billing_desk.ui.views.customer_page import CustomerPage
from billing_desk.ui.views.search_panel import SearchPanel
from billing_desk.ui.workspace import Workspace

TAB_CUSTOMERS, TAB_APPROVALS, TAB_SYNC, TAB_AUDIT = range(4)

log = logging.getLogger(__name__)

STOP_TIMEOUT_MS = 5000
# How long after the window is shown the sync worker starts (see _after_shown).
WORKER_START_DELAY_MS = 300


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
        mode = workspace.mode  # reads the key once (the keyring may be slow to answer)
        self.search = SearchPanel(engine, self.runner, self.search_runner, self.bus)
        self.customer = CustomerPage(engine, self.runner, self.bus, ui_state, mode)
        self.search.customer_chosen.connect(self._on_search_customer_chosen)
        self.customer.customer_loaded.connect(self._on_customer_customer_loaded)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.search)
        self.splitter.addWidget(self.customer)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 1000])
        ui_state.restore_splitter("main", self.splitter)
        live = mode == "live"
        self.approvals = ApprovalsView(engine, workspace.user, self.runner, self.bus)
        self.sync_panel = SyncPanel(
            self.runner,
            lambda: read_sync_figures(engine, live=live),
            lambda op_id: adapters.retry_operation(engine, workspace.user, op_id),
        )
        self.audit = AuditView(engine, workspace.user, self.runner, self.bus)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Sections")
        self.tabs.addTab(self.splitter, "Customers")
        self.tabs.addTab(self.approvals, badge_text(0))
        self.tabs.addTab(self.sync_panel, "Sync")
        self.tabs.addTab(self.audit, "Audit")
        self.approvals.pending_count_changed.connect(self._on_approvals_pending_count_changed)
        self.approvals.customer_requested.connect(self.open_customer)
        self.approvals.decision_made.connect(self._on_approvals_decision_made)
        self.sync_panel.customer_requested.connect(self.open_customer)
        self.sync_panel.sync_requested.connect(self.sync_now)
        self.sync_panel.pause_requested.connect(self._on_sync_panel_pause_requested)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 4)
        if workspace.banner:
            self.banner = QLabel(workspace.banner)
            self.banner.setAccessibleName("Workspace banner")
            self.banner.setWordWrap(True)
            self.banner.setMargin(6)
            banner = self.banner
            follow_palette(
                banner,
                lambda: banner.setStyleSheet(
                    f"background: {accent('banner').name()}; "
                    f"color: {accent('banner_text').name()}; font-weight: bold; border-radius: 4px;"
                ),
            )
            layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.message = QLabel()
        self.message.setAccessibleName("Last message")
        self.sync_status = SyncStatusWidget()
        self.sync_status.activated.connect(lambda: self.show_tab(TAB_SYNC))
        self.notifier = SyncNotifier.with_system_tray(self)
        self.sync_panel.summary_changed.connect(self.sync_status.show_summary)
        self.sync_panel.summary_changed.connect(self.notifier.on_summary)
        self.statusBar().addWidget(self.message, 1)
        self.statusBar().addPermanentWidget(self.sync_status)
        self.statusBar().addPermanentWidget(QLabel(f"Signed in as {workspace.user}"))

        self._actions: dict[str, QAction] = {}
        self._build_actions()
        self._sync: SyncThread | None = None
        # Every worker thread started, so closing waits for one still stopping after a restart.
        self._threads: list[SyncThread] = []
        self.last_dialog: InterventionDialog | None = None
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
        file.addAction(self._action("settings", "&Settings…", "Ctrl+,", self.open_settings))
        file.addSeparator()
        file.addAction(self._action("quit", "&Quit", "Ctrl+Q", self.close))
        view = menu.addMenu("&View")
        view.addAction(self._action("search", "&Search customers", "Ctrl+K", self.focus_search))
        for index, (name, text) in enumerate(
            (
                ("customers", "&Customers"),
                ("approvals", "&Approvals"),
                ("sync", "S&ync"),
                ("audit", "A&udit trail"),
            )
        ):
            view.addAction(
                self._action(
                    f"tab_{name}", text, f"Ctrl+{index + 1}", partial(self.show_tab, index)
                )
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
        corrections = menu.addMenu("C&orrections")
        self._interventions: dict[Action, QAction] = {}
        for action in Action:
            if action is Action.RELEASE:
                continue  # shares Hold's key; Hold / Release is one action, its text follows
            qaction = self._action(
                f"intervene_{action.value}",
                action.label,
                action.shortcut,
                partial(self.intervene, action),
            )
            corrections.addAction(qaction)
            self._interventions[action] = qaction
        self.customer.context_changed.connect(self._on_customer_context_changed)
        self._on_customer_context_changed()
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
        else:
            self._say(
                "Open a customer to push its changes now; the others follow the sync interval."
            )

    # Interventions (the dialogs are dialogs.intervention's)

    def _current_action(self, action: Action) -> Action:
        if action is Action.HOLD and self.customer.invoice_context().held:
            return Action.RELEASE
        return action

    def _on_customer_context_changed(self) -> None:
        context = self.customer.invoice_context()
        enabled = enabled_actions(context) if self.customer.snapshot is not None else frozenset()
        for action, qaction in self._interventions.items():
            shown = self._current_action(action)
            qaction.setText(shown.label)
            qaction.setEnabled(shown in enabled)
            reason = disabled_reason(shown, context) if self.customer.snapshot else None
            qaction.setToolTip(reason or shown.label.rstrip("…"))
            qaction.setStatusTip(reason or "")

    def intervene(self, action: Action) -> InterventionDialog | None:
        """Open the dialog of `action` on the customer shown; None when it does not apply."""
        snapshot = self.customer.snapshot
        action = self._current_action(action)
        if snapshot is None or action not in enabled_actions(self.customer.invoice_context()):
            return None
        view = snapshot.view
        undo = snapshot.undo_candidate if action is Action.UNDO else None
        target = InterventionTarget(
            view.customer_id,
            view.period,
            view.currency,
            view.name,
            line=self.customer.selected_line(),
            correction_id=undo[0] if undo else None,
            correction_summary=undo[1] if undo else "",
        )
        dialog = InterventionDialog(
            action,
            target,
            engine=self.workspace.engine,
            actor=self.workspace.user,
            runner=self.runner,
            parent=self,
        )
        dialog.correction_submitted.connect(lambda d: self._on_dialog_submitted(dialog, d))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.last_dialog = dialog
        return dialog

    def _on_dialog_submitted(self, dialog: InterventionDialog, decision: Decision) -> None:
        self._say(dialog.result_text)
        customer = self.customer.customer_id
        if self.worker is not None and customer is not None:
            self.worker.request_push(customer)  # an applied correction goes to Stripe now

    # Settings (the dialog is settings_dialog's)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.workspace, self.runner, self)
        dialog.stripe_key_saved.connect(self._on_settings_stripe_key_saved)
        dialog.store_chosen.connect(self._on_settings_store_chosen)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _on_settings_stripe_key_saved(self, masked: str) -> None:
        self._say(f"Stripe key {masked} saved; syncing restarts with it.")
        self.restart_worker()

    def _on_settings_store_chosen(self, url: str) -> None:
        self.ui_state.set_store_url(url)
        self.ui_state.sync()
        self._say(f"The store {url} opens from the next start.")

    def _on_approvals_pending_count_changed(self, count: int) -> None:
        self.tabs.setTabText(TAB_APPROVALS, badge_text(count))

    def _on_approvals_decision_made(self, _decision: object) -> None:
        self._say(self.approvals.last_outcome)

    def _on_sync_panel_pause_requested(self, paused: bool) -> None:
        if self.worker is not None:
            self.worker.set_paused(paused)

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
        self.approvals.refresh()  # the tab's count badge, before anyone opens the tab
        if self._start_worker:
            # The worker's start loads the engine and the stripe library: half a second of
            # imports whose GIL the window would wait behind before its first paint.
            QTimer.singleShot(WORKER_START_DELAY_MS, self._start_worker_after_shown)
        if self.workspace.start_customer and self.customer.customer_id is None:
            self.open_customer(self.workspace.start_customer)

    def _start_worker_after_shown(self) -> None:
        if not self._closing:
            self.start_worker()

    def start_worker(self) -> None:
        if self._sync is not None:
            return
        if self.workspace.stripe_key() is None:
            self._say("No Stripe key: showing the local ledger and cached Stripe data only.")
            return
        # The worker makes the gateway's config on its own thread (it loads the stripe library).
        worker = SyncWorker(
            self.workspace.engine, self.workspace.gateway_config, self.workspace.worker_options
        )
        worker.bug_found.connect(self.crash_reporter.report)
        worker.state_changed.connect(self._on_worker_state_changed)
        worker.progress_changed.connect(self._on_worker_progress_changed)
        worker.state_changed.connect(self.sync_panel.show_worker_state)
        self._sync = SyncThread(worker, self)
        self._threads.append(self._sync)
        self._sync.finished.connect(self._on_sync_finished)
        self.customer.attach_worker(worker)
        self._sync.start()

    def restart_worker(self) -> None:
        """Stop the worker (without waiting here) and start a new one with the current key."""
        old = self._sync
        if old is None or not old.running:
            self._sync = None
            self.start_worker()
            return
        self._sync = None

        def start_again() -> None:
            if not self._closing:
                self.start_worker()

        old.finished.connect(start_again)
        old.stop()

    def _on_worker_progress_changed(self, done: int, total: int) -> None:
        self.sync_panel.show_progress(done, total)
        self.sync_progress.emit(done, total)

    def _on_worker_state_changed(self, state: str, reason: str) -> None:
        if state == "stopped" and reason:
            self._say(f"Syncing stopped: {reason}")
        if state in ("idle", "stopped"):
            self.bus.notify(Change.of(SYNC, LINES, STRIPE))

    # Opening customers

    def open_customer(self, customer_id: str, period: str | None = None) -> None:
        self.show_tab(TAB_CUSTOMERS)
        self.customer.open_customer(customer_id, period or None)

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
        running = [t for t in self._threads if t.running]
        if running:
            event.ignore()
            self._say("Stopping the sync worker…")
            self.setEnabled(False)
            for thread in running:
                thread.stop()
            QTimer.singleShot(STOP_TIMEOUT_MS, self._on_stop_timeout)
            return
        self._finish_close()
        event.accept()

    def _on_sync_finished(self) -> None:
        self._threads = [t for t in self._threads if t.running or t is self._sync]
        if self._closing and not self._closed:
            self.close()

    def _on_stop_timeout(self) -> None:
        if any(t.running for t in self._threads) and not self._closed:
            log.warning("the sync worker did not stop within %d ms", STOP_TIMEOUT_MS)

    def _finish_close(self) -> None:
        self._closed = True
        self.runner.shutdown()
        self.search_runner.shutdown()
        self.workspace.close()
        self.closed.emit()
