"""The customer search: a field always one keystroke away (Ctrl+K) and results as the agent
types, each with its badges (drift, pending approvals, hold, sync error, amount due).

Typing never waits on the store: each query runs on a search thread of its own; while one runs,
newer text waits and only the latest is searched next, so results follow the keystrokes with
at most one query in flight. Badges are a second, slower read that fills in a moment later.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from billing_desk.services.search import CustomerHit, search_customers
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui.adapters import Badges, CustomerRef, attention_customers, customer_badges
from billing_desk.ui.bus import CORRECTIONS, LINES, STRIPE, SYNC, Change, ChangeBus
from billing_desk.ui.models import OBJECT_ROLE
from billing_desk.ui.models.search_results import SearchResult, SearchResultsModel
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.theme import accent, is_dark

Index = QModelIndex | QPersistentModelIndex
DEBOUNCE_MS = 5  # coalesces a burst of keys in one event batch; in-flight coalescing does the rest
LIMIT = 25


class ResultDelegate(QStyledItemDelegate):
    """Two lines per customer: the name, then its ids and email; badges as pills on the right."""

    PAD = 6

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        height = QFontMetrics(option.font).height()
        return QSize(280, 2 * height + 3 * self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        result: SearchResult | None = index.data(OBJECT_ROLE)
        if result is None:
            return
        painter.save()
        try:
            self._paint(painter, option, result)
        finally:
            painter.restore()

    def _paint(self, painter: QPainter, option: QStyleOptionViewItem, result: SearchResult) -> None:
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = text if selected else palette.color(QPalette.ColorRole.PlaceholderText)
        rect = option.rect.adjusted(self.PAD + 2, self.PAD, -self.PAD, -self.PAD)
        metrics = QFontMetrics(option.font)
        line = metrics.height()

        # Badges first, from the right, so the text is elided to the room they leave.
        small = QFont(option.font)
        small.setPointSizeF(option.font.pointSizeF() * 0.85)
        small_metrics = QFontMetrics(small)
        right = rect.right()
        painter.setFont(small)
        for badge in reversed(result.badge_list):
            width = small_metrics.horizontalAdvance(badge.text) + 12
            pill = QRect(right - width, rect.top() + 1, width, small_metrics.height() + 4)
            colour = accent(badge.accent)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
            # The dark palette's accents are light: dark lettering keeps the contrast.
            painter.setPen(QColor("#16181c") if is_dark() else QColor("#ffffff"))
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, badge.text)
            right -= width + 4
        hit = result.hit
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(text)
        name_rect = QRect(rect.left(), rect.top(), max(0, right - rect.left() - 4), line)
        painter.drawText(
            name_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetrics(bold).elidedText(
                hit.name or hit.id, Qt.TextElideMode.ElideRight, name_rect.width()
            ),
        )
        painter.setFont(option.font)
        painter.setPen(muted)
        details = " · ".join(p for p in (hit.id, hit.email, hit.stripe_customer_id) if p)
        detail_rect = QRect(rect.left(), rect.top() + line + self.PAD, rect.width(), line)
        painter.drawText(
            detail_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(details, Qt.TextElideMode.ElideMiddle, detail_rect.width()),
        )


class _SearchField(QLineEdit):
    """Down moves into the results, Return opens the first, Escape clears."""

    down_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Down:
            self.down_pressed.emit()
            return
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)


class SearchPanel(QWidget):
    customer_chosen = Signal(str)
    # Results of `query` are on screen (count); the benchmarks time keystroke to this.
    results_shown = Signal(str, int)

    def __init__(
        self,
        engine: Engine,
        runner: OperationRunner,
        search_runner: OperationRunner,
        bus: ChangeBus,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._runner = runner
        self._search_runner = search_runner
        self._in_flight = False
        self._wanted: str | None = None
        self._shown: str | None = None
        self.last_latency_s: float | None = None
        self._typed_at = 0.0

        self.field = _SearchField()
        self.field.setPlaceholderText("Search customers: name, email, id or Stripe id  (Ctrl+K)")
        self.field.setAccessibleName("Search customers")
        self.field.setClearButtonEnabled(True)
        self.model = SearchResultsModel(self)
        self.results = QListView()
        self.results.setAccessibleName("Search results")
        self.results.setModel(self.model)
        self.results.setItemDelegate(ResultDelegate(self.results))
        self.results.setUniformItemSizes(True)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.heading = QLabel()
        self.heading.setAccessibleName("Results heading")
        self.status = QLabel("Type to search.")
        self.status.setAccessibleName("Search status")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.field)
        layout.addWidget(self.heading)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_debounce_timeout)
        self.field.textEdited.connect(self._on_field_text_edited)
        self.field.textChanged.connect(self._on_field_text_changed)
        self.field.returnPressed.connect(self._on_field_return_pressed)
        self.field.down_pressed.connect(self._on_field_down_pressed)
        self.results.activated.connect(self._on_results_activated)
        self.results.clicked.connect(self._on_results_activated)
        bus.changed.connect(self._on_bus_changed)
        self.show_attention()

    def show_attention(self) -> None:
        """With nothing typed, the list holds the customers that need someone first."""
        engine = self._engine

        def shown(customers: list[CustomerRef]) -> None:
            if self.field.text().strip():
                return  # the agent started typing meanwhile
            self._shown = None
            self.model.set_rows(customers)
            self.heading.setText("<b>Needs attention</b>" if customers else "")
            self.status.setText(
                f"{len(customers)} customer{'s' if len(customers) != 1 else ''} to look at; "
                "type to search."
                if customers
                else "Type to search."
            )
            self._load_badges()

        self._runner.run(lambda: attention_customers(engine), on_success=shown)

    def focus_search(self) -> None:
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def search(self, text: str) -> None:
        """Search for `text` now (as if typed)."""
        self.field.setText(text)
        self._typed_at = time.perf_counter()
        self._debounce.start()

    # Typing

    def _on_field_text_edited(self, _text: str) -> None:
        self._typed_at = time.perf_counter()
        self._debounce.start()

    def _on_field_text_changed(self, text: str) -> None:
        if not text.strip():
            self._debounce.stop()
            self._wanted = None
            self._shown = None
            self.model.set_rows([])
            self.heading.clear()
            self.status.setText("Type to search.")
            self.show_attention()

    def _on_debounce_timeout(self) -> None:
        text = self.field.text().strip()
        if not text:
            return
        self._wanted = text
        if not self._in_flight:
            self._run_search()

    def _run_search(self) -> None:
        text = self._wanted
        if text is None:
            return
        self._wanted = None
        self._in_flight = True
        engine = self._engine

        def work() -> list[CustomerHit]:
            with UnitOfWork(engine) as uow:
                return search_customers(uow, text, LIMIT)

        self._search_runner.run(
            work,
            on_success=lambda hits: self._on_hits(text, hits),
            on_failure=lambda message: self._on_search_failed(text, message),
        )

    def _on_hits(self, text: str, hits: list[CustomerHit]) -> None:
        self._in_flight = False
        if self._wanted is not None:  # the agent typed on: this answer is already old
            self._run_search()
            return
        if text != self.field.text().strip():
            return
        self._show(text, hits)

    def _show(self, text: str, hits: list[CustomerHit]) -> None:
        self.model.set_rows(hits)
        self.heading.clear()
        self._shown = text
        if hits:
            self.results.setCurrentIndex(self.model.index(0, 0))
            self.status.setText(f"{len(hits)} customer{'s' if len(hits) != 1 else ''}")
        else:
            self.status.setText(f"No customer matches “{text}”.")
        self.last_latency_s = time.perf_counter() - self._typed_at
        self.results_shown.emit(text, len(hits))
        self._load_badges()

    def _on_search_failed(self, text: str, message: str) -> None:
        self._in_flight = False
        if self._wanted is not None:
            self._run_search()
            return
        self.status.setText(message)

    def _load_badges(self) -> None:
        ids = self.model.customer_ids()
        if not ids:
            return
        engine = self._engine

        def apply(badges: dict[str, Badges]) -> None:
            if set(ids) == set(self.model.customer_ids()):
                self.model.set_badges(badges)

        self._runner.run(lambda: customer_badges(engine, ids), on_success=apply)

    def _on_bus_changed(self, change: Change) -> None:
        if not self.field.text().strip() and any(change.touches(k) for k in (CORRECTIONS, SYNC)):
            self.show_attention()
            return
        shown = set(self.model.customer_ids())
        touched = any(change.touches(k) for k in (LINES, STRIPE, CORRECTIONS, SYNC))
        if touched and shown and (not change.customers or shown & change.customers):
            self._load_badges()

    # Choosing

    def _on_field_return_pressed(self) -> None:
        index = self.results.currentIndex()
        if not index.isValid() and self.model.rowCount():
            index = self.model.index(0, 0)
        if index.isValid():
            self._on_results_activated(index)

    def _on_field_down_pressed(self) -> None:
        if self.model.rowCount():
            self.results.setFocus(Qt.FocusReason.OtherFocusReason)
            if not self.results.currentIndex().isValid():
                self.results.setCurrentIndex(self.model.index(0, 0))

    def _on_results_activated(self, index: Index) -> None:
        result: SearchResult = index.data(OBJECT_ROLE)
        self.customer_chosen.emit(result.hit.id)
