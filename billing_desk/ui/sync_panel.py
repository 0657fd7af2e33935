"""The sync panel: the worker's state, progress of long work, API calls against the budget,
the outbox depth, and the operations needing attention with Retry and Details.

The worker's state and progress arrive from the worker-thread adapter through the slots
`show_worker_state` and `show_progress`; the store's figures are read off the UI thread by
`refresh()` (every few seconds while the panel is shown). `summary_changed` carries one
`SyncSummary` for the status bar and the tray notifier.

Keyboard: Ctrl+Shift+P pause / resume · Ctrl+R retry the selected operation · Return details
of the selected operation. "Sync now" is the window's Ctrl+Shift+S (one owner per key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from billing_desk.ui.bus import SYNC, Change
from billing_desk.ui.dialogs.lifetime import while_alive
from billing_desk.ui.dialogs.table_view import read_only_table
from billing_desk.ui.icons import glyph_pixmap
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.refresh_while_shown import RefreshWhileShown
from billing_desk.ui.sync_panel_chart import CallsChart
from billing_desk.ui.sync_panel_model import (
    AttentionItem,
    AttentionModel,
    SyncFigures,
    SyncSummary,
    WorkerState,
    worker_state,
)
from billing_desk.ui.theme import accent

REFRESH_MS = 5000


class SyncPanel(QWidget):
    """`SyncPanel(runner, read_figures, retry_operation)`.

    `read_figures()` returns the store's `SyncFigures` and `retry_operation(operation_id)` puts
    an operation back in the queue; both run on the runner's threads, never on the UI thread.
    """

    sync_requested = Signal()
    # True: pause the worker; False: resume it.
    pause_requested = Signal(bool)
    summary_changed = Signal(object)  # SyncSummary
    customer_requested = Signal(str, str)  # customer id, period ("" when unknown)
    # The latest read of the store asked for is on screen (or failed); tests wait on it.
    figures_read = Signal()

    def __init__(
        self,
        runner: OperationRunner,
        read_figures: Callable[[], SyncFigures],
        retry_operation: Callable[[int], object],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._read_figures = read_figures
        self._retry_operation = retry_operation
        self._summary = SyncSummary()
        self._figures = SyncFigures()
        self._loading = False
        self._reload = False

        self._state_icon = QLabel()
        self._state_text = QLabel()
        self._state_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._state_text.setWordWrap(True)
        self._state_text.setAccessibleName("Sync worker state")
        self._pause = QPushButton("Pause")
        self._pause.setAccessibleName("Pause or resume syncing")
        self._pause.setToolTip("Pause or resume the sync worker (Ctrl+Shift+P)")
        self._sync_now = QPushButton("Sync now")
        self._sync_now.setAccessibleName("Sync now")
        self._sync_now.setToolTip("Push what is waiting and pull from Stripe now (Ctrl+Shift+S)")
        header = QHBoxLayout()
        header.addWidget(self._state_icon)
        header.addWidget(self._state_text, 1)
        header.addWidget(self._pause)
        header.addWidget(self._sync_now)

        self._progress = QProgressBar()
        self._progress.setAccessibleName("Progress of long sync work")
        self._progress.setTextVisible(True)
        self._progress.hide()

        self._depth = QLabel()
        self._depth.setAccessibleName("Outbox depth")
        self._attention_count = QLabel()
        self._attention_count.setAccessibleName("Operations needing attention")
        self._read_at = QLabel()
        self._read_at.setStyleSheet(f"color: {accent('muted').name()}")
        figures = QHBoxLayout()
        figures.addWidget(self._depth)
        figures.addSpacing(24)
        figures.addWidget(self._attention_count)
        figures.addStretch(1)
        figures.addWidget(self._read_at)

        self._chart = CallsChart()

        self._model = AttentionModel(self)
        self._table = read_only_table(self._model, "Operations needing attention")
        self._table.sortByColumn(AttentionModel.COL_SINCE, Qt.SortOrder.DescendingOrder)
        self._retry = QPushButton("Retry")
        self._retry.setAccessibleName("Retry the selected operation")
        self._retry.setToolTip("Put the selected operation back in the queue (Ctrl+R)")
        self._details = QPushButton("Details…")
        self._details.setAccessibleName("Details of the selected operation")
        self._details.setToolTip("What Stripe said, in full (Return)")
        self._open_customer = QPushButton("Open customer")
        self._open_customer.setAccessibleName("Open the customer of the selected operation")
        self._message = QLabel()
        self._message.setWordWrap(True)
        self._message.setAccessibleName("Sync panel message")
        buttons = QHBoxLayout()
        buttons.addWidget(self._message, 1)
        buttons.addWidget(self._open_customer)
        buttons.addWidget(self._details)
        buttons.addWidget(self._retry)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self._progress)
        layout.addLayout(figures)
        layout.addWidget(QLabel("<b>Stripe API calls per hour</b>"))
        layout.addWidget(self._chart, 2)
        layout.addWidget(QLabel("<b>Operations needing attention</b>"))
        layout.addWidget(self._table, 3)
        layout.addLayout(buttons)

        self._pause.clicked.connect(self._on_pause_clicked)
        self._sync_now.clicked.connect(self._on_sync_now_clicked)
        self._retry.clicked.connect(self._on_retry_clicked)
        self._details.clicked.connect(self._on_details_clicked)
        self._open_customer.clicked.connect(self._on_open_customer_clicked)
        self._table.doubleClicked.connect(self._on_table_double_clicked)
        self._table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        for keys, slot in (
            ("Ctrl+Shift+P", self._on_pause_clicked),
            ("Ctrl+R", self._on_retry_clicked),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        details_key = QShortcut(QKeySequence(Qt.Key.Key_Return), self._table)
        details_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        details_key.activated.connect(self._on_details_clicked)

        self._refresher = RefreshWhileShown(self, self.refresh, every_ms=REFRESH_MS)
        self._render_state()
        self._render_figures()
        self._on_selection_changed()

    # --- inputs -----------------------------------------------------------------------------

    @property
    def summary(self) -> SyncSummary:
        return self._summary

    def show_worker_state(self, state: str, reason: str = "") -> None:
        """The worker's state as the adapter reports it (`WorkerState` values)."""
        worker = worker_state(state)
        summary = replace(self._summary, state=worker, reason=reason)
        if worker in (WorkerState.IDLE, WorkerState.PAUSED, WorkerState.STOPPED):
            # No pass is under way any more: an unfinished one's progress means nothing now.
            self._progress.hide()
            summary = replace(summary, progress=None)
        self._set_summary(summary)
        self._render_state()

    def show_progress(self, done: int, total: int, label: str = "") -> None:
        """Long work under way (close-out, bulk pushes); `total` 0 means it is over."""
        if total <= 0:
            self._progress.hide()
            self._set_summary(replace(self._summary, progress=None))
            return
        self._progress.setRange(0, total)
        self._progress.setValue(min(done, total))
        self._progress.setFormat(f"{label + ': ' if label else ''}{done:,} of {total:,}")
        self._progress.show()
        self._set_summary(replace(self._summary, progress=(done, total)))

    def refresh(self) -> None:
        """Read the store's figures off the UI thread (one read at a time)."""
        if self._loading:
            self._reload = True  # read again once this read is in, so no change is missed
            return
        self._loading = True
        self._runner.run(
            self._read_figures,
            on_success=while_alive(self, self._on_figures_read),
            on_failure=while_alive(self, self._on_figures_failed),
        )

    def showEvent(self, event: QShowEvent) -> None:
        self._refresher.shown()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._refresher.hidden()
        super().hideEvent(event)

    # --- rendering --------------------------------------------------------------------------

    def _set_summary(self, summary: SyncSummary) -> None:
        if summary != self._summary:
            self._summary = summary
            self.summary_changed.emit(summary)

    def _render_state(self) -> None:
        state = self._summary.state
        self._state_icon.setPixmap(glyph_pixmap(state.glyph, accent(state.accent), 20))
        text = f"<b>{state.label}</b>"
        if self._summary.reason:
            text += f" — {_escape(self._summary.reason)}"
        self._state_text.setText(text)
        self._state_text.setAccessibleDescription(self._summary.detail())
        paused = state is WorkerState.PAUSED
        self._pause.setText("Resume" if paused else "Pause")
        self._pause.setEnabled(state is not WorkerState.STOPPED)
        self._sync_now.setEnabled(state is not WorkerState.STOPPED)

    def _render_figures(self) -> None:
        f = self._figures
        self._depth.setText(f"Outbox: <b>{f.outbox_depth:,}</b> waiting to push")
        colour = accent("danger" if f.attention else "muted").name()
        self._attention_count.setText(
            f"<span style='color:{colour}'>Needs attention: <b>{len(f.attention):,}</b></span>"
        )
        self._read_at.setText(
            "" if f.read_at is None else f"read {f.read_at.astimezone():%H:%M:%S}"
        )
        self._chart.set_data(f.hours, f.budget_per_hour)

    # --- slots ------------------------------------------------------------------------------

    def _on_figures_read(self, figures: SyncFigures) -> None:
        self._loading = False
        selected = self._selected()
        self._figures = figures
        self._model.set_rows(figures.attention)
        self._render_figures()
        if selected is not None:
            self._select(selected.operation_id)
        self._on_selection_changed()
        self._set_summary(
            replace(
                self._summary, outbox_depth=figures.outbox_depth, attention=len(figures.attention)
            )
        )
        self._read_done()

    def _on_figures_failed(self, message: str) -> None:
        self._loading = False
        self._message.setText(message)
        self._read_done()

    def _read_done(self) -> None:
        if self._reload:
            self._reload = False
            self.refresh()
            return
        self.figures_read.emit()

    def _on_pause_clicked(self) -> None:
        if self._pause.isEnabled():
            self.pause_requested.emit(self._summary.state is not WorkerState.PAUSED)

    def _on_sync_now_clicked(self) -> None:
        if self._sync_now.isEnabled():
            self.sync_requested.emit()

    def _on_retry_clicked(self) -> None:
        item = self._selected()
        if item is None:
            return
        self._retry.setEnabled(False)
        self._message.setText(f"Retrying operation {item.operation_id}…")
        self._runner.run(
            lambda: self._retry_operation(item.operation_id),
            on_success=while_alive(self, lambda _result: self._on_retry_done(item)),
            on_failure=while_alive(self, self._on_retry_failed),
            change=Change.of(SYNC, customers=[item.customer_id]),
        )

    def _on_retry_done(self, item: AttentionItem) -> None:
        self._message.setText(
            f"Operation {item.operation_id} is back in the queue; the worker will send it next."
        )
        self.sync_requested.emit()
        self.refresh()

    def _on_retry_failed(self, message: str) -> None:
        self._message.setText(message)
        self._on_selection_changed()

    def _on_details_clicked(self) -> None:
        item = self._selected()
        if item is None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(f"Operation {item.operation_id}")
        box.setText(f"<b>{_escape(item.operation)}</b> for customer {_escape(item.customer_id)}")
        box.setInformativeText(
            f"Stripe said: {item.error}\n\nAttempts: {item.attempts}. Fix the cause (in Stripe or "
            "in Billing Desk), then press Retry."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.setAccessibleName("Operation details")
        box.open()

    def _on_open_customer_clicked(self) -> None:
        item = self._selected()
        if item is not None:
            self.customer_requested.emit(item.customer_id, item.period or "")

    def _on_table_double_clicked(self) -> None:
        self._on_details_clicked()

    def _on_selection_changed(self, *_args: object) -> None:
        has = self._selected() is not None
        for button in (self._retry, self._details, self._open_customer):
            button.setEnabled(has)

    # --- selection --------------------------------------------------------------------------

    def _selected(self) -> AttentionItem | None:
        rows = self._table.selectionModel().selectedRows()
        if not rows:
            return None
        item = rows[0].data(AttentionModel.OBJECT_ROLE)
        return item if isinstance(item, AttentionItem) else None

    def _select(self, operation_id: int) -> None:
        for row in range(self._model.rowCount()):
            index = self._model.index(row, 0)
            item = index.data(AttentionModel.OBJECT_ROLE)
            if isinstance(item, AttentionItem) and item.operation_id == operation_id:
                self._table.selectRow(row)
                return


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
