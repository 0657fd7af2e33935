"""The centre of the customer page: local lines beside the Stripe invoice, aligned by line, a
status per row (colour, icon and words), and the totals local / Stripe / difference."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from billing_desk.domain.reconcile import Reconciliation, RowStatus
from billing_desk.ui import format as fmt
from billing_desk.ui.models import OBJECT_ROLE
from billing_desk.ui.models import side_by_side as m
from billing_desk.ui.persist import UiState
from billing_desk.ui.status_style import style_for
from billing_desk.ui.theme import accent

Index = QModelIndex | QPersistentModelIndex
HEADER_STATE = "side_by_side"
# Starting widths; the two description columns share what is left of the view.
_WIDTHS = {
    m.COL_ITEM: 115,
    m.COL_QUANTITY: 80,
    m.COL_UNIT_PRICE: 75,
    m.COL_AMOUNT: 85,
    m.COL_CORRECTIONS: 120,
    m.COL_SYNC: 65,
    m.COL_STATUS: 130,
    m.COL_STRIPE_AMOUNT: 95,
    m.COL_DIFFERENCE: 85,
}
_STRETCH = (m.COL_DESCRIPTION, m.COL_STRIPE_DESCRIPTION)


class SideBySideView(QWidget):
    line_opened = Signal(int)  # a line was activated: drill down to its increments
    selection_changed = Signal()

    def __init__(self, ui_state: UiState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ui_state = ui_state
        self.model = m.SideBySideModel(self)
        self.local_caption = QLabel("Local ledger")
        self.stripe_caption = QLabel("Stripe invoice")
        for caption in (self.local_caption, self.stripe_caption):
            font = QFont(caption.font())
            font.setBold(True)
            caption.setFont(font)
        self.stripe_caption.setAlignment(Qt.AlignmentFlag.AlignRight)
        captions = QHBoxLayout()
        captions.addWidget(self.local_caption)
        captions.addStretch(1)
        captions.addWidget(self.stripe_caption)

        self.table = QTableView()
        self.table.setAccessibleName("Local lines beside the Stripe invoice")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the aligned order by default
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in _WIDTHS.items():
            header.resizeSection(col, width)
        ui_state.restore_header(HEADER_STATE, header)
        for col in _STRETCH:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        header.sectionResized.connect(self._on_header_section_resized)
        # Double-click, or Enter on the selected row (Qt calls both "activated").
        self.table.activated.connect(self._on_table_activated)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)

        self.totals = QLabel()
        self.totals.setAccessibleName("Totals")
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.counts = QLabel()
        self.counts.setAccessibleName("Rows by status")
        self.counts.setTextFormat(Qt.TextFormat.RichText)
        bottom = QHBoxLayout()
        bottom.addWidget(self.counts, 1)
        bottom.addWidget(self.totals)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(captions)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

    def show_rows(
        self,
        rows: Sequence[m.LineRow],
        reconciliation: Reconciliation,
        currency: str,
        stripe_caption: str,
    ) -> None:
        selected = self.selected_row()
        keep = selected.line_ids if selected is not None else None
        self.model.set_rows(rows)
        self.stripe_caption.setText(stripe_caption)
        self._show_totals(reconciliation, currency)
        if keep:
            for r in range(self.model.rowCount()):
                row: m.LineRow = self.model.index(r, 0).data(OBJECT_ROLE)
                if row.line_ids == keep:
                    self.table.selectRow(r)
                    break

    def set_stale(self, stale: bool) -> None:
        self.model.set_stale(stale)

    def selected_row(self) -> m.LineRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        row: m.LineRow = rows[0].data(OBJECT_ROLE)
        return row

    def _show_totals(self, recon: Reconciliation, currency: str) -> None:
        difference = recon.difference
        colour = accent("differs").name() if difference else accent("ok").name()
        self.totals.setText(
            f"Local <b>{fmt.money(recon.local_total, currency)}</b> &nbsp; "
            f"Stripe <b>{fmt.money(recon.stripe_total, currency)}</b> &nbsp; "
            f"Difference <b style='color:{colour}'>{fmt.signed(difference, currency)}</b>"
        )
        counts = recon.counts()
        parts = []
        for status in RowStatus:
            if counts[status]:
                style = style_for(status)
                words = style.label[0].lower() + style.label[1:]
                parts.append(
                    f"<span style='color:{style.colour().name()}'>{counts[status]} {words}</span>"
                )
        self.counts.setText(" · ".join(parts) if parts else "No lines in this period.")

    def _on_table_activated(self, index: Index) -> None:
        row: m.LineRow = index.data(OBJECT_ROLE)
        if row.line_ids:
            self.line_opened.emit(row.line_ids[0])

    def _on_selection_changed(self, *_args: object) -> None:
        self.selection_changed.emit()

    def _on_header_section_resized(self, *_args: object) -> None:
        self._ui_state.save_header(HEADER_STATE, self.table.horizontalHeader())
