"""The audit view: the trail newest first, filtered by customer, person, kind and date, with
each row's before and after in full, CSV export and an integrity check.

Pages load off the UI thread as the agent scrolls. Export and verification go through the audit
service (`billing-desk audit export` / `audit verify`): the CSV's cells are made
formula-injection-safe there.

Keyboard: Ctrl+F customer filter · Ctrl+E export CSV · Ctrl+Shift+V verify the trail · Ctrl+R
read again (F5 stays the window's "refresh from Stripe") · Esc clear the filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from PySide6.QtCore import QDate, QItemSelection, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from billing_desk.domain.audit import ChainReport
from billing_desk.services import audit as audit_service
from billing_desk.store.audit_repo import AuditPage
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.audit_view_model import AuditModel, describe_row
from billing_desk.ui.audit_view_reads import FAMILIES, AuditFilter, read_page
from billing_desk.ui.bus import AUDIT, CORRECTIONS, SETTINGS, Change, ChangeBus
from billing_desk.ui.dialogs.lifetime import while_alive
from billing_desk.ui.dialogs.table_view import read_only_table
from billing_desk.ui.models import OBJECT_ROLE
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.refresh_while_shown import RefreshWhileShown
from billing_desk.ui.theme import accent

FILTER_DELAY_MS = 300
# A QDateEdit at its minimum shows "any": no bound on that side.
_NO_DATE = QDate(2000, 1, 1)


def local_day_start(day: QDate) -> datetime:
    """Midnight at the start of `day` on this desk's clock, in UTC."""
    local = datetime.combine(date(day.year(), day.month(), day.day()), time(0)).astimezone()
    return local.astimezone(UTC)


@dataclass(frozen=True)
class _Page:
    generation: int
    page: AuditPage
    first: bool


class AuditView(QWidget):
    """`AuditView(engine, actor, runner, bus)`; `show_customer(id)` filters on one customer."""

    # The latest page asked for is on screen (or failed); tests wait on it.
    page_loaded = Signal()
    exported = Signal(object)  # audit_service.ExportSummary
    verified = Signal(object)  # ChainReport

    def __init__(
        self,
        engine: Engine,
        actor: str,
        runner: OperationRunner,
        bus: ChangeBus,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._actor = actor
        self._runner = runner
        self._generation = 0
        self._refresher = RefreshWhileShown(self, self.reload)
        self.setAccessibleName("Audit trail")

        self._customer = QLineEdit()
        self._customer.setPlaceholderText("Customer id")
        self._customer.setAccessibleName("Filter by customer")
        self._customer.setClearButtonEnabled(True)
        self._person = QLineEdit()
        self._person.setPlaceholderText("Person (login)")
        self._person.setAccessibleName("Filter by person")
        self._person.setClearButtonEnabled(True)
        self._kind = QComboBox()
        self._kind.setAccessibleName("Filter by kind")
        self._kind.addItem("All kinds", "")
        for family, label in FAMILIES.items():
            self._kind.addItem(label, family)
        self._from = _date_edit("From (first day)")
        self._to = _date_edit("To (last day)")
        self._clear = QPushButton("Clear")
        self._clear.setAccessibleName("Clear the filters")
        self._clear.setToolTip("Show the whole trail (Esc)")
        filters = QHBoxLayout()
        for label, widget in (
            ("Customer", self._customer),
            ("Person", self._person),
            ("Kind", self._kind),
            ("From", self._from),
            ("To", self._to),
        ):
            caption = QLabel(label)
            caption.setBuddy(widget)
            filters.addWidget(caption)
            filters.addWidget(widget, 1 if isinstance(widget, QLineEdit) else 0)
        filters.addWidget(self._clear)

        self._model = AuditModel(self)
        self._table = read_only_table(self._model, "Audit rows, newest first")
        # The trail's own order (newest first) is the only one a page-by-page load can keep.
        self._table.setSortingEnabled(False)
        self._detail = QPlainTextEdit()
        self._detail.setReadOnly(True)
        self._detail.setAccessibleName("The selected row in full")
        self._detail.setPlaceholderText("Select a row to see what it recorded, in full.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._table)
        splitter.addWidget(self._detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self._status = QLabel()
        self._status.setWordWrap(True)
        self._status.setAccessibleName("Audit view message")
        self._status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._export = QPushButton("Export CSV…")
        self._export.setAccessibleName("Export the audit trail as CSV")
        self._export.setToolTip(
            "Writes the whole trail from the From day on (every person and kind), with cells "
            "a spreadsheet shows as text (Ctrl+E)"
        )
        self._verify = QPushButton("Verify trail")
        self._verify.setAccessibleName("Verify the audit trail's hash chain")
        self._verify.setToolTip("Check that no row was edited, deleted or reordered (Ctrl+Shift+V)")
        bottom = QHBoxLayout()
        bottom.addWidget(self._status, 1)
        bottom.addWidget(self._verify)
        bottom.addWidget(self._export)

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FILTER_DELAY_MS)
        self._timer.timeout.connect(self.reload)
        for edit in (self._customer, self._person):
            edit.textChanged.connect(self._on_filter_edited)
        self._kind.currentIndexChanged.connect(self._on_filter_edited)
        self._from.dateChanged.connect(self._on_filter_edited)
        self._to.dateChanged.connect(self._on_filter_edited)
        self._clear.clicked.connect(self.clear_filters)
        self._export.clicked.connect(self._on_export_clicked)
        self._verify.clicked.connect(self.verify)
        self._model.more_wanted.connect(self._on_model_more_wanted)
        self._table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        bus.changed.connect(self._on_bus_changed)
        for keys, slot in (
            ("Ctrl+F", self._customer.setFocus),
            ("Ctrl+E", self._on_export_clicked),
            ("Ctrl+Shift+V", self.verify),
            ("Ctrl+R", self.reload),
            ("Esc", self.clear_filters),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    # --- filters --------------------------------------------------------------------------

    def current_filter(self) -> AuditFilter:
        since = None if self._from.date() == _NO_DATE else local_day_start(self._from.date())
        until = None
        if self._to.date() != _NO_DATE:
            until = local_day_start(self._to.date()) + timedelta(days=1)
        return AuditFilter(
            customer=self._customer.text().strip(),
            actor=self._person.text().strip(),
            family=str(self._kind.currentData() or ""),
            since=since,
            until=until,
        )

    def show_customer(self, customer_id: str) -> None:
        """Filter on one customer (the customer view's "Audit…" link)."""
        self._customer.setText(customer_id)
        self.reload()

    def clear_filters(self) -> None:
        for widget in (self._customer, self._person, self._kind, self._from, self._to):
            widget.blockSignals(True)
        self._customer.clear()
        self._person.clear()
        self._kind.setCurrentIndex(0)
        self._from.setDate(_NO_DATE)
        self._to.setDate(_NO_DATE)
        for widget in (self._customer, self._person, self._kind, self._from, self._to):
            widget.blockSignals(False)
        self.reload()

    def _on_filter_edited(self, *_args: object) -> None:
        self._timer.start()

    # --- loading --------------------------------------------------------------------------

    def reload(self) -> None:
        """The first page under the current filters; older pages follow as the agent scrolls."""
        self._timer.stop()
        self._generation += 1
        self._load(self._generation, self.current_filter(), None)

    def showEvent(self, event: QShowEvent) -> None:
        self._refresher.shown()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._refresher.hidden()
        super().hideEvent(event)

    def _load(self, generation: int, flt: AuditFilter, before_seq: int | None) -> None:
        engine = self._engine
        self._status.setStyleSheet("")
        self._status.setText("Reading the trail…")
        self._runner.run(
            lambda: _Page(
                generation, read_page(engine, flt, before_seq=before_seq), before_seq is None
            ),
            on_success=while_alive(self, self._on_page_read),
            on_failure=while_alive(self, self._on_page_failed),
        )

    def _on_model_more_wanted(self) -> None:
        self._load(self._generation, self.current_filter(), self._model.last_seq())

    def _on_page_read(self, result: _Page) -> None:
        if result.generation != self._generation:
            return  # the filters changed meanwhile: a newer read is on its way
        page = result.page
        more = page.next_before_seq is not None
        if result.first:
            self._model.set_rows(page.rows, more)
            self._detail.clear()
        else:
            self._model.append_rows(page.rows, more)
        count = self._model.rowCount()
        if count == 0:
            text = "No audit rows match these filters."
        else:
            text = f"{count:,} rows" + (", more below (scroll to load)" if more else "")
        self._status.setText(text)
        self.page_loaded.emit()

    def _on_page_failed(self, message: str) -> None:
        self._model.fetch_failed()
        self._status.setStyleSheet(f"color: {accent('danger').name()}")
        self._status.setText(message)
        self.page_loaded.emit()

    def _on_bus_changed(self, change: Change) -> None:
        if any(change.touches(k) for k in (AUDIT, CORRECTIONS, SETTINGS)):
            self._refresher.changed()

    def _on_table_selection_changed(self, _new: QItemSelection, _old: QItemSelection) -> None:
        rows = self._table.selectionModel().selectedRows()
        row = rows[0].data(OBJECT_ROLE) if rows else None
        self._detail.setPlainText("" if row is None else describe_row(row))

    # --- export and verify ----------------------------------------------------------------

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the audit trail", "audit-trail.csv", "CSV files (*.csv)"
        )
        if path:
            self.export_to(Path(path))

    def export_to(self, out: Path) -> None:
        """Write the trail (from the From day) to `out` through the audit service."""
        engine, since = self._engine, self.current_filter().since
        self._status.setStyleSheet("")
        self._status.setText(f"Exporting to {out}…")

        def work() -> audit_service.ExportSummary:
            with UnitOfWork(engine) as uow:
                return audit_service.export_csv(uow, out, since)

        self._runner.run(
            work,
            on_success=while_alive(self, self._on_exported),
            on_failure=while_alive(self, self._on_action_failed),
        )

    def _on_exported(self, summary: audit_service.ExportSummary) -> None:
        self._status.setText(f"Exported {summary.rows:,} rows to {summary.out}.")
        self.exported.emit(summary)

    def verify(self) -> None:
        engine = self._engine
        self._status.setStyleSheet("")
        self._status.setText("Verifying the hash chain…")

        def work() -> ChainReport:
            with UnitOfWork(engine) as uow:
                return audit_service.verify(uow)

        self._runner.run(
            work,
            on_success=while_alive(self, self._on_verified),
            on_failure=while_alive(self, self._on_action_failed),
        )

    def _on_verified(self, report: ChainReport) -> None:
        if report.ok:
            self._status.setStyleSheet(f"color: {accent('ok').name()}")
            self._status.setText(
                f"The trail is intact: {report.rows:,} rows, head {report.head_hash[:16]}…"
            )
        else:
            self._status.setStyleSheet(f"color: {accent('danger').name()}")
            first = report.problems[0]
            more = len(report.problems) - 1
            self._status.setText(
                f"The trail was tampered with: {first}"
                + (f" (and {more} more problems)" if more else "")
                + ". Keep this store as it is and tell an admin."
            )
        self.verified.emit(report)

    def _on_action_failed(self, message: str) -> None:
        self._status.setStyleSheet(f"color: {accent('danger').name()}")
        self._status.setText(message)


def _date_edit(name: str) -> QDateEdit:
    edit = QDateEdit()
    edit.setAccessibleName(name)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(_NO_DATE)
    edit.setSpecialValueText("any")
    edit.setDate(_NO_DATE)
    return edit
