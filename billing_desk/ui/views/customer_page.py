"""The selected customer: header, the side-by-side view, and the drill-down on double-click.

Opening a customer shows its cached data at once (a store read off the UI thread), then asks
the sync worker to pull its Stripe state; when the pull lands the page reads the store again.
If Stripe cannot be reached the cached data stays, marked stale, with a plain notice, and the
pull is tried again later. Every change on the `ChangeBus` that concerns this customer redraws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget
from sqlalchemy import Engine

from billing_desk.domain.corrections import InvoiceStatus
from billing_desk.domain.reconcile import LocalLine
from billing_desk.services.customer_view import Mode
from billing_desk.ui import adapters
from billing_desk.ui.bus import CORRECTIONS, LINES, STRIPE, Change, ChangeBus
from billing_desk.ui.dialogs.actions import InvoiceContext
from billing_desk.ui.messages import stale_notice
from billing_desk.ui.models.side_by_side import LineRow
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.persist import UiState
from billing_desk.ui.sync_worker import SyncWorker
from billing_desk.ui.theme import accent, follow_palette
from billing_desk.ui.views.customer_header import CustomerHeader
from billing_desk.ui.views.drilldown import DrilldownDialog
from billing_desk.ui.views.side_by_side import SideBySideView

if TYPE_CHECKING:
    from billing_desk.sync.pull import PullSummary

RETRY_PULL_MS = 30_000
TICK_MS = 30_000
_SYNC_WORDS = {"synced": "synced", "pending": "pending", "needs_attention": "needs attention"}


class CustomerPage(QWidget):
    customer_loaded = Signal(str)  # the page shows this customer (its cached data is on screen)
    context_changed = Signal()  # the invoice state or the selected line changed

    def __init__(
        self,
        engine: Engine,
        runner: OperationRunner,
        bus: ChangeBus,
        ui_state: UiState,
        mode: Mode = "test",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._runner = runner
        self._ui_state = ui_state
        self._mode: Mode = mode
        self._worker: SyncWorker | None = None
        self._customer: str | None = None
        self._period: str | None = None
        self._seq = 0
        self._pulling = False
        self.snapshot: adapters.CustomerSnapshot | None = None
        self.drilldown: DrilldownDialog | None = None

        self.header = CustomerHeader()
        self.header.period_chosen.connect(self._on_header_period_chosen)
        self.notice = QLabel()
        self.notice.setAccessibleName("Notice")
        self.notice.setWordWrap(True)
        self.notice.setMargin(6)
        self.notice.hide()
        self.waiting = QLabel()
        self.waiting.setAccessibleName("Corrections waiting")
        self.waiting.setWordWrap(True)
        self.waiting.hide()
        follow_palette(self, self._restyle)
        self.side_by_side = SideBySideView(ui_state)
        self.side_by_side.line_opened.connect(self._on_side_by_side_line_opened)
        self.side_by_side.selection_changed.connect(self.context_changed)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.notice)
        layout.addWidget(self.waiting)
        layout.addWidget(self.side_by_side, 1)
        self.empty = QLabel(
            "Search a customer to start: press Ctrl+K and type a name, an email, an id or a "
            "Stripe id."
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self._stack = QStackedWidget()
        self._stack.addWidget(self.empty)
        self._stack.addWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)

        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(RETRY_PULL_MS)
        self._retry.timeout.connect(self.refresh_from_stripe)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick_timeout)
        self._tick.start()
        bus.changed.connect(self._on_bus_changed)

    def _restyle(self) -> None:
        self.notice.setStyleSheet(
            f"background: {accent('banner').name()}; color: {accent('banner_text').name()};"
            "border-radius: 4px;"
        )
        self.waiting.setStyleSheet(f"color: {accent('stripe_only').name()};")
        self.header.tick()

    # Wiring

    def attach_worker(self, worker: SyncWorker | None) -> None:
        """The worker that pulls Stripe's state on demand (None: cached data only)."""
        self._worker = worker
        if worker is not None:
            worker.customer_pulled.connect(self._on_worker_customer_pulled)
            worker.pull_failed.connect(self._on_worker_pull_failed)

    @property
    def customer_id(self) -> str | None:
        return self._customer

    @property
    def period(self) -> str | None:
        return self._period

    # Opening

    def open_customer(self, customer_id: str, period: str | None = None) -> None:
        switching = customer_id != self._customer
        self._customer = customer_id
        self._period = period
        self._retry.stop()
        if switching:
            self.snapshot = None
            self.notice.hide()
            self.header.show_loading(customer_id)
            self.side_by_side.model.set_rows([])
            self._stack.setCurrentIndex(1)
        self._load(pull_after=True)

    def reload(self) -> None:
        """Read the store again (no Stripe call)."""
        if self._customer is not None:
            self._load(pull_after=False)

    def refresh_from_stripe(self) -> None:
        """Pull this customer's Stripe state now; the page redraws when it lands."""
        if self._worker is None or self._customer is None:
            return
        self._pulling = True
        self.header.set_refreshing(True)
        self._worker.request_pull(self._customer, self._period)

    def _load(self, *, pull_after: bool) -> None:
        self._seq += 1
        seq, engine, customer, period, mode = (
            self._seq,
            self._engine,
            self._customer,
            self._period,
            self._mode,
        )
        assert customer is not None

        def shown(snapshot: adapters.CustomerSnapshot) -> None:
            if seq != self._seq:
                return  # the agent moved on
            self._show(snapshot)
            if pull_after:
                self.refresh_from_stripe()

        def failed(message: str) -> None:
            if seq == self._seq:
                self._say(message)

        self._runner.run(
            lambda: adapters.load_customer(engine, customer, period, mode),
            on_success=shown,
            on_failure=failed,
        )

    def _show(self, snapshot: adapters.CustomerSnapshot) -> None:
        self.snapshot = snapshot
        view = snapshot.view
        self._period = view.period
        self.header.show_view(view, snapshot.periods)
        self.header.set_refreshing(self._pulling)
        held = ["Finalization is on hold."] if snapshot.held else []
        lines = [*held, *(f"Waiting: {text}." for text in snapshot.waiting)]
        self.waiting.setText("\n".join(lines))
        self.waiting.setVisible(bool(lines))
        rows = [
            LineRow(
                row,
                view.currency,
                corrections="; ".join(
                    snapshot.corrections[line.id]
                    for line in row.lines
                    if line.id in snapshot.corrections
                ),
                sync_state=", ".join(
                    sorted(
                        {
                            _SYNC_WORDS.get(view.line_info[line.id].sync_state, "")
                            for line in row.lines
                            if line.id in view.line_info
                        }
                    )
                ),
            )
            for row in view.rows
        ]
        if view.invoice is not None:
            caption = f"Stripe invoice {view.invoice.id} ({view.invoice.status})"
        else:
            caption = "Stripe: pending invoice items (no invoice yet)"
        if self.header.is_stale():
            caption += " — stale"
        self.side_by_side.show_rows(rows, view.reconciliation, view.currency, caption)
        self.side_by_side.set_stale(self.header.is_stale())
        self._stack.setCurrentIndex(1)
        self.context_changed.emit()
        self.customer_loaded.emit(view.customer_id)

    # Stripe pulls (the worker's signals arrive on the UI thread)

    def _on_worker_customer_pulled(self, summary: PullSummary) -> None:
        if summary.customer_id != self._customer:
            return
        self._pulling = False
        self.header.set_refreshing(False)
        self.notice.hide()
        self.reload()

    def _on_worker_pull_failed(
        self, customer_id: str, _period: str, reason: str, transient: bool
    ) -> None:
        if customer_id != self._customer:
            return
        self._pulling = False
        self.header.set_refreshing(False)
        fetched = self.snapshot.view.fetched_at if self.snapshot is not None else None
        self._say(stale_notice(fetched, reason, will_retry=transient))
        self.side_by_side.set_stale(True)
        if transient:
            self._retry.start()

    def _say(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    # Interventions read these

    def invoice_context(self) -> InvoiceContext:
        snapshot = self.snapshot
        if snapshot is None:
            return InvoiceContext(InvoiceStatus.NONE)
        row = self.side_by_side.selected_row()
        line = self.selected_line()
        editable = line is not None and row is not None and not row.row.is_rollup
        return InvoiceContext(
            InvoiceStatus(snapshot.view.invoice_status),
            line_editable=editable and line is not None and not line.voided,
            held=snapshot.held,
            undoable=snapshot.undoable,
        )

    def selected_line(self) -> LocalLine | None:
        row = self.side_by_side.selected_row()
        if row is None or not row.row.lines or self.snapshot is None:
            return None
        line = row.row.lines[0]
        info = self.snapshot.view.line_info.get(line.id)
        return line if info is not None and info.kind == "usage" else None

    # Reactions

    def _on_header_period_chosen(self, period: str) -> None:
        if self._customer is not None and period != self._period:
            self.open_customer(self._customer, period)

    def _on_side_by_side_line_opened(self, line_id: int) -> None:
        dialog = DrilldownDialog(self._runner, self._engine, self._ui_state, line_id, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.drilldown = dialog
        dialog.destroyed.connect(self._on_drilldown_destroyed)
        dialog.show()

    def _on_drilldown_destroyed(self) -> None:
        self.drilldown = None

    def _on_bus_changed(self, change: Change) -> None:
        customer = self._customer
        if customer is None:
            return
        if any(change.touches(kind, customer) for kind in (LINES, STRIPE, CORRECTIONS)):
            self.reload()

    def _on_tick_timeout(self) -> None:
        self.header.tick()
        if self.snapshot is not None:
            self.side_by_side.set_stale(self.header.is_stale() or self.notice.isVisible())
