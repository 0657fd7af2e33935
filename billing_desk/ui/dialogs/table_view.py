"""The read-only table the approvals, sync and audit views share: whole-row single selection,
sorted by the model itself (RowsTableModel.sort), one line per row (elided), the last column
stretched."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget


def read_only_table(
    model: QAbstractItemModel, name: str, parent: QWidget | None = None
) -> QTableView:
    table = QTableView(parent)
    table.setModel(model)
    table.setAccessibleName(name)
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideRight)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 10)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    # The last column (reason, error, blockers) takes what is left and elides: nothing scrolls.
    header.setSectionResizeMode(model.columnCount() - 1, QHeaderView.ResizeMode.Stretch)
    # Columns fit the rows on screen (not Qt's default of the first 1,000) once, when the first
    # rows arrive, and then keep their width. Measuring asks the model in Python for several
    # roles of every cell; with ResizeToContents every change measured again, and while the
    # sync worker holds the GIL each such call from Qt into Python waits for it: re-reading a
    # thousand drafts held the window up for a tenth of a second and more.
    header.setResizeContentsPrecision(0)
    _FitColumnsOnce(table)
    return table


class _FitColumnsOnce(QObject):
    def __init__(self, table: QTableView) -> None:
        super().__init__(table)
        self._table = table
        self._model = table.model()
        self._model.modelReset.connect(self._on_model_changed)
        self._model.rowsInserted.connect(self._on_model_changed)

    def _on_model_changed(self, *_args: object) -> None:
        if self._model.rowCount() == 0:
            return
        self._model.modelReset.disconnect(self._on_model_changed)
        self._model.rowsInserted.disconnect(self._on_model_changed)
        self._table.resizeColumnsToContents()
