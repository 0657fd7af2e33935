"""Drill-down from one line to its increments: a chart of its usage per day over the period,
above a virtual table of every increment (pages read off the UI thread as they scroll in)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from billing_desk.ui import adapters
from billing_desk.ui import format as fmt
from billing_desk.ui.models.increments import Deliver, IncrementsModel
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.persist import UiState
from billing_desk.ui.views.usage_chart import UsageChart


class DrilldownDialog(QDialog):
    def __init__(
        self,
        runner: OperationRunner,
        engine: Engine,
        ui_state: UiState,
        line_id: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Line usage")
        self.setAccessibleName("Line drill-down")
        self._runner = runner
        self._engine = engine
        self._ui_state = ui_state
        self._key: adapters.LineKey | None = None

        self.heading = QLabel("Loading the line…")
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        self.heading.setAccessibleName("Line")
        self.chart = UsageChart()
        self.model = IncrementsModel(self)
        self.table = QTableView()
        self.table.setAccessibleName("Increments")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # constant-time scrolling
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        rows.hide()
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.resizeSection(0, 170)
        header.resizeSection(1, 120)
        header.resizeSection(2, 260)
        ui_state.restore_header("drilldown", header)
        self.status = QLabel()
        self.status.setAccessibleName("Drill-down status")

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.chart)
        split.addWidget(self.table)
        split.setStretchFactor(1, 3)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(820, 620)
        ui_state.restore_geometry("drilldown", self)
        buttons.button(QDialogButtonBox.StandardButton.Close).setShortcut(
            QKeySequence(QKeySequence.StandardKey.Close)
        )

        runner.run(
            lambda: adapters.line_key(engine, line_id),
            on_success=self._on_key_loaded,
            on_failure=self.status.setText,
        )

    @property
    def line_key(self) -> adapters.LineKey | None:
        return self._key

    def _on_key_loaded(self, key: adapters.LineKey) -> None:
        self._key = key
        self.setWindowTitle(f"{key.item} · {key.customer_id} · {key.period}")
        self.heading.setText(
            f"{key.description} ({key.item}) at {fmt.unit_price(key.unit_amount, key.currency)} "
            f"{key.currency.upper()} per unit — {key.increment_count:,} increments in {key.period}"
        )
        self.model.set_source(key.increment_count, self._request_page)
        engine = self._engine
        self._runner.run(
            lambda: adapters.usage_by_day(engine, key),
            on_success=self._on_usage_loaded,
            on_failure=self.status.setText,
        )

    def _request_page(self, offset: int, limit: int, deliver: Deliver) -> None:
        key, engine = self._key, self._engine
        assert key is not None

        def failed(message: str) -> None:
            deliver(None)
            self.status.setText(message)

        self._runner.run(
            lambda: adapters.increment_page(engine, key, offset, limit),
            on_success=deliver,
            on_failure=failed,
        )

    def _on_usage_loaded(self, points: Sequence[tuple[date, Decimal]]) -> None:
        self.chart.set_points(points, "units")
        self.status.setText(self.chart.summary())

    def done(self, result: int) -> None:
        self._ui_state.save_geometry("drilldown", self)
        self._ui_state.save_header("drilldown", self.table.horizontalHeader())
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.done(QDialog.DialogCode.Rejected)
        event.accept()
